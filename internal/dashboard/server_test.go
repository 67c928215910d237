package dashboard

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatplatform/chat/internal/broker"
	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// startChatServer runs a chat server admitting at most maxConns
// connections, other settings at their defaults, on a loopback port, as a
// cluster node on a NATS server (JetStream) in the test process so that
// the broker's series exist, and shuts both down at cleanup. It returns
// the server's address.
func startChatServer(t *testing.T, maxConns int) string {
	t.Helper()
	ns := servertest.NATS(t, &natsserver.Options{StoreDir: t.TempDir(), Port: -1})
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	b, err := broker.Connect(context.Background(), broker.Config{URLs: ns.ClientURL(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return servertest.Start(t, "127.0.0.1:0", server.Config{MaxConnections: maxConns, Registry: reg, Metrics: m,
		Rooms: rooms.Config{Broker: b}}).Addr
}

// provokeErrors sends the server input it must refuse: an upgrade with a
// client id over 32 characters (HTTP 400, bad_client_id) and a message over
// the 4096-byte limit (close 1009, rejected as too_big).
func provokeErrors(t *testing.T, addr string) {
	t.Helper()
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/"+strings.Repeat("x", 33), nil)
	if err == nil {
		t.Fatal("upgrade with a 33-character client id succeeded")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("upgrade with a 33-character client id: %v, response %v; want HTTP 400", err, resp)
	}
	resp.Body.Close()

	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/oversize?room=dashboard-errors", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 4097))); err != nil {
		t.Fatalf("write oversize message: %v", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // welcome and join notice
		}
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("after an oversize message: %v, want close 1009", err)
		}
		return
	}
}
