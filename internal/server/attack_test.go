package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/testkit"
)

// TestFlooderReadsItsEchoesAndClose floods past the rate limit while
// reading, and never stops writing: it still reads its echoes, its error
// events and the 1008 close frame, not a reset.
func TestFlooderReadsItsEchoesAndClose(t *testing.T) {
	const burst = 10
	ts := startServer(t, server.Config{RateLimit: 5, RateBurst: burst})
	flood := ts.dial(t, "flood", "")
	flood.expect(protocol.TypeConnection)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		msg := []byte(strings.Repeat("f", 1000))
		for range 20_000 {
			if stop.Load() || flood.conn.WriteMessage(websocket.TextMessage, msg) != nil {
				return
			}
		}
	}()
	echoes, errorEvents := 0, 0
	flood.conn.SetReadDeadline(time.Now().Add(hangDetector))
	var err error
	for {
		var data []byte
		if _, data, err = flood.conn.ReadMessage(); err != nil {
			break
		}
		switch ev := decodeEvent(data); ev.Type {
		case protocol.TypeMessage:
			echoes++
		case protocol.TypeError:
			errorEvents++
		}
	}
	stop.Store(true)
	flood.conn.Close()
	wg.Wait()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("read ended with %v after %d echoes and %d errors, want close 1008", err, echoes, errorEvents)
	}
	if echoes < burst || errorEvents < 10 {
		t.Fatalf("%d echoes and %d error events, want at least %d and 10", echoes, errorEvents, burst)
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "rate_limited")
}

// TestOversizeFrameGets1009 writes an 8 MiB text frame while reading: the
// client sees 1009, not a reset, as one frame from a raw client and as a
// fragmented message from gorilla's.
func TestOversizeFrameGets1009(t *testing.T) {
	ts := startServer(t, server.Config{})
	const size = 8 << 20
	t.Run("one frame", func(t *testing.T) {
		conn, br := rawClient(t, ts.Addr, "big")
		go func() {
			h := ws.Header{Fin: true, OpCode: ws.OpText, Length: size, Masked: true, Mask: ws.NewMask()}
			if err := ws.WriteHeader(conn, h); err != nil {
				return
			}
			chunk := make([]byte, 64<<10)
			for i := range chunk {
				chunk[i] = 'x'
			}
			ws.Cipher(chunk, h.Mask, 0) // a multiple of 4: every chunk masks alike
			for range size / len(chunk) {
				if _, err := conn.Write(chunk); err != nil {
					return
				}
			}
		}()
		if code := readCloseCode(t, conn, br); code != 1009 {
			t.Fatalf("close %d, want 1009", code)
		}
	})
	t.Run("gorilla", func(t *testing.T) {
		c := ts.dial(t, "big2", "")
		c.expect(protocol.TypeConnection)
		go c.conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("y", size)))
		if code := c.expectClose(); code != 1009 {
			t.Fatalf("close %d, want 1009", code)
		}
	})
	ts.waitCounter(t, 2, "chat_connections_closed_total", "reason", "too_big")
}

// TestPingFloodIsLimited sends pings as fast as it can: the flooder is
// closed 1008 as rate limited while a bystander in its room chats.
func TestPingFloodIsLimited(t *testing.T) {
	ts := startServer(t, server.Config{})
	bystander := ts.dial(t, "bystander", "")
	bystander.expect(protocol.TypeConnection)
	conn, br := rawClient(t, ts.Addr, "pinger")
	bystander.expect(protocol.TypeConnection)
	go func() {
		ping := maskedFrame(true, ws.OpPing, []byte("p"))
		batch := make([]byte, 0, 100*len(ping))
		for range 100 {
			batch = append(batch, ping...)
		}
		for range 200 { // 20,000 pings
			if _, err := conn.Write(batch); err != nil {
				return
			}
		}
	}()
	if code := readCloseCode(t, conn, br); code != 1008 {
		t.Fatalf("close %d, want 1008", code)
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "rate_limited")
	bystander.roundTrip("unbothered")
}

