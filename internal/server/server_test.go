package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
	"github.com/chatplatform/chat/internal/testkit"
)

// testServer is a real server whose logs go to the test.
type testServer struct{ *servertest.Server }

func startServer(t *testing.T, cfg server.Config) *testServer {
	t.Helper()
	cfg.Logger = zaptest.NewLogger(t)
	return &testServer{servertest.Start(t, "127.0.0.1:0", cfg)}
}

// counter reads a counter or gauge of the server, by name and labels.
func (ts *testServer) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return ts.Metric(t, name, labels...)
}

func (ts *testServer) waitCounter(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%s%v == %v", name, labels, want), func() bool { return ts.counter(t, name, labels...) == want })
}

type event struct {
	Type        string   `json:"type"`
	ClientID    string   `json:"client_id"`
	Message     string   `json:"message"`
	Timestamp   string   `json:"timestamp"`
	Room        string   `json:"room"`
	Seq         uint64   `json:"seq"`
	MemberCount int      `json:"member_count"`
	Members     []string `json:"members"`
	Code        string   `json:"code"`
}

// client is a gorilla/websocket client: an implementation independent of
// the server's.
type client struct {
	t    *testing.T
	id   string
	conn *websocket.Conn
}

// extendedDialer offers the chat.v1 subprotocol, so that its clients get
// the extension events (welcome, presence, error).
var extendedDialer = &websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}

func (ts *testServer) dial(t *testing.T, id, room string) *client {
	t.Helper()
	url := "ws://" + ts.Addr + "/ws/" + id
	if room != "" {
		url += "?room=" + room
	}
	conn, resp, err := extendedDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (response %v)", url, err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, id: id, conn: conn}
	if w := c.next(); w.Type != protocol.TypeWelcome {
		t.Fatalf("%s: first event %+v, want welcome", id, w)
	}
	return c
}

func (c *client) next() event {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.id, err)
	}
	if typ != websocket.TextMessage {
		c.t.Fatalf("%s: frame type %d, want text", c.id, typ)
	}
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		c.t.Fatalf("%s: bad JSON %q: %v", c.id, data, err)
	}
	return ev
}

// expect reads events until one of type typ, skipping presence and notices
// of other clients when skipOthers is set.
func (c *client) expect(typ string) event {
	c.t.Helper()
	ev := c.next()
	if ev.Type != typ {
		c.t.Fatalf("%s: got %+v, want %s", c.id, ev, typ)
	}
	return ev
}

func (c *client) send(text string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		c.t.Fatalf("%s: send: %v", c.id, err)
	}
}

// expectClose reads until the server closes, and returns its close code.
func (c *client) expectClose() int {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		c.t.Fatalf("%s: read ended with %v, want a close frame", c.id, err)
	}
}

