package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// rawClient is a plain WebSocket client in a room, as another program (or
// the seed's page) would be.
type rawClient struct {
	t  *testing.T
	id string
	c  *websocket.Conn
}

// dialRaw connects id to room on addr; the connection is closed when the
// test ends.
func dialRaw(t *testing.T, addr, room, id string) *rawClient {
	t.Helper()
	u := fmt.Sprintf("ws://%s/ws/%s?room=%s", addr, url.PathEscape(id), url.QueryEscape(room))
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, id: id, c: c}
}

// say sends texts as messages and reads until the server has echoed the
// last one, so that all of them have their seq.
func (r *rawClient) say(texts ...string) {
	r.t.Helper()
	for _, s := range texts {
		if err := r.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			r.t.Fatalf("%s: send %q: %v", r.id, s, err)
		}
	}
	r.waitFor(texts[len(texts)-1])
}

// waitFor reads until a message with text arrives.
func (r *rawClient) waitFor(text string) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(waitTimeout))
	defer r.c.SetReadDeadline(time.Time{})
	for {
		_, data, err := r.c.ReadMessage()
		if err != nil {
			r.t.Fatalf("%s: waiting for the message %q: %v", r.id, text, err)
		}
		var ev struct{ Type, ClientID, Message string }
		if json.Unmarshal(data, &ev) == nil && ev.Type == "message" && ev.Message == text {
			return
		}
	}
}

// Messages sent before the page joins are shown when it joins, followed
// by live ones, each once.
func TestHistoryOnJoin(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	bob := dialRaw(t, srv.Addr, "hist", "bob") // keeps the room, and its history, alive
	bob.say("h1", "h2", "h3")

	ana := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=hist")
	ana.join("ana")
	ana.waitMessage("bob", "h3")
	ana.waitNotice("join", "ana joined the chat")
	bob.say("live")
	ana.waitMessage("bob", "live")
	expectResumedLog(t, ana, "h1#1 h2#2 h3#3 live#4")
	if n := eval[int](ana, `document.querySelectorAll("#messages .notice-history").length`); n != 0 {
		t.Errorf("a complete replay shows %d notices of older messages", n)
	}
	// History is not news: nothing counts as unread.
	if title := eval[string](ana, `document.title`); title != "hist · Chat" {
		t.Errorf("title %q after joining, want hist · Chat", title)
	}
}

// When the server keeps fewer messages than were sent, a first join says
// quietly that older ones are not shown (not as a gap).
func TestHistoryOnJoinCut(t *testing.T) {
	srv := servertest.Start(t, "127.0.0.1:0", server.Config{Rooms: rooms.Config{History: 2}})
	browser := newBrowser(t)
	bob := dialRaw(t, srv.Addr, "hist", "bob")
	bob.say("h1", "h2", "h3", "h4")

	ana := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=hist")
	ana.join("ana")
	ana.waitMessage("bob", "h4")
	ana.waitNotice("history", "Older messages are not shown.")
	ana.waitNotice("join", "ana joined the chat")
	expectResumedLog(t, ana, "h3#3 h4#4")
}

func TestLinks(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	room := "http://" + srv.Addr + "/?room=links"
	ana := openPage(t, browser, "ana", room)
	ana.join("ana")
	bob := openPage(t, browser, "bob", room)
	bob.join("bob")

	const text = `docs at https://example.com/a?b=1&c=<2>, (see http://example.org/x_(y)). ` +
		`not javascript:alert(1) nor [x](javascript:alert(2)) nor <a href="javascript:alert(3)">y</a> nor data:text/html,hi`
	bob.send(text)
	got := ana.waitMessage("bob", text)
	if got.Text != text {
		t.Errorf("shown text %q, want %q", got.Text, text)
	}
	type link struct{ Href, Text, Rel, Target string }
	links := eval[[]link](ana, `[...document.querySelectorAll("#messages .msg .text a")].map(a => ({
		href: a.getAttribute("href"), text: a.textContent, rel: a.rel, target: a.target}))`)
	want := []link{
		{"https://example.com/a?b=1&c=", "https://example.com/a?b=1&c=", "noopener noreferrer", "_blank"},
		{"http://example.org/x_(y)", "http://example.org/x_(y)", "noopener noreferrer", "_blank"},
	}
	if fmt.Sprint(links) != fmt.Sprint(want) {
		t.Errorf("links %+v, want %+v", links, want)
	}
	if n := eval[int](ana, `[...document.querySelectorAll("#messages a")].filter(a => !/^https?:$/.test(new URL(a.href).protocol)).length +
		document.querySelectorAll("#messages .text *:not(a)").length`); n != 0 {
		t.Errorf("%d elements other than http(s) links made from the text", n)
	}
}

