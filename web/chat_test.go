package web_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// localTime is what the page shows as a message's local time ("17:41",
// "05:41 PM" and the like, depending on the browser's locale).
var localTime = regexp.MustCompile(`^\d{1,2}[:.]\d{2}`)

func checkTime(t *testing.T, who string, m msgRow) {
	t.Helper()
	if !localTime.MatchString(m.Time) {
		t.Errorf("%s: message %q shows time %q, want a local clock time", who, m.Text, m.Time)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.DateTime)
	if err != nil {
		t.Errorf("%s: message %q has datetime %q: %v", who, m.Text, m.DateTime, err)
	} else if d := time.Since(ts); d < -time.Minute || d > time.Minute {
		t.Errorf("%s: message %q is stamped %v, not now", who, m.Text, ts)
	}
}

func TestTwoPagesChat(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	url := "http://" + srv.Addr + "/?room=lobby"

	ana := openPage(t, browser, "ana", url)
	ana.join("ana")
	ana.waitNotice("join", "ana joined the chat")
	ana.waitMembers(1, "ana")
	if got := eval[string](ana, `document.getElementById("room").value`); got != "lobby" {
		t.Errorf("room field = %q, want the room from the URL, lobby", got)
	}

	bob := openPage(t, browser, "bob", url)
	bob.join("bob")
	ana.waitNotice("join", "bob joined the chat")
	ana.waitMembers(2, "ana", "bob")
	bob.waitMembers(2, "ana", "bob")

	ana.send("hello bob") // Enter sends
	got := bob.waitMessage("ana", "hello bob")
	checkTime(t, "bob", got)
	if got.Own {
		t.Errorf("bob shows ana's message as his own")
	}
	if mine := ana.waitMessage("ana", "hello bob"); !mine.Own {
		t.Errorf("ana's own message is not marked as hers")
	}
	if eval[string](ana, `document.getElementById("messageInput").value`) != "" {
		t.Errorf("message field not cleared after sending")
	}

	bob.do("type and click Send",
		chromedp.SendKeys("#messageInput", "hi ana"),
		chromedp.Click("#send-btn"),
	)
	checkTime(t, "ana", ana.waitMessage("bob", "hi ana"))
	bob.waitMessage("bob", "hi ana")

	// Both pages show the same messages in the same order.
	a, b := ana.messages(), bob.messages()
	if len(a) != 2 || len(b) != 2 || a[0].Text != b[0].Text || a[1].Text != b[1].Text || a[0].Seq != b[0].Seq {
		t.Errorf("pages disagree: ana %+v, bob %+v", a, b)
	}

	bob.do("leave", chromedp.Click("#leave-btn"))
	bob.waitJS(`document.getElementById("status").dataset.state === "disconnected" &&
		document.getElementById("status-text").textContent === "Disconnected" &&
		document.getElementById("messageInput").disabled && document.getElementById("send-btn").disabled`,
		"the disconnected state with send controls disabled")
	ana.waitNotice("leave", "bob left the chat")
	ana.waitMembers(1, "ana")
}

