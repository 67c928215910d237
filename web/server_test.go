package web_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/server"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// testServer is a real chat server on a loopback listener.
type testServer struct {
	Addr string

	t    *testing.T
	srv  *server.Server
	done chan error
	once sync.Once
}

// startServer starts a chat server listening on addr ("127.0.0.1:0" for a
// fresh port) and stops it when the test ends.
func startServer(t *testing.T, addr string) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	srv, err := server.New(server.Config{
		Logger:   zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	s := &testServer{Addr: ln.Addr().String(), t: t, srv: srv, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ln) }()
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down (close 1001 to every client) and waits for
// Serve to return. Stop may be called more than once.
func (s *testServer) Stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.t.Errorf("server shutdown: %v", err)
		}
		if err := <-s.done; err != nil && !errors.Is(err, server.ErrServerClosed) {
			s.t.Errorf("server Serve: %v", err)
		}
	})
}