func TestChat(t *testing.T) {
	ts := startServer(t, server.Config{})
	ana := ts.dial(t, "ana", "")
	if ev := ana.expect(protocol.TypeConnection); ev.ClientID != "ana" || ev.Room != "general" || ev.Message != "ana joined the chat" {
		t.Fatalf("own join %+v", ev)
	}
	bob := ts.dial(t, "bob", "")
	bob.expect(protocol.TypeConnection)
	if ev := ana.expect(protocol.TypeConnection); ev.ClientID != "bob" || ev.MemberCount != 2 {
		t.Fatalf("ana sees %+v", ev)
	}
	// A client in another room sees nothing of general.
	other := ts.dial(t, "eve", "other")
	other.expect(protocol.TypeConnection)

	ana.send("hello <b>bob</b> ✓")
	for _, c := range []*client{ana, bob} {
		ev := c.expect(protocol.TypeMessage)
		ts, err := time.Parse(protocol.TimestampLayout, ev.Timestamp)
		if ev.ClientID != "ana" || ev.Message != "hello <b>bob</b> ✓" || ev.Room != "general" || ev.Seq != 1 || err != nil {
			t.Fatalf("%s got %+v (timestamp error %v)", c.id, ev, err)
		}
		if !strings.HasSuffix(ev.Timestamp, "Z") || time.Since(ts) > time.Minute {
			t.Fatalf("timestamp %q is not recent UTC", ev.Timestamp)
		}
	}

	// A clean close and an abrupt TCP drop both announce the leave.
	bob.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	if code := bob.expectClose(); code != websocket.CloseNormalClosure {
		t.Fatalf("close echo %d", code)
	}
	if ev := ana.expect(protocol.TypeDisconnection); ev.ClientID != "bob" || ev.Message != "bob left the chat" {
		t.Fatalf("leave %+v", ev)
	}
	carl := ts.dial(t, "carl", "")
	carl.expect(protocol.TypeConnection)
	ana.expect(protocol.TypeConnection)
	carl.conn.UnderlyingConn().Close()
	if ev := ana.expect(protocol.TypeDisconnection); ev.ClientID != "carl" {
		t.Fatalf("leave after drop %+v", ev)
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "normal")
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "peer_gone")
	if got := ts.counter(t, "chat_messages_received_total"); got != 1 {
		t.Fatalf("received %v", got)
	}
	problems, err := testutil.GatherAndLint(ts.Registry)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestConcurrentSendersSeeOneOrder(t *testing.T) {
	ts := startServer(t, server.Config{RateLimit: 1000, RateBurst: 1000})
	const n, each = 4, 50
	var clients []*client
	for i := range n {
		clients = append(clients, ts.dial(t, fmt.Sprint("c", i), "order"))
	}
	// Drain the join notices: client i sees the joins of i..n-1.
	for i, c := range clients {
		for range n - i {
			c.expect(protocol.TypeConnection)
		}
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if err := c.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%s/%d", c.id, j)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var first []string
	for i, c := range clients {
		var got []string
		for len(got) < n*each {
			ev := c.expect(protocol.TypeMessage)
			if ev.Seq != uint64(len(got)+1) {
				t.Fatalf("%s: seq %d at position %d", c.id, ev.Seq, len(got))
			}
			got = append(got, ev.Message)
		}
		if i == 0 {
			first = got
			continue
		}
		for k := range got {
			if got[k] != first[k] {
				t.Fatalf("%s sees %q at %d, c0 sees %q", c.id, got[k], k, first[k])
			}
		}
	}
}

// rawClient upgrades with gobwas's client on a raw connection so that a
// test can write any bytes, including what RFC 6455 forbids.
func rawClient(t *testing.T, addr, id string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, br, _, err := ws.Dialer{Protocols: []string{protocol.Subprotocol}}.Dial(context.Background(), "ws://"+addr+"/ws/"+id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if br == nil {
		br = bufio.NewReader(conn)
	}
	return conn, br
}

func maskedFrame(fin bool, op ws.OpCode, payload []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	return ws.MustCompileFrame(ws.MaskFrameInPlace(f))
}

// readCloseCode reads frames until a close frame and returns its code.
func readCloseCode(t *testing.T, conn net.Conn, br *bufio.Reader) ws.StatusCode {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := testkit.ReadFrame(br)
		if err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

func TestBadInputIsAnsweredAndHarmsNobody(t *testing.T) {
	oversize := make([]byte, protocol.DefaultMaxMessageBytes+1)
	for i := range oversize {
		oversize[i] = 'x'
	}
	tests := []struct {
		name   string
		input  []byte
		code   ws.StatusCode
		reason string // chat_connections_closed_total reason
	}{
		{"oversize", maskedFrame(true, ws.OpText, oversize), 1009, "too_big"},
		{"invalid utf8", maskedFrame(true, ws.OpText, []byte("bad \xff\xfe")), 1007, "invalid_utf8"},
		{"binary", maskedFrame(true, ws.OpBinary, []byte{1, 2, 3}), 1003, "binary"},
		{"unmasked", ws.MustCompileFrame(ws.NewTextFrame([]byte("hi"))), 1002, "protocol_error"},
		{"reserved opcode", maskedFrame(true, ws.OpCode(0xb), nil), 1002, "protocol_error"},
		{"rsv bit", func() []byte { f := maskedFrame(true, ws.OpText, []byte("x")); f[0] |= 0x20; return f }(), 1002, "protocol_error"},
		{"fragmented ping", maskedFrame(false, ws.OpPing, nil), 1002, "protocol_error"},
		{"oversize ping", maskedFrame(true, ws.OpPing, make([]byte, 200)), 1002, "protocol_error"},
		{"continuation first", maskedFrame(true, ws.OpContinuation, []byte("x")), 1002, "protocol_error"},
		{"close with reserved code", maskedFrame(true, ws.OpClose, ws.NewCloseFrameBody(1004, "")), 1002, "protocol_error"},
	}
	ts := startServer(t, server.Config{})
	bystander := ts.dial(t, "bystander", "")
	bystander.expect(protocol.TypeConnection)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.counter(t, "chat_connections_closed_total", "reason", tt.reason)
			id := fmt.Sprint("bad", i)
			conn, br := rawClient(t, ts.Addr, id)
			bystander.expect(protocol.TypeConnection)
			if _, err := conn.Write(tt.input); err != nil {
				t.Fatal(err)
			}
			if code := readCloseCode(t, conn, br); code != tt.code {
				t.Fatalf("close code %d, want %d", code, tt.code)
			}
			if ev := bystander.expect(protocol.TypeDisconnection); ev.ClientID != id {
				t.Fatalf("bystander got %+v", ev)
			}
			ts.waitCounter(t, before+1, "chat_connections_closed_total", "reason", tt.reason)
			// The bystander still chats.
			bystander.send("still here " + tt.name)
			if ev := bystander.expect(protocol.TypeMessage); ev.Message != "still here "+tt.name {
				t.Fatalf("bystander got %+v", ev)
			}
		})
	}
	for _, r := range []string{"too_big", "invalid_utf8", "binary"} {
		if got := ts.counter(t, "chat_messages_rejected_total", "reason", r); got != 1 {
			t.Errorf("rejected{%s} = %v, want 1", r, got)
		}
	}
}

