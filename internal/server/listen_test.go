package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/testkit"
)

// The options net.Listen's connections get one by one (no Nagle delay,
// keep-alive every 15 s) reach the server's connections, which it accepts
// itself, from the listening socket.
func TestAcceptedConnectionsHaveNoDelayAndKeepAlive(t *testing.T) {
	srv, err := New(Config{Registry: prometheus.NewRegistry(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	}()
	// Connections the kernel completed before Serve took the socket over
	// were made with the options of then.
	testkit.WaitFor(t, "Serve to take the listener over", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.listeners) == 1
	})
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws/ana", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sessions := srv.sessions.snapshot(nil)
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	want := []struct {
		name       string
		level, opt int
		value      int
	}{
		{name: "TCP_NODELAY", level: unix.IPPROTO_TCP, opt: unix.TCP_NODELAY, value: 1},
		{name: "SO_KEEPALIVE", level: unix.SOL_SOCKET, opt: unix.SO_KEEPALIVE, value: 1},
		{name: "TCP_KEEPIDLE", level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPIDLE, value: keepAliveIdle},
		{name: "TCP_KEEPINTVL", level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPINTVL, value: keepAliveInterval},
		{name: "TCP_KEEPCNT", level: unix.IPPROTO_TCP, opt: unix.TCP_KEEPCNT, value: keepAliveCount},
	}
	sessions[0].fd.Control(func(fd uintptr) {
		for _, o := range want {
			if v, err := unix.GetsockoptInt(int(fd), o.level, o.opt); err != nil || v != o.value {
				t.Errorf("%s = %d (%v), want %d", o.name, v, err, o.value)
			}
		}
	})
}

// Serve takes over TCP listeners only, and says so.
func TestServeRefusesListenersOtherThanTCP(t *testing.T) {
	srv, err := New(Config{Registry: prometheus.NewRegistry(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ln, err := net.Listen("unix", t.TempDir()+"/chat.sock")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err == nil || errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve of a Unix listener returned %v, want an error", err)
	}
}