func TestMultiLineMessage(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	ana := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=lines")
	ana.join("ana")
	ana.do("type two lines",
		chromedp.SendKeys("#messageInput", "line one"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys("#messageInput", "liné two"),
	)
	ana.waitJS(`document.getElementById("messageInput").value === "line one\nliné two" &&
		document.getElementById("byte-counter").textContent === "18 / 4096 bytes"`, "two lines in the field and their bytes counted")
	if n := eval[int](ana, `document.querySelectorAll("#messages .msg").length`); n != 0 {
		t.Fatalf("Shift+Enter sent the message")
	}
	ana.do("press Enter", chromedp.SendKeys("#messageInput", "\r"))
	ana.waitMessage("ana", "line one\nliné two")
	ana.waitJS(`document.getElementById("messageInput").value === "" &&
		document.getElementById("byte-counter").textContent === "0 / 4096 bytes"`, "the field emptied")
	// The line break is shown as one.
	if lines := eval[int](ana, `(p => Math.round(p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight)))(document.querySelector("#messages .msg .text"))`); lines != 2 {
		t.Errorf("the message takes %d lines, want 2", lines)
	}
}

// Consecutive messages of one sender within a few minutes show name and
// time once; a day separator starts every local day; every time has the
// full date-time on hover.
func TestGroupingAndDaySeparators(t *testing.T) {
	var offset atomic.Int64 // added to the server's clock
	srv := servertest.Start(t, "127.0.0.1:0", server.Config{Rooms: rooms.Config{
		Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
	}})
	browser := newBrowser(t)
	bob := dialRaw(t, srv.Addr, "days", "bob")
	at := func(d time.Duration, texts ...string) {
		offset.Store(int64(d))
		bob.say(texts...)
	}
	day := 24 * time.Hour
	at(-3*day, "a1", "a2")
	at(-3*day+10*time.Minute, "a3") // ten minutes later: a new group
	at(-day, "y1")
	at(0, "t1")
	now := time.Now().UTC()

	// Days are local: the tab's time zone is set to UTC, as the test counts,
	// and the page reloaded to take it.
	ana := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=days")
	ana.do("use UTC", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"})
		return err
	}))
	ana.navigate("http://" + srv.Addr + "/?room=days")
	ana.join("ana")
	ana.waitMessage("bob", "t1")
	ana.waitNotice("join", "ana joined the chat")
	bob.say("t2") // after a notice: a new group
	bob.say("t3")
	ana.waitMessage("bob", "t3")
	ana.send("mine")
	ana.waitMessage("ana", "mine")

	type row struct{ Kind, Text, DateTime, Title string }
	rows := eval[[]row](ana, `[...document.querySelectorAll("#messages > :not(.empty-hint)")].map(n => ({
		kind: n.classList.contains("day-sep") ? "day" : n.classList.contains("msg") ? (n.classList.contains("cont") ? "cont" : "msg") : "notice",
		text: n.classList.contains("msg") ? n.querySelector(".text").textContent : n.classList.contains("day-sep") ? n.textContent : "",
		datetime: (n.querySelector("time") || {}).dateTime || "",
		title: n.classList.contains("cont") ? n.title : (n.querySelector(".msg time, .notice time") || {}).title || "",
	}))`)
	var got []string
	for _, r := range rows {
		switch r.Kind {
		case "day":
			got = append(got, "["+r.DateTime+"]")
			switch r.DateTime {
			case now.Format(time.DateOnly):
				if r.Text != "Today" {
					t.Errorf("separator of today says %q", r.Text)
				}
			case now.AddDate(0, 0, -1).Format(time.DateOnly):
				if r.Text != "Yesterday" {
					t.Errorf("separator of yesterday says %q", r.Text)
				}
			default:
				if r.Text == "Today" || r.Text == "Yesterday" || !strings.Contains(r.Text, now.AddDate(0, 0, -3).Format("2006")) {
					t.Errorf("separator of %s says %q, want its date", r.DateTime, r.Text)
				}
			}
		case "notice":
			got = append(got, "notice")
		default:
			got = append(got, r.Kind+":"+r.Text)
			if r.Title == "" {
				t.Errorf("message %q has no full date-time on hover", r.Text)
			}
		}
	}
	d := func(days int) string { return "[" + now.AddDate(0, 0, days).Format(time.DateOnly) + "]" }
	want := []string{d(-3), "msg:a1", "cont:a2", "msg:a3", d(-1), "msg:y1", d(0), "msg:t1", "notice", "msg:t2", "cont:t3", "msg:mine"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("log\n  %s\nwant\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	// Shown once per group: the continuation's name and time are there
	// for screen readers only.
	if v := eval[bool](ana, `(r => r.querySelector(".meta").getBoundingClientRect().height <= 1 && r.querySelector(".sender").textContent === "bob")(document.querySelector("#messages .msg.cont"))`); !v {
		t.Errorf("a continued message shows its name and time")
	}
}

// Scrolled up, arriving messages are counted in the title and a button
// jumps to them; reading them clears both.
func TestNewMessagesMarkerAndUnreadTitle(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	bob := dialRaw(t, srv.Addr, "busy", "bob")
	ana := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=busy")
	ana.join("ana")
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("filler %d", i))
	}
	bob.say(many...)
	ana.waitMessage("bob", "filler 29")
	ana.waitJS(`(m => m.scrollHeight > 2 * m.clientHeight)(document.getElementById("messages"))`, "a log taller than its view")
	if title := eval[string](ana, `document.title`); title != "busy · Chat" {
		t.Errorf("title %q while following the log, want no unread count", title)
	}
	if eval[bool](ana, `!document.getElementById("new-msgs").hidden`) {
		t.Errorf("new-messages button shown at the bottom of the log")
	}

	eval[bool](ana, `(m => { m.scrollTop = 0; m.dispatchEvent(new Event("scroll")); return true })(document.getElementById("messages"))`)
	bob.say("new 1", "new 2", "new 3")
	ana.waitMessage("bob", "new 3")
	ana.waitJS(`document.title === "(3) busy · Chat" &&
		(b => !b.hidden && b.textContent.startsWith("3 new messages"))(document.getElementById("new-msgs")) &&
		document.getElementById("messages").scrollTop === 0`, "an unread count of 3 in the title and the button, the log left where it was")
	if v := eval[string](ana, `(l => l && l.nextElementSibling.querySelector(".text").textContent)(document.querySelector("#messages .unread-line"))`); v != "new 1" {
		t.Errorf("the new-messages line is before %q, want before new 1", v)
	}

	ana.do("click the button", chromedp.Click("#new-msgs"))
	ana.waitJS(`document.title === "busy · Chat" && document.getElementById("new-msgs").hidden &&
		(m => m.scrollHeight - m.scrollTop - m.clientHeight < 2)(document.getElementById("messages")) &&
		document.activeElement === document.getElementById("messages")`, "the log at the newest message, focused, and nothing unread")
}

