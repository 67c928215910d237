package web_test

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

var (
	screenshotPath = flag.String("screenshot", "", "write a PNG of a conversation to this `file` (relative to web/, e.g. ../docs/screenshot.png); without it TestScreenshot is skipped")
	screenshotSize = flag.String("screenshot-size", "desktop", "viewport of the screenshot: desktop (1280x800) or phone (390x844)")
	screenshotDark = flag.Bool("screenshot-dark", false, "take the screenshot with prefers-color-scheme: dark")
)

// TestScreenshot records a short conversation between three people and
// saves ana's view, with a draft of hers and carol typing. Run it by hand:
//
//	go test ./web -run Screenshot -args -screenshot ../docs/screenshot.png
//	go test ./web -run Screenshot -args -screenshot ../docs/screenshot-phone.png -screenshot-size phone
func TestScreenshot(t *testing.T) {
	if *screenshotPath == "" {
		t.Skip("no -screenshot file given")
	}
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	url := "http://" + srv.Addr + "/?room=release"

	width, height, mobile := int64(1280), int64(800), false
	if *screenshotSize == "phone" {
		width, height, mobile = 390, 844, true
	}
	scheme := "light"
	if *screenshotDark {
		scheme = "dark"
	}
	ana := openPage(t, browser, "ana", url)
	viewport := []chromedp.EmulateViewportOption{}
	if mobile {
		viewport = append(viewport, chromedp.EmulateMobile)
	}
	ana.do("set the viewport",
		chromedp.EmulateViewport(width, height, viewport...),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}),
	)
	bob := openPage(t, browser, "bob", url)
	bob.join("bob")
	carol := openPage(t, browser, "carol", url)
	carol.join("carol")
	bob.send("Morning! Is the release still on for 15:00?")
	bob.send("Notes are in https://example.com/release/1.4")
	ana.join("ana") // shows the messages sent before she joined
	ana.waitMessage("bob", "Notes are in https://example.com/release/1.4")
	ana.do("type two lines",
		chromedp.SendKeys("#messageInput", "Yes. The migration finished overnight."),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys("#messageInput", "The canary looks healthy.\r"),
	)
	ana.waitMessage("ana", "Yes. The migration finished overnight.\nThe canary looks healthy.")
	carol.send("I'll keep an eye on the dashboards. Ping me if the p99 moves.")
	bob.send("Great, thanks both.")
	ana.waitMessage("bob", "Great, thanks both.")
	ana.do("type a draft", chromedp.SendKeys("#messageInput", "Tagging v1.4 now"))
	ana.waitMembers(3, "ana", "bob", "carol")
	carol.do("start typing", chromedp.SendKeys("#messageInput", "Also"))
	ana.waitJS(`!document.getElementById("typing").hidden`, "carol's typing indicator")

	png, err := chromedp.Run(ana.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(*screenshotPath, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", *screenshotPath, len(png))
}
