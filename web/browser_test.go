package web_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/testkit"

	"github.com/chromedp/chromedp"
)

// waitTimeout bounds every wait for page state. Reconnect waits include a
// backoff delay of a few seconds, so this is generous.
const waitTimeout = 20 * time.Second

// pollInterval is how often waitJS re-evaluates its condition.
const pollInterval = 50 * time.Millisecond

// newBrowser starts a headless Chromium with a fresh profile and returns a
// context for it; see testkit.Chromium.
func newBrowser(t *testing.T) context.Context { return testkit.Chromium(t) }

// page is one browser tab with its own browser context (own storage), as a
// separate user would have.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu       sync.Mutex
	problems []string // uncaught exceptions and console errors other than network ones
}

// openPage opens url in a new tab of browser and waits until the chat
// script has run.
func openPage(t *testing.T, browser context.Context, name, url string) *page {
	t.Helper()
	return openPageIn(t, browser, name, url, chromedp.WithNewBrowserContext())
}

// openTab opens url in another tab of sibling's browser context, sharing
// its storage as a second tab of one person's browser does.
func openTab(t *testing.T, sibling *page, name, url string) *page {
	t.Helper()
	return openPageIn(t, sibling.ctx, name, url)
}

func openPageIn(t *testing.T, parent context.Context, name, url string, opts ...chromedp.ContextOption) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	p := &page{t: t, name: name, ctx: ctx}
	console := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source != "network") {
				p.mu.Lock()
				p.problems = append(p.problems, m.String())
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		for _, s := range p.problems {
			t.Errorf("%s: browser console: %s", name, s)
		}
		p.mu.Unlock()
		cancel()
		<-done
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("%s: navigate to %s: %v", name, url, err)
	}
	// Module scripts run before the document finishes loading.
	p.waitJS(`document.readyState === "complete" && document.getElementById("connect-btn").textContent === "Connect"`, "the chat script to start")
	return p
}

// do runs actions in the tab, failing the test on error.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the tab and decodes its value.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

// waitJS polls the boolean JavaScript expression cond until it is true,
// failing the test with a description of the page after waitTimeout.
func (p *page) waitJS(cond, what string) {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: timed out after %v waiting for %s (last error: %v)\n%s", p.name, waitTimeout, what, err, p.describe())
		}
		time.Sleep(pollInterval)
	}
}

// describe summarises the page state for failure messages.
func (p *page) describe() string {
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`[
		"status: " + document.getElementById("status").dataset.state + " / " + document.getElementById("status-text").textContent,
		"members: " + document.getElementById("members").textContent + " " + document.getElementById("members-more").textContent,
		"log:", ...[...document.querySelectorAll("#messages > *")].map(n => "  " + n.className + ": " + n.textContent),
	].join("\n")`))
	if err != nil {
		return fmt.Sprintf("(page state unavailable: %v)", err)
	}
	return s
}

// join types the username and presses Connect; the room comes from the URL.
func (p *page) join(user string) {
	p.t.Helper()
	p.setValue("username", "")
	p.do("join as "+user,
		chromedp.SendKeys("#username", user),
		chromedp.Click("#connect-btn"),
	)
	p.waitConnected()
}

// waitConnected waits until the page is connected and its welcome arrived
// (the online list is filled from it).
func (p *page) waitConnected() {
	p.t.Helper()
	p.waitJS(`document.getElementById("status").dataset.state === "connected" &&
		!document.getElementById("messageInput").disabled &&
		document.querySelectorAll("#members li").length > 0`, "the connected state")
}

// send types text into the message field and presses Enter.
func (p *page) send(text string) {
	p.t.Helper()
	p.do("send "+text, chromedp.SendKeys("#messageInput", text+"\r"))
}

// msgRow is a rendered chat message.
type msgRow struct {
	Sender   string `json:"sender"`
	Text     string `json:"text"`
	Time     string `json:"time"`
	DateTime string `json:"datetime"`
	Own      bool   `json:"own"`
	Seq      string `json:"seq"`
}

const msgRowsJS = `[...document.querySelectorAll("#messages .msg")].map(r => ({
	sender: r.querySelector(".sender").textContent,
	text: r.querySelector(".text").textContent,
	time: r.querySelector("time").textContent,
	datetime: r.querySelector("time").dateTime,
	own: r.classList.contains("own"),
	seq: r.dataset.seq || "",
}))`

// messages returns the chat messages the page shows, oldest first.
func (p *page) messages() []msgRow {
	p.t.Helper()
	return eval[[]msgRow](p, msgRowsJS)
}

// waitMessage waits until a message from sender with text is shown and
// returns it.
func (p *page) waitMessage(sender, text string) msgRow {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`%s.some(m => m.sender === %s && m.text === %s)`, msgRowsJS, jsString(sender), jsString(text)),
		fmt.Sprintf("message %q from %q", text, sender))
	for _, m := range p.messages() {
		if m.Sender == sender && m.Text == text {
			return m
		}
	}
	p.t.Fatalf("%s: message %q from %q vanished", p.name, text, sender)
	return msgRow{}
}

// waitNotice waits until a notice of kind (join, leave, gap, error, local)
// containing text is shown.
func (p *page) waitNotice(kind, text string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`[...document.querySelectorAll("#messages .notice-%s")].some(n => n.textContent.includes(%s))`, kind, jsString(text)),
		fmt.Sprintf("%s notice %q", kind, text))
}

// waitMembers waits until the online list shows exactly names (sorted as
// the page sorts them) and the member count n.
func (p *page) waitMembers(n int, names ...string) {
	p.t.Helper()
	want := jsString(strings.Join(names, "\n"))
	p.waitJS(fmt.Sprintf(`[...document.querySelectorAll("#members .member-name")].map(e => e.textContent).join("\n") === %s &&
		document.getElementById("member-count").textContent === "(%d)"`, want, n),
		fmt.Sprintf("online list %q with count %d", names, n))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029 || r == '<' || r == '>':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// setValue sets the value of the input with the given id, as pasting would,
// and fires its input event.
func (p *page) setValue(id, value string) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => {
		const e = document.getElementById(%s);
		e.value = %s;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		return true;
	})()`, jsString(id), jsString(value)))
}
