package server_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/testkit"
)

// hangDetector bounds every wait of these tests that is not a WaitFor: a
// broken engine fails them by hanging, never by being slow.
const hangDetector = 15 * time.Second

// fullEvent is an event with the fields only a welcome carries.
type fullEvent struct {
	event
	Gap   bool   `json:"gap"`
	Epoch string `json:"epoch"`
}

// dialURL connects a gorilla client to url with dialer, reading nothing.
func dialURL(t *testing.T, dialer *websocket.Dialer, url, id string) *client {
	t.Helper()
	conn, resp, err := dialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (response %v)", url, err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, id: id, conn: conn}
}

// nextFull reads the next event with its welcome fields.
func (c *client) nextFull() fullEvent {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(hangDetector))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.id, err)
	}
	var ev fullEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		c.t.Fatalf("%s: bad JSON %q: %v", c.id, data, err)
	}
	return ev
}

// expectMessage reads events, skipping join, leave and presence notices,
// until a message, and checks its text.
func (c *client) expectMessage(text string) event {
	c.t.Helper()
	for range 1000 {
		ev := c.next()
		switch ev.Type {
		case "connection", "disconnection", "presence":
			continue
		case "message":
			if ev.Message != text {
				c.t.Fatalf("%s: message %+v, want %q", c.id, ev, text)
			}
			return ev
		default:
			c.t.Fatalf("%s: got %+v, want message %q", c.id, ev, text)
		}
	}
	c.t.Fatalf("%s: no message %q among 1000 events", c.id, text)
	return event{}
}

// roundTrip has c send text and checks that it comes back.
func (c *client) roundTrip(text string) {
	c.t.Helper()
	c.send(text)
	c.expectMessage(text)
}

// nonReader upgrades a raw connection with a small receive buffer to the
// room and never reads from it again.
func nonReader(t testing.TB, addr, id, room string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.(*net.TCPConn).SetReadBuffer(4096)
	u := "ws://" + addr + "/ws/" + id
	if room != "" {
		u += "?room=" + room
	}
	conn.SetDeadline(time.Now().Add(hangDetector))
	if _, _, err := ws.DefaultDialer.Upgrade(conn, mustURL(t, u)); err != nil {
		t.Fatalf("upgrade %s: %v", id, err)
	}
	conn.SetDeadline(time.Time{})
	return conn
}

// readsEnd reports whether reading conn ends (EOF or reset) before the
// hang detector, discarding what arrives.
func readsEnd(conn net.Conn) bool {
	// A window as small as a non-reader's makes the kernel send what is
	// left in zero-window probes, slower and slower: open it wide first.
	conn.(*net.TCPConn).SetReadBuffer(4 << 20)
	conn.SetReadDeadline(time.Now().Add(hangDetector))
	buf := make([]byte, 64<<10)
	for {
		if _, err := conn.Read(buf); err != nil {
			ne, ok := err.(net.Error)
			return !ok || !ne.Timeout()
		}
	}
}

// rawRequest writes head on conn and reads the response.
func rawRequest(t *testing.T, conn net.Conn, br *bufio.Reader, head string) *http.Response {
	t.Helper()
	conn.SetDeadline(time.Now().Add(hangDetector))
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", strings.SplitN(head, "\n", 2)[0], err)
	}
	return resp
}

// readEvent reads the next frame of a raw client as an event.
func readEvent(t *testing.T, conn net.Conn, br *bufio.Reader) fullEvent {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(hangDetector))
	f, err := testkit.ReadFrame(br)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if f.Header.OpCode != ws.OpText {
		t.Fatalf("frame %v, want text", f.Header.OpCode)
	}
	var ev fullEvent
	if err := json.Unmarshal(f.Payload, &ev); err != nil {
		t.Fatalf("bad JSON %q: %v", f.Payload, err)
	}
	return ev
}

// decodeEvent decodes an event, leaving it zero if data is not one.
func decodeEvent(data []byte) event {
	var ev event
	json.Unmarshal(data, &ev)
	return ev
}