// The page shows "ana joined the chat" for itself once per room, not again
// on every reconnect or return to the room.
func TestOwnJoinNoticeOnce(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	proxy := startProxy(t, srv.Addr)
	browser := newBrowser(t)
	ana := openPage(t, browser, "ana", "http://"+proxy.Addr+"/?room=once")
	ana.join("ana")
	ana.waitNotice("join", "ana joined the chat")
	bob := openPage(t, browser, "bob", "http://"+srv.Addr+"/?room=once")
	bob.join("bob")
	ana.waitNotice("join", "bob joined the chat")

	proxy.cut()
	ana.waitNotice("local", "Connection lost.")
	proxy.resume()
	ana.waitConnected()
	// bob's message follows ana's second join notice, if any.
	bob.send("after the reconnect")
	ana.waitMessage("bob", "after the reconnect")

	ana.setValue("room", "elsewhere")
	ana.do("switch room", chromedp.Click("#connect-btn"))
	ana.waitJS(`document.getElementById("status-text").textContent.includes("elsewhere")`, "the other room")
	ana.waitConnected()
	ana.waitNotice("join", "ana joined the chat") // first time in this room
	ana.setValue("room", "once")
	ana.do("switch back", chromedp.Click("#connect-btn"))
	ana.waitJS(`document.getElementById("status-text").textContent.includes("once")`, "the first room")
	ana.waitConnected()
	bob.send("after the return")
	ana.waitMessage("bob", "after the return")

	if n := eval[int](ana, `[...document.querySelectorAll("#messages .notice-join")].filter(n => n.textContent.startsWith("ana joined")).length`); n != 1 {
		t.Errorf("ana's page shows her own join notice %d times, want once", n)
	}
}

// navigate loads url in the tab and waits for the chat script.
func (p *page) navigate(url string) {
	p.t.Helper()
	p.do("navigate to "+url, chromedp.Navigate(url))
	p.waitJS(`document.readyState === "complete" && document.getElementById("connect-btn").textContent === "Connect"`, "the chat script to start")
}
