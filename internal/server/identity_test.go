package server_test

import (
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/testkit"
)

// TestSignedDuplicatesAreOneMember connects one signed-in client twice (two
// tabs) and checks that the room sees one member.
func TestSignedDuplicatesAreOneMember(t *testing.T) {
	ts := startServer(t, server.Config{Auth: verifier(t)})
	connect := func(id string) (*client, event) {
		t.Helper()
		conn, resp, err := dialToken(ts.Addr, id, "general", mint(t, id, nil, time.Hour), true)
		if err != nil {
			t.Fatalf("dial %s: %v (%v)", id, err, resp)
		}
		t.Cleanup(func() { conn.Close() })
		c := &client{t: t, id: id, conn: conn}
		return c, c.expect(protocol.TypeWelcome)
	}
	bob, _ := connect("bob")
	bob.expect(protocol.TypeConnection)
	tab1, _ := connect("ana")
	tab1.expect(protocol.TypeConnection)
	if ev := bob.expect(protocol.TypeConnection); ev.ClientID != "ana" || ev.MemberCount != 2 {
		t.Fatalf("bob sees %+v", ev)
	}
	tab2, w := connect("ana")
	if w.MemberCount != 2 || !slices.Equal(sorted(w.Members), []string{"ana", "bob"}) {
		t.Fatalf("second tab's welcome %+v, want ana and bob once each", w)
	}
	if ev := tab2.expect(protocol.TypeConnection); ev.ClientID != "ana" {
		t.Fatalf("second tab's own join %+v", ev)
	}
	// Bob hears no second join: his next event is the message.
	tab2.send("from the second tab")
	for _, c := range []*client{bob, tab1, tab2} {
		if ev := c.expect(protocol.TypeMessage); ev.ClientID != "ana" || ev.Message != "from the second tab" {
			t.Fatalf("%s got %+v", c.id, ev)
		}
	}
	// The first tab leaves: no notice. The last one leaves: one notice.
	tab1.conn.UnderlyingConn().Close()
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "peer_gone")
	carl, w := connect("carl")
	if w.MemberCount != 3 || !slices.Equal(sorted(w.Members), []string{"ana", "bob", "carl"}) {
		t.Fatalf("welcome after one tab left %+v", w)
	}
	carl.expect(protocol.TypeConnection)
	if ev := bob.expect(protocol.TypeConnection); ev.ClientID != "carl" || ev.MemberCount != 3 {
		t.Fatalf("bob sees %+v, want carl's join (no leave of ana)", ev)
	}
	tab2.conn.UnderlyingConn().Close()
	if ev := bob.expect(protocol.TypeDisconnection); ev.ClientID != "ana" || ev.MemberCount != 2 {
		t.Fatalf("bob sees %+v, want ana's one leave", ev)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestAnonymousDuplicateIsRefused checks that a second anonymous connection
// with a client_id connected, and alive, in the room gets 409, on both
// upgrade paths, while other rooms are free.
func TestAnonymousDuplicateIsRefused(t *testing.T) {
	ts := startServer(t, server.Config{ReplaceWait: 200 * time.Millisecond})
	ana := ts.dial(t, "ana", "")
	ana.expect(protocol.TypeConnection)
	// ana reads, so that gorilla answers the server's probe pings.
	go func() {
		for {
			if _, _, err := ana.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for i := range 5 { // past several probes: a live holder keeps its name
		_, resp, err := extendedDialer.Dial("ws://"+ts.Addr+"/ws/ana", nil)
		if err == nil || resp == nil {
			t.Fatalf("attempt %d: duplicate accepted", i)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusConflict || string(body) != "client_id already connected in this room" {
			t.Fatalf("attempt %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(150 * time.Millisecond) // let probes fall due; the assertion does not depend on it
	}
	r, err := http.Get("http://" + ts.Addr + "/ws/ana")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusConflict {
		t.Fatalf("plain GET: %d, want 409", r.StatusCode)
	}
	ts.waitCounter(t, 6, "chat_upgrade_failures_total", "reason", "duplicate_client_id")
	ts.dial(t, "ana", "other") // another room is another name
}

// TestReconnectAfterDropGetsIn drops a connection without a close frame and
// reconnects at once; and replaces a holder that is alive on TCP but
// answers nothing (a vanished peer), which gets 4003.
func TestReconnectAfterDropGetsIn(t *testing.T) {
	ts := startServer(t, server.Config{ReplaceWait: 200 * time.Millisecond})
	watcher := ts.dial(t, "watcher", "")
	watcher.expect(protocol.TypeConnection)
	ana := ts.dial(t, "ana", "")
	ana.expect(protocol.TypeConnection)
	watcher.expect(protocol.TypeConnection)
	ana.conn.UnderlyingConn().Close() // no close frame
	redial(t, ts, "ana")
	if ev := watcher.expect(protocol.TypeDisconnection); ev.ClientID != "ana" {
		t.Fatalf("watcher %+v", ev)
	}
	watcher.expect(protocol.TypeConnection)

	// A holder that never answers: the raw client reads nothing, so it
	// cannot even pong.
	conn, br := rawClient(t, ts.Addr, "zoe")
	watcher.expect(protocol.TypeConnection)
	zoe := redial(t, ts, "zoe")
	if code := readCloseCode(t, conn, br); code != protocol.CloseReplaced.Code {
		t.Fatalf("replaced holder got close %d, want %d", code, protocol.CloseReplaced.Code)
	}
	if ev := watcher.expect(protocol.TypeDisconnection); ev.ClientID != "zoe" {
		t.Fatalf("watcher %+v", ev)
	}
	if ev := watcher.expect(protocol.TypeConnection); ev.ClientID != "zoe" || ev.MemberCount != 3 {
		t.Fatalf("watcher %+v", ev)
	}
	zoe.send("back")
	if ev := watcher.expect(protocol.TypeMessage); ev.ClientID != "zoe" {
		t.Fatalf("watcher %+v", ev)
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "replaced")
}

// redial connects as id, retrying on 409 as a reconnecting client does,
// until it gets in (testkit.WaitFor bounds the time).
func redial(t *testing.T, ts *testServer, id string) *client {
	t.Helper()
	var conn *websocket.Conn
	testkit.WaitFor(t, id+" gets back in", func() bool {
		c, resp, err := extendedDialer.Dial("ws://"+ts.Addr+"/ws/"+id, nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusConflict {
				t.Fatalf("redial %s: %v %v", id, resp, err)
			}
			time.Sleep(50 * time.Millisecond)
			return false
		}
		conn = c
		return true
	})
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, id: id, conn: conn}
	c.expect(protocol.TypeWelcome)
	c.expect(protocol.TypeConnection)
	return c
}
