package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axePath finds axe-core's axe.min.js: AXE_JS, or what .ci/web-deps
// installs under CHAT_WEB_DEPS (default: the user cache directory's
// chat-web-deps). Without it the audit is skipped, or fails when CI is set.
func axePath(t *testing.T) string {
	t.Helper()
	path, ok := axeIfInstalled(t)
	if !ok {
		t.Skip("skipping the accessibility audit: axe-core is not installed (bash .ci/web-deps installs it)")
	}
	return path
}

// axeIfInstalled is axePath for a test that audits on the way: without
// axe-core it reports false (and fails when CI is set) instead of skipping.
func axeIfInstalled(t *testing.T) (string, bool) {
	t.Helper()
	path := os.Getenv("AXE_JS")
	if path == "" {
		dir := os.Getenv("CHAT_WEB_DEPS")
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err == nil {
				dir = filepath.Join(cache, "chat-web-deps")
			}
		}
		path = filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the accessibility audit needs axe-core (CI is set): %v; run bash .ci/web-deps", err)
		}
		t.Logf("no accessibility audit: %v (bash .ci/web-deps installs axe-core)", err)
		return "", false
	}
	return path, true
}

// auditIfInstalled runs axe-core over p's page in its current state, the
// state being what, when axe-core is installed (see axeIfInstalled).
func auditIfInstalled(t *testing.T, p *page, what string) {
	t.Helper()
	path, ok := axeIfInstalled(t)
	if !ok {
		return
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p.audit(string(src), what)
}

// axeViolation is one rule that failed, with the elements that fail it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// audit runs axe-core in the tab and reports every violation; serious and
// critical ones fail the test, the others too (none is expected).
func (p *page) audit(src, what string) {
	p.t.Helper()
	eval[bool](p, src+"\n;true") // evaluated by DevTools, so the page's CSP does not apply
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
			nodes: v.nodes.map(n => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " "))})))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: run axe: %v", p.name, err)
	}
	for _, x := range v {
		p.t.Errorf("%s, %s: axe %s (%s): %s\n  %s", p.name, what, x.ID, x.Impact, x.Help, strings.Join(x.Nodes, "\n  "))
	}
}

func setColorScheme(p *page, scheme string) {
	p.t.Helper()
	p.do("prefers-color-scheme: "+scheme, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// TestAccessibilityAudit runs axe-core over the page before joining and in
// a conversation with everything the log can show, on a desktop and a
// phone, in light and dark schemes.
func TestAccessibilityAudit(t *testing.T) {
	src, err := os.ReadFile(axePath(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	url := "http://" + srv.Addr + "/?room=audit"
	bob := dialRaw(t, srv.Addr, "audit", "bob")
	var filler []string
	for i := range 25 {
		filler = append(filler, "earlier message "+string(rune('a'+i)))
	}
	bob.say(filler...)

	ana := openPage(t, browser, "ana", url)
	for _, scheme := range []string{"light", "dark"} {
		setColorScheme(ana, scheme)
		ana.audit(string(src), "before joining, "+scheme)
	}
	ana.join("ana")
	ana.waitMessage("bob", "earlier message y")
	bob.say("see https://example.com/docs and\ntwo lines", "same group")
	ana.send("mine, with http://example.org")
	ana.waitMessage("ana", "mine, with http://example.org")
	ana.setValue("messageInput", "a draft")
	eval[bool](ana, `(m => { m.scrollTop = 0; m.dispatchEvent(new Event("scroll")); return true })(document.getElementById("messages"))`)
	bob.say("while scrolled up")
	ana.waitJS(`!document.getElementById("new-msgs").hidden`, "the new-messages button")
	for _, scheme := range []string{"light", "dark"} {
		setColorScheme(ana, scheme)
		ana.audit(string(src), "desktop conversation, "+scheme)
	}

	ana.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	ana.waitJS(`innerWidth === 390`, "the phone viewport")
	for _, scheme := range []string{"light", "dark"} {
		setColorScheme(ana, scheme)
		ana.audit(string(src), "phone conversation, "+scheme)
	}
	ana.do("open the member list", chromedp.Click("#members-toggle"))
	ana.audit(string(src), "phone with the member list open, dark")
}
