package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// On a phone, once connected, the conversation takes most of the screen:
// the join form and the online list fold away behind header toggles.
func TestPhoneLayout(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	p := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=phone")
	p.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.waitJS(`innerWidth === 390 && innerHeight === 844`, "the phone viewport")
	if v := eval[bool](p, `getComputedStyle(document.getElementById("join-form")).display !== "none"`); !v {
		t.Fatalf("the join form is folded before connecting")
	}
	p.join("ana")
	bob := openPage(t, browser, "bob", "http://"+srv.Addr+"/?room=phone")
	bob.join("bob")
	bob.send("hello from a desk")
	p.waitMessage("bob", "hello from a desk")

	type box struct {
		FormShown, OnlineShown, TogglesShown   bool
		Conversation, Viewport, ComposerBottom float64
	}
	measure := func() box {
		return eval[box](p, `({
			formShown: getComputedStyle(document.getElementById("join-form")).display !== "none",
			onlineShown: getComputedStyle(document.getElementById("online")).display !== "none",
			togglesShown: getComputedStyle(document.querySelector(".phone-toggles")).display !== "none",
			conversation: document.querySelector(".conversation").getBoundingClientRect().height,
			viewport: innerHeight,
			composerBottom: document.getElementById("send-form").getBoundingClientRect().bottom,
		})`)
	}
	b := measure()
	if b.FormShown || b.OnlineShown || !b.TogglesShown {
		t.Errorf("connected on a phone: join form shown %v, online list shown %v, toggles shown %v; want only the toggles", b.FormShown, b.OnlineShown, b.TogglesShown)
	}
	if b.Conversation < 0.8*b.Viewport {
		t.Errorf("the conversation is %.0f px of a %.0f px screen, want at least 80%%", b.Conversation, b.Viewport)
	}
	if b.ComposerBottom > b.Viewport {
		t.Errorf("the composer ends at %.0f px, below the %.0f px screen", b.ComposerBottom, b.Viewport)
	}
	if v := eval[bool](p, `document.documentElement.scrollWidth <= document.documentElement.clientWidth`); !v {
		t.Errorf("the phone layout scrolls sideways")
	}

	// The member list opens from the header, and Escape folds it again.
	p.do("open the member list", chromedp.Click("#members-toggle"))
	p.waitJS(`document.getElementById("members-toggle").getAttribute("aria-expanded") === "true" &&
		getComputedStyle(document.getElementById("online")).display !== "none" &&
		document.getElementById("members-toggle").textContent.includes("(2)")`, "the member list open")
	p.waitMembers(2, "ana", "bob")
	p.do("Escape", chromedp.KeyEvent("\u001b"))
	p.waitJS(`document.getElementById("members-toggle").getAttribute("aria-expanded") === "false" &&
		getComputedStyle(document.getElementById("online")).display === "none" &&
		document.activeElement === document.getElementById("members-toggle")`, "the member list folded, focus on its toggle")

	// The room form opens too, to switch rooms or leave.
	p.do("open the room form", chromedp.Click("#room-toggle"))
	p.waitJS(`getComputedStyle(document.getElementById("join-form")).display !== "none" &&
		document.activeElement === document.getElementById("room")`, "the room form open, focus in it")
	p.do("leave", chromedp.Click("#leave-btn"))
	p.waitJS(`document.getElementById("status").dataset.state === "disconnected" &&
		getComputedStyle(document.getElementById("join-form")).display !== "none" &&
		getComputedStyle(document.querySelector(".phone-toggles")).display === "none"`, "the full form back after leaving")
}

// A second tab of the same browser does not silently reuse the name of
// the first: it suggests another and says why.
func TestTwoTabsGetDifferentNames(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	url := "http://" + srv.Addr + "/?room=tabs"
	first := openPage(t, browser, "first tab", url)
	first.join("ana")

	second := openTab(t, first, "second tab", url)
	name := eval[string](second, `document.getElementById("username").value`)
	if name != "ana-2" {
		t.Errorf("the second tab suggests %q, want ana-2", name)
	}
	if hint := eval[string](second, `document.getElementById("name-hint").textContent`); !strings.Contains(hint, "in use in another tab") {
		t.Errorf("the second tab's hint is %q, want it to say the name is in use", hint)
	}
	second.do("connect with the suggestion", chromedp.Click("#connect-btn"))
	second.waitConnected()
	first.waitMembers(2, "ana", "ana-2")
	first.send("from the first tab")
	if m := second.waitMessage("ana", "from the first tab"); m.Own {
		t.Errorf("the second tab shows the first tab's message as its own")
	}

	// A reload keeps a tab's own name.
	second.navigate(url)
	if name := eval[string](second, `document.getElementById("username").value`); name != "ana-2" {
		t.Errorf("after a reload the second tab suggests %q, want its own ana-2", name)
	}
}
