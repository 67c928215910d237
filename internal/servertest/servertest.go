// Package servertest runs a real chat server on a loopback port for tests
// and reads its metrics.
//
// Usage:
//
//	s := servertest.Start(t, "127.0.0.1:0", server.Config{})
//	conn, _, err := websocket.DefaultDialer.Dial(s.URL()+"/ws/ana", nil)
//	...
//	if got := s.Metric(t, "chat_connections_closed_total", "reason", "normal"); got != 1 { ... }
package servertest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chatplatform/chat/internal/server"
)

// Server is a chat server serving on a loopback listener.
type Server struct {
	*server.Server
	// Addr is the listener's host:port.
	Addr string
	// Registry holds the server's metrics.
	Registry *prometheus.Registry

	t      testing.TB
	served chan error
	once   sync.Once
}

// Start runs a server with cfg on addr ("127.0.0.1:0" for a fresh port)
// until Stop or the end of the test. A nil cfg.Logger logs warnings and
// errors to the test; a nil cfg.Registry is a new registry.
func Start(t testing.TB, addr string, cfg server.Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s := &Server{Server: srv, Addr: ln.Addr().String(), Registry: cfg.Registry, t: t, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(ln) }()
	t.Cleanup(s.Stop)
	return s
}

// URL returns the server's base WebSocket URL, ws://host:port.
func (s *Server) URL() string { return "ws://" + s.Addr }

// Stop shuts the server down (close 1001 to every client), waits for Serve
// to return and reports an unclean stop as a test error. Stop may be called
// more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			s.t.Errorf("server shutdown: %v", err)
		}
		if err := <-s.served; !errors.Is(err, server.ErrServerClosed) {
			s.t.Errorf("Serve returned %v, want server.ErrServerClosed", err)
		}
	})
}

// Metric returns the sum of the series of the counter, gauge or histogram
// (its sample count) called name whose labels include the given name and
// value pairs; 0 when there is none.
func (s *Server) Metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := s.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}