// upgradeHead is a WebSocket upgrade request for target, with line ends
// eol, offering chat.v1.
func upgradeHead(target, host, key, eol string) string {
	return strings.Join([]string{"GET " + target + " HTTP/1.1", "Host: " + host, "Upgrade: websocket",
		"Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol, "", ""}, eol)
}

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

// expectChat reads a welcome on an upgraded raw connection, then sends a
// message and reads it back.
func expectChat(t *testing.T, conn net.Conn, br *bufio.Reader, text string) {
	t.Helper()
	if ev := readEvent(t, conn, br); ev.Type != protocol.TypeWelcome {
		t.Fatalf("first event %+v, want welcome", ev)
	}
	if _, err := conn.Write(maskedFrame(true, ws.OpText, []byte(text))); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if ev := readEvent(t, conn, br); ev.Type == protocol.TypeMessage {
			if ev.Message != text {
				t.Fatalf("got %+v, want %q", ev, text)
			}
			return
		}
	}
	t.Fatalf("no message %q", text)
}

// TestUnusualRequestsAreAnswered sends upgrades and plain requests that
// only net/http parses: each gets its answer, none hangs.
func TestUnusualRequestsAreAnswered(t *testing.T) {
	ts := startServer(t, server.Config{})
	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		t.Helper()
		conn, err := net.Dial("tcp", ts.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	t.Run("upgrade after a page request", func(t *testing.T) {
		conn, br := dial(t)
		resp := rawRequest(t, conn, br, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("/healthz: %d", resp.StatusCode)
		}
		resp = rawRequest(t, conn, br, upgradeHead("/ws/reused", ts.Addr, goodKey, "\r\n"))
		if resp.StatusCode != 101 {
			t.Fatalf("upgrade on a reused connection: %d", resp.StatusCode)
		}
		expectChat(t, conn, br, "over a reused connection")
	})
	t.Run("absolute form", func(t *testing.T) {
		conn, br := dial(t)
		resp := rawRequest(t, conn, br, upgradeHead("http://"+ts.Addr+"/ws/absolute", ts.Addr, goodKey, "\r\n"))
		if resp.StatusCode != 101 {
			t.Fatalf("absolute-form upgrade: %d", resp.StatusCode)
		}
		expectChat(t, conn, br, "absolute")
	})
	t.Run("bare LF upgrade", func(t *testing.T) {
		conn, br := dial(t)
		resp := rawRequest(t, conn, br, upgradeHead("/ws/barelf", ts.Addr, goodKey, "\n"))
		if resp.StatusCode != 101 {
			t.Fatalf("bare-LF upgrade: %d", resp.StatusCode)
		}
		expectChat(t, conn, br, "bare LF")
	})
	t.Run("bare LF page", func(t *testing.T) {
		conn, br := dial(t)
		resp := rawRequest(t, conn, br, "GET /healthz HTTP/1.1\nHost: x\n\n")
		if resp.StatusCode != 200 {
			t.Fatalf("bare-LF /healthz: %d", resp.StatusCode)
		}
	})
	for _, tt := range []struct{ name, target, eol string }{
		{"bad key", "/ws/badkey", "\r\n"},
		{"bad key, absolute form", "http://" + ts.Addr + "/ws/badkey2", "\r\n"},
		{"bad key, bare LF", "/ws/badkey3", "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.counter(t, "chat_upgrade_failures_total", "reason", "bad_key")
			conn, br := dial(t)
			resp := rawRequest(t, conn, br, upgradeHead(tt.target, ts.Addr, "c2hvcnQ=", tt.eol))
			if resp.StatusCode != 400 {
				t.Fatalf("key of 5 bytes: %d, want 400", resp.StatusCode)
			}
			ts.waitCounter(t, before+1, "chat_upgrade_failures_total", "reason", "bad_key")
		})
	}
	for _, tt := range []struct {
		path   string
		status int
		body   string
		label  string
	}{
		{"/ws/ana", 426, "this is a WebSocket endpoint: connect with a WebSocket client", "not_websocket"},
		{"/ws/", 400, "bad client_id: empty", "bad_client_id"},
	} {
		t.Run("plain GET "+tt.path, func(t *testing.T) {
			before := ts.counter(t, "chat_upgrade_failures_total", "reason", tt.label)
			conn, br := dial(t)
			resp := rawRequest(t, conn, br, "GET "+tt.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if tt.status == 426 && resp.Header.Get("Upgrade") != "websocket" {
				t.Fatalf("426 without Upgrade: websocket: %v", resp.Header)
			}
			ts.waitCounter(t, before+1, "chat_upgrade_failures_total", "reason", tt.label)
		})
	}
}

// TestSeedClientsSeeOnlySeedEvents puts a client that does not offer
// chat.v1 in a room above the notice limit with chat.v1 clients: it sees
// only connection, message and disconnection events, while a chat.v1
// client sees welcome, presence and error events too.
func TestSeedClientsSeeOnlySeedEvents(t *testing.T) {
	const burst = 4
	ts := startServer(t, server.Config{RateLimit: 0.01, RateBurst: burst,
		Rooms: rooms.Config{NoticeLimit: 2, PresenceInterval: 50 * time.Millisecond}})
	seed := dialURL(t, websocket.DefaultDialer, "ws://"+ts.Addr+"/ws/seed?room=s", "seed")
	if seed.conn.Subprotocol() != "" {
		t.Fatalf("subprotocol %q chosen for a client that offered none", seed.conn.Subprotocol())
	}
	ext := ts.dial(t, "ext", "s")
	for i := range 3 {
		ts.dial(t, fmt.Sprint("more", i), "s")
	}
	seen := map[string]int{}
	// The chat.v1 client overruns the rate limit: it gets an error event.
	for i := range burst + 1 {
		ext.send(fmt.Sprint("ext ", i))
	}
	// So does the seed client: it gets none.
	for i := range burst + 1 {
		seed.send(fmt.Sprint("seed ", i))
	}
	testkit.WaitFor(t, "presence and error events for the chat.v1 client", func() bool {
		ev := ext.next()
		seen[ev.Type]++
		return seen[protocol.TypePresence] > 0 && seen[protocol.TypeError] > 0
	})
	closer := ts.dial(t, "closer", "s")
	closer.send("end")
	for range 1000 {
		ev := seed.next()
		switch ev.Type {
		case protocol.TypeConnection, protocol.TypeMessage, protocol.TypeDisconnection:
		default:
			t.Fatalf("the seed client got %+v", ev)
		}
		if ev.Type == protocol.TypeMessage && ev.Message == "end" {
			return
		}
	}
	t.Fatal("the seed client never got the end message")
}
