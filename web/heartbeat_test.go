package web_test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/servertest"

	"github.com/chromedp/chromedp"
)

// frozenWait bounds the wait for the page to notice a frozen server: its
// watchdog gives up after two ping periods (20 s) at most a ping period
// late, and the reconnect after the server resumes waits for a backoff
// and an abandoned upgrade. It is a hang detector, not a threshold.
const frozenWait = 90 * time.Second

// waitJSWithin is waitJS with its own bound.
func (p *page) waitJSWithin(d time.Duration, cond, what string) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: timed out after %v waiting for %s (last error: %v)\n%s", p.name, d, what, err, p.describe())
		}
		time.Sleep(pollInterval)
	}
}

const pendingRowsJS = `[...document.querySelectorAll("#messages > .pending-msg")].map(r => r.querySelector(".text").textContent + "|" + r.querySelector(".pending-state").textContent)`

// TestPendingThroughFrozenServer freezes a real server process with
// SIGSTOP: the page notices that it does not answer, a message typed
// meanwhile shows as pending, and once the server is resumed with SIGCONT
// the page reconnects, the message is delivered once and confirmed.
func TestPendingThroughFrozenServer(t *testing.T) {
	proc, addr := servertest.Process(t, servertest.Build(t))
	browser := newBrowser(t)
	// An observer keeps the room, and its history, while the page is away.
	obs := dialRaw(t, addr, "frozen", "obs")
	ana := openPage(t, browser, "ana", "http://"+addr+"/?room=frozen")
	ana.join("ana")
	ana.send("before")
	ana.waitMessage("ana", "before")
	if n := eval[int](ana, `document.querySelectorAll("#messages > .pending-msg").length`); n != 0 {
		t.Fatalf("%d pending rows left after the echo", n)
	}

	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ana.send("while frozen")
	ana.waitJS(`JSON.stringify(`+pendingRowsJS+`) === JSON.stringify(["while frozen|Sending…"])`, "the message pending")
	auditIfInstalled(t, ana, "a message sending")
	ana.waitJSWithin(frozenWait, `document.getElementById("status-text").textContent.includes("server not responding") &&
		[...document.querySelectorAll("#messages .notice-local")].some(n => n.textContent.includes("not responding"))`,
		"the page to notice the frozen server")
	if n := len(ana.messages()); n != 1 {
		t.Fatalf("%d messages shown while frozen, want only the first", n)
	}

	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	ana.waitJSWithin(frozenWait, `document.getElementById("status").dataset.state === "connected" &&
		document.querySelectorAll("#messages > .pending-msg").length === 0`, "the reconnect and the confirmation")
	got := ana.waitMessage("ana", "while frozen")
	if got.Seq == "" {
		t.Fatalf("the confirmed message has no seq: %+v", got)
	}
	ana.send("after")
	ana.waitMessage("ana", "after")
	var texts []string
	for _, m := range ana.messages() {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, "|") != "before|while frozen|after" {
		t.Fatalf("the page shows %q, want each message once", texts)
	}
	// The observer got it once too.
	var seen []string
	obs.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, data, err := obs.c.ReadMessage()
		if err != nil {
			t.Fatalf("observer: %v (saw %q)", err, seen)
		}
		var ev struct{ Type, Message string }
		if json.Unmarshal(data, &ev) == nil && ev.Type == "message" {
			seen = append(seen, ev.Message)
			if ev.Message == "after" {
				break
			}
		}
	}
	if strings.Join(seen, "|") != "before|while frozen|after" {
		t.Fatalf("the observer got %q, want each message once", seen)
	}
}

// TestTypingIndicator has one page type into the message field: the other
// page shows "ana is typing…" under the conversation, outside every live
// region, until it expires; the typing page shows nothing for itself.
func TestTypingIndicator(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	url := "http://" + srv.Addr + "/?room=typing"
	ana := openPage(t, browser, "ana", url)
	ana.join("ana")
	bob := openPage(t, browser, "bob", url)
	bob.join("bob")
	ana.waitMembers(2, "ana", "bob")

	ana.do("type", chromedp.SendKeys("#messageInput", "hel"))
	bob.waitJS(`!document.getElementById("typing").hidden && document.getElementById("typing").textContent === "ana is typing…"`,
		"ana's typing indicator")
	auditIfInstalled(t, bob, "the typing indicator shown")
	if live := eval[bool](bob, `!!document.getElementById("typing").closest("[aria-live]:not([aria-live=off])")`); live {
		t.Error("the typing indicator is inside a live region")
	}
	if eval[string](ana, `document.getElementById("typing").textContent`) != "" {
		t.Error("ana sees her own typing")
	}
	// It expires when ana stops typing.
	bob.waitJS(`document.getElementById("typing").hidden`, "the indicator to expire")
	// And a message from ana ends it at once.
	ana.do("type more", chromedp.SendKeys("#messageInput", "lo"))
	bob.waitJS(`!document.getElementById("typing").hidden`, "ana typing again")
	ana.do("send", chromedp.SendKeys("#messageInput", "\r"))
	bob.waitMessage("ana", "hello")
	if !eval[bool](bob, `document.getElementById("typing").hidden`) {
		t.Error("the indicator stays after ana's message")
	}
	// A short burst right after a message, within the time between typing
	// commands, is announced when that time is up.
	ana.do("a short burst", chromedp.SendKeys("#messageInput", "ok"))
	bob.waitJS(`!document.getElementById("typing").hidden`, "ana's short burst announced")
	ana.setValue("messageInput", "")
	// The raw client of another program never sees typing or acks.
	raw := dialRaw(t, srv.Addr, "typing", "seed")
	ana.do("type", chromedp.SendKeys("#messageInput", "x"))
	ana.send("from ana")
	raw.c.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, data, err := raw.c.ReadMessage()
		if err != nil {
			t.Fatalf("seed client: %v", err)
		}
		var ev struct{ Type, Message string }
		json.Unmarshal(data, &ev)
		if ev.Type != "connection" && ev.Type != "message" && ev.Type != "disconnection" {
			t.Fatalf("the seed client got %s", data)
		}
		if ev.Message == "xfrom ana" {
			break
		}
	}
}