func TestRateLimitErrorThenClose(t *testing.T) {
	ts := startServer(t, server.Config{RateLimit: 1, RateBurst: 2})
	bystander := ts.dial(t, "bystander", "")
	bystander.expect(protocol.TypeConnection)
	flood := ts.dial(t, "flood", "")
	flood.expect(protocol.TypeConnection)
	bystander.expect(protocol.TypeConnection)

	for range 2 {
		flood.send("ok")
		flood.expect(protocol.TypeMessage)
		bystander.expect(protocol.TypeMessage)
	}
	flood.send("too fast")
	if ev := flood.expect(protocol.TypeError); ev.Code != protocol.ErrorRateLimited {
		t.Fatalf("got %+v, want a rate_limited error event", ev)
	}
	for range 20 {
		flood.conn.WriteMessage(websocket.TextMessage, []byte("flood"))
	}
	if code := flood.expectClose(); code != 1008 {
		t.Fatalf("close %d, want 1008", code)
	}
	if ev := bystander.expect(protocol.TypeDisconnection); ev.ClientID != "flood" {
		t.Fatalf("bystander got %+v", ev)
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "rate_limited")
	if got := ts.counter(t, "chat_messages_rejected_total", "reason", "rate_limited"); got < 11 {
		t.Fatalf("rejected{rate_limited} = %v, want at least 11", got)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	ts := startServer(t, server.Config{MaxConnections: 1, AllowedOrigins: []string{"http://good.example"}})
	tests := []struct {
		name, path string
		header     http.Header
		status     int
		body       string
		reason     string
	}{
		{"long id", "/ws/" + strings.Repeat("a", 33), nil, 400, "bad client_id: longer than 32 characters", "bad_client_id"},
		{"control character", "/ws/a%07b", nil, 400, "bad client_id: contains a control character", "bad_client_id"},
		{"empty id", "/ws/", nil, 400, "bad client_id: empty", "bad_client_id"},
		{"bad room", "/ws/ana?room=" + strings.Repeat("r", 40), nil, 400, "bad room: longer than 32 characters", "bad_room"},
		{"bad origin", "/ws/ana", http.Header{"Origin": {"http://evil.example"}}, 403, "origin not allowed", "forbidden_origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.counter(t, "chat_upgrade_failures_total", "reason", tt.reason)
			_, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr+tt.path, tt.header)
			if err == nil || resp == nil {
				t.Fatalf("dial succeeded or got no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			ts.waitCounter(t, before+1, "chat_upgrade_failures_total", "reason", tt.reason)
		})
	}
	ts.dial(t, "first", "")
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr+"/ws/second", nil)
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("second connection over the cap: %v %v", resp, err)
	}
	ts.waitCounter(t, 1, "chat_upgrade_failures_total", "reason", "server_full")
}

