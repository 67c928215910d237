package dashboard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/server"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// startChatServer runs a chat server admitting at most maxConns
// connections, other settings at their defaults, on a loopback port and
// shuts it down at cleanup. It returns the server's address.
func startChatServer(t *testing.T, maxConns int) string {
	t.Helper()
	srv, err := server.New(server.Config{
		Logger:         zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		Registry:       prometheus.NewRegistry(),
		MaxConnections: maxConns,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
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