func TestUntrustedTextIsShownAsText(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	url := "http://" + srv.Addr + "/?room=xss"

	const (
		evil    = `<img src=x onerror=pwned=3>`
		payload = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b> & "quotes"`
	)
	bob := openPage(t, browser, "bob", url)
	bob.join("bob")
	eve := openPage(t, browser, "eve", url)
	eve.join(evil)
	bob.waitNotice("join", evil+" joined the chat")
	bob.waitMembers(2, evil, "bob")

	eve.send(payload)
	got := bob.waitMessage(evil, payload)
	if got.Text != payload {
		t.Errorf("shown text %q, want %q", got.Text, payload)
	}
	eve.waitMessage(evil, payload)
	for _, p := range []*page{bob, eve} {
		if n := eval[int](p, `document.querySelectorAll("#messages img, #messages script, #messages b, #members img").length`); n != 0 {
			t.Errorf("%s: user text created %d elements", p.name, n)
		}
		if pwned := eval[bool](p, `"pwned" in window`); pwned {
			t.Errorf("%s: the payload ran", p.name)
		}
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	addr := srv.Addr
	browser := newBrowser(t)
	ana := openPage(t, browser, "ana", "http://"+addr+"/")
	ana.join("ana")
	ana.send("before the restart")
	if m := ana.waitMessage("ana", "before the restart"); m.Seq != "1" {
		t.Fatalf("first message has seq %q, want 1", m.Seq)
	}

	// A draft keeps Send enabled while connected...
	ana.do("type a draft", chromedp.SendKeys("#messageInput", "draft"))
	ana.waitJS(`!document.getElementById("send-btn").disabled`, "Send enabled for a draft")

	srv.Stop()
	// ...and both send controls are disabled while the page waits to reconnect.
	ana.waitJS(`document.getElementById("status").dataset.state === "reconnecting" &&
		/^Reconnecting in \d+s$/.test(document.getElementById("status-text").textContent) &&
		document.getElementById("messageInput").disabled &&
		document.getElementById("send-btn").disabled`,
		"the reconnecting state with a countdown and disabled send controls")
	ana.waitNotice("local", "Connection lost: the server is shutting down.")

	startServer(t, addr) // a new server on the same address: it has no history
	ana.waitConnected()
	// The new server's room starts again at seq 0, below the page's last seq:
	// the welcome reports a gap and the page starts over from its seq.
	ana.waitNotice("gap", "could not be recovered")
	ana.waitJS(`document.getElementById("messageInput").value === "draft" && !document.getElementById("send-btn").disabled`,
		"the draft kept and Send enabled again")
	ana.send(" after the restart")
	if m := ana.waitMessage("ana", "draft after the restart"); m.Seq != "1" {
		t.Errorf("first message after the restart has seq %q, want 1", m.Seq)
	}
}

func TestSwitchRoomAndResume(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	url := "http://" + srv.Addr + "/?room=lobby"
	ana := openPage(t, browser, "ana", url)
	ana.join("ana")
	bob := openPage(t, browser, "bob", url)
	bob.join("bob")
	ana.waitMembers(2, "ana", "bob")

	bob.send("m1")
	ana.waitMessage("bob", "m1")

	// Switch ana to another room: the URL follows, the log is that room's.
	ana.setValue("room", "")
	ana.do("switch to side", chromedp.SendKeys("#room", "side\r"))
	ana.waitJS(`new URL(location.href).searchParams.get("room") === "side" &&
		document.getElementById("status-text").textContent.includes("side")`, "the side room")
	ana.waitConnected()
	ana.waitMembers(1, "ana")
	if n := len(ana.messages()); n != 0 {
		t.Errorf("side room shows %d messages from the lobby", n)
	}
	bob.waitNotice("leave", "ana left the chat")

	bob.send("m2")
	bob.send("m3")
	bob.waitMessage("bob", "m3")

	// Back in the lobby, ana resumes from her last seq: m2 and m3 arrive
	// once each, after m1, with no gap.
	ana.setValue("room", "lobby")
	ana.do("switch back to lobby", chromedp.Click("#connect-btn"))
	ana.waitMessage("bob", "m3")
	ana.waitMembers(2, "ana", "bob")
	bob.send("m4")
	ana.waitMessage("bob", "m4")
	expectResumedLog(t, ana, "m1#1 m2#2 m3#3 m4#4")
}

func TestInputRules(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	long := strings.Repeat("r", 33)
	p := openPage(t, browser, "user", "http://"+srv.Addr+"/?room="+long)

	refused := func(reason string) string {
		return `document.getElementById("status").dataset.state === "disconnected" && document.getElementById("join-error").textContent.includes(` + jsString(reason) + `)`
	}
	p.do("connect with a long room", chromedp.SendKeys("#username", "ana"), chromedp.Click("#connect-btn"))
	p.waitJS(refused("room name is 33 characters long; the limit is 32"), "the room length error")

	p.setValue("room", "rules")
	p.setValue("username", "a\tb")
	p.do("name with a tab", chromedp.Click("#connect-btn"))
	p.waitJS(refused("control characters"), "the control character error")
	p.setValue("username", "ana/bob")
	p.do("name with a slash", chromedp.Click("#connect-btn"))
	p.waitJS(refused("must not contain a slash"), "the slash error")
	p.setValue("username", strings.Repeat("é", 33))
	p.do("too long a name", chromedp.Click("#connect-btn"))
	p.waitJS(refused("username is 33 characters long"), "the username length error")
	p.setValue("username", strings.Repeat("é", 32))
	p.do("32 characters", chromedp.Click("#connect-btn"))
	p.waitConnected()

	// The limit is in UTF-8 bytes: 2049 two-byte characters are 4098 bytes.
	p.setValue("messageInput", strings.Repeat("é", 2049))
	p.waitJS(`document.getElementById("byte-counter").textContent === "4098 / 4096 bytes" &&
		document.getElementById("send-error").textContent.includes("4098 bytes") &&
		document.getElementById("send-btn").disabled`, "the too-long error")
	p.setValue("messageInput", strings.Repeat("é", 2048))
	p.waitJS(`document.getElementById("byte-counter").textContent === "4096 / 4096 bytes" &&
		document.getElementById("send-error").textContent === "" &&
		!document.getElementById("send-btn").disabled`, "a message at the limit accepted")
	p.do("send at the limit", chromedp.Click("#send-btn"))
	p.waitMessage(strings.Repeat("é", 32), strings.Repeat("é", 2048))
	// The long message wraps, overflows the log, and the log follows it down.
	p.waitJS(`(m => m.scrollHeight > m.clientHeight && m.scrollHeight - m.scrollTop - m.clientHeight < 2)(document.getElementById("messages"))`,
		"the log scrolled to the newest message")
	if w := eval[bool](p, `document.documentElement.scrollWidth <= document.documentElement.clientWidth`); !w {
		t.Errorf("the long message made the page scroll sideways")
	}
	p.waitJS(`document.getElementById("status").dataset.state === "connected"`, "still connected")
}

func TestResumeAfterConnectionLoss(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	proxy := startProxy(t, srv.Addr)
	browser := newBrowser(t)
	// ana reaches the server through a proxy that can cut her off; bob
	// connects directly and keeps the room alive.
	ana := openPage(t, browser, "ana", "http://"+proxy.Addr+"/?room=resume")
	ana.join("ana")
	bob := openPage(t, browser, "bob", "http://"+srv.Addr+"/?room=resume")
	bob.join("bob")
	ana.waitMembers(2, "ana", "bob")
	bob.send("m1")
	bob.send("m2")
	ana.waitMessage("bob", "m2")

	proxy.cut()
	ana.waitJS(`document.getElementById("status").dataset.state === "reconnecting"`, "the reconnecting state")
	ana.waitNotice("local", "Connection lost.")
	bob.waitNotice("leave", "ana left the chat")
	bob.send("m3")
	bob.send("m4")
	bob.waitMessage("bob", "m4")

	proxy.resume()
	ana.waitConnected()
	ana.waitMessage("bob", "m4")
	bob.send("m5")
	ana.waitMessage("bob", "m5")
	expectResumedLog(t, ana, "m1#1 m2#2 m3#3 m4#4 m5#5")
}

// expectResumedLog checks that p's log holds exactly the messages in want
// ("text#seq" separated by spaces), each once and in order, and no notice
// of a gap: what a resume without loss or duplicates leaves.
func expectResumedLog(t *testing.T, p *page, want string) {
	t.Helper()
	var texts []string
	for _, m := range p.messages() {
		texts = append(texts, m.Text+"#"+m.Seq)
	}
	if got := strings.Join(texts, " "); got != want {
		t.Errorf("the log shows %s, want %s", got, want)
	}
	if n := eval[int](p, `document.querySelectorAll("#messages .notice-gap").length`); n != 0 {
		t.Errorf("resume reported %d gaps", n)
	}
}