func TestHandshakeTimeoutDropsSilentClient(t *testing.T) {
	ts := startServer(t, server.Config{HandshakeTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /ws/slow HTTP/1.1\r\nHost: x\r\n")) // never finished
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open")
	}
	ts.waitCounter(t, 1, "chat_upgrade_failures_total", "reason", "handshake_timeout")
}

func TestEarlyFramesAfterHandshakeAreKept(t *testing.T) {
	ts := startServer(t, server.Config{})
	watcher := ts.dial(t, "watcher", "")
	watcher.expect(protocol.TypeConnection)
	conn, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The handshake and a message in one write: the server reads both at once.
	req := "GET /ws/eager HTTP/1.1\r\nHost: " + ts.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), maskedFrame(true, ws.OpText, []byte("first words"))...)); err != nil {
		t.Fatal(err)
	}
	watcher.expect(protocol.TypeConnection)
	if ev := watcher.expect(protocol.TypeMessage); ev.ClientID != "eager" || ev.Message != "first words" {
		t.Fatalf("got %+v", ev)
	}
}

func TestIdleClientIsClosed(t *testing.T) {
	ts := startServer(t, server.Config{IdleTimeout: 300 * time.Millisecond})
	conn, br := rawClient(t, ts.Addr, "silent")
	// The raw client answers nothing, not even pings.
	if code := readCloseCode(t, conn, br); code != protocol.CloseIdleTimeout.Code {
		t.Fatalf("close %d, want %d", code, protocol.CloseIdleTimeout.Code)
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "idle_timeout")
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, server.Config{})
	ts.SetHookForTest(func(point string, p []byte) {
		if point == "handle" && string(p) == "boom" {
			panic("boom")
		}
	})
	bystander := ts.dial(t, "bystander", "")
	bystander.expect(protocol.TypeConnection)
	bomber := ts.dial(t, "bomber", "")
	bomber.expect(protocol.TypeConnection)
	bystander.expect(protocol.TypeConnection)
	bomber.send("boom")
	if code := bomber.expectClose(); code != 1011 {
		t.Fatalf("close %d, want 1011", code)
	}
	bystander.expect(protocol.TypeDisconnection)
	bystander.send("alive")
	if ev := bystander.expect(protocol.TypeMessage); ev.Message != "alive" {
		t.Fatalf("got %+v", ev)
	}
	ts.waitCounter(t, 1, "chat_panics_total")
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "panic")
}

func TestShutdownSendsGoingAway(t *testing.T) {
	ts := startServer(t, server.Config{})
	var clients []*client
	for i := range 5 {
		clients = append(clients, ts.dial(t, fmt.Sprint("c", i), ""))
	}
	ready := func() int {
		resp, err := http.Get("http://" + ts.Addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != 200 {
		t.Fatalf("readyz %d before shutdown", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- ts.Shutdown(ctx) }()
	for _, c := range clients {
		if code := c.expectClose(); code != websocket.CloseGoingAway {
			t.Fatalf("%s: close %d, want 1001", c.id, code)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Shutdown outlived its deadline")
	}
	if ts.Ready() {
		t.Fatal("still ready after Shutdown")
	}
	if got := ts.counter(t, "chat_connections_closed_total", "reason", "shutdown"); got != 5 {
		t.Fatalf("closed{shutdown} = %v", got)
	}
}

func TestPagesAndHealth(t *testing.T) {
	ts := startServer(t, server.Config{})
	for _, tt := range []struct {
		path, contentType string
		csp               bool
	}{
		{"/", "text/html", true},
		{"/static/chat.js", "javascript", true},
		{"/static/chat.css", "text/css", true},
		{"/healthz", "text/plain", false},
		{"/readyz", "text/plain", false},
		{"/metrics", "text/plain", false},
	} {
		resp, err := http.Get("http://" + ts.Addr + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tt.contentType) {
			t.Errorf("%s: %d %s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); tt.csp && !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", tt.path, csp)
		}
	}
	resp, err := http.Get("http://" + ts.Addr + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
}
