package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// TestShutdownUnderConnectionStorm shuts a server down with a 1 ms context
// while clients keep connecting, 30 times: Shutdown and Serve return, the
// server closes every client connection, and no connection is left.
func TestShutdownUnderConnectionStorm(t *testing.T) {
	for run := range 30 {
		t.Run(fmt.Sprint(run), func(t *testing.T) { shutdownUnderStorm(t) })
	}
}

func shutdownUnderStorm(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := server.New(server.Config{Registry: reg, Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var stop atomic.Bool
	var connected atomic.Int64
	var dialers, readers sync.WaitGroup
	notClosed := make(chan string, 1000)
	dialer := &websocket.Dialer{HandshakeTimeout: hangDetector, Subprotocols: []string{protocol.Subprotocol}}
	for g := range 8 {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for i := 0; i < 200 && !stop.Load(); i++ {
				conn, _, err := dialer.Dial("ws://"+addr+fmt.Sprintf("/ws/c%d-%d", g, i), nil)
				if err != nil {
					continue
				}
				connected.Add(1)
				readers.Add(1)
				go func() {
					defer readers.Done()
					defer conn.Close()
					conn.SetReadDeadline(time.Now().Add(hangDetector))
					for {
						if _, _, err := conn.ReadMessage(); err != nil {
							var ne net.Error
							if errors.As(err, &ne) && ne.Timeout() {
								notClosed <- conn.LocalAddr().String()
							}
							return
						}
					}
				}()
			}
		}()
	}
	deadline := time.Now().Add(hangDetector)
	for connected.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		srv.Shutdown(ctx) // a 1 ms deadline may cut the flush short: any error is fine
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(hangDetector):
		t.Fatal("Shutdown did not return")
	}
	select {
	case err := <-served:
		if !errors.Is(err, server.ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(hangDetector):
		t.Fatal("Serve did not return")
	}
	stop.Store(true)
	dialers.Wait()
	readers.Wait()
	close(notClosed)
	for a := range notClosed {
		t.Errorf("client %s was never closed by the server", a)
	}
	ss := &servertest.Server{Registry: reg}
	if n := ss.Metric(t, "chat_connections"); n != 0 {
		t.Fatalf("chat_connections %v after Shutdown", n)
	}
}

// panicPoint makes a hook panic once, at the point it is armed for.
type panicPoint struct {
	mu    sync.Mutex
	armed string
}

func (p *panicPoint) arm(point string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = point
}

func (p *panicPoint) hit(point string) {
	p.mu.Lock()
	fire := p.armed == point
	if fire {
		p.armed = ""
	}
	p.mu.Unlock()
	if fire {
		panic("injected at " + point)
	}
}

// TestInjectedPanicsCloseOnlyTheirConnection makes each hook point panic
// once: only the connection being handled closes, and its room keeps
// working for the others, so no lock was left held and nothing leaked.
func TestInjectedPanicsCloseOnlyTheirConnection(t *testing.T) {
	ping := func(c *client) { c.conn.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(hangDetector)) }
	// The outbound points run on writers for whichever connection is
	// flushed: the victim pings from a room of its own, so that its pong
	// is the only frame in flight. The others run on the victim's reader.
	tests := []struct {
		point, room string
		trigger     func(v *client) // nil: the trigger is the victim's join
	}{
		{"join", "r", nil},
		{"publish", "r", func(v *client) { v.send("hello") }},
		{"leave", "r", func(v *client) {
			v.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
		}},
		{"leave", "r", func(v *client) { v.conn.UnderlyingConn().Close() }},
		{"enqueue", "v", ping},
		{"take", "v", ping},
		{"write", "v", ping},
		{"release", "v", ping},
		{"handle", "r", func(v *client) { v.send("boom") }},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(tt.point, i), func(t *testing.T) {
			ts := startServer(t, server.Config{MaxConnections: 4})
			var p panicPoint
			ts.SetHookForTest(func(point string, _ []byte) { p.hit(point) })
			ts.SetRoomsHookForTest(p.hit)
			ts.SetPoolHookForTest(p.hit)
			a := ts.dial(t, "a", "r")
			a.expect(protocol.TypeConnection)
			b := ts.dial(t, "b", "r")
			b.expect(protocol.TypeConnection)
			a.expect(protocol.TypeConnection)
			if tt.trigger == nil {
				p.arm(tt.point)
				conn, _, err := extendedDialer.Dial("ws://"+ts.Addr+"/ws/victim?room=r", nil)
				if err == nil {
					t.Cleanup(func() { conn.Close() })
					if !closedOrCode(conn, 1011) {
						t.Fatal("the joiner whose join panicked was not closed with 1011")
					}
				}
			} else {
				v := ts.dial(t, "victim", tt.room)
				v.expect(protocol.TypeConnection)
				if tt.room == "r" {
					a.expect(protocol.TypeConnection)
					b.expect(protocol.TypeConnection)
				}
				p.arm(tt.point)
				tt.trigger(v)
				if !closedOrCode(v.conn, 1011) && tt.point != "leave" {
					t.Fatal("the victim was not closed with 1011 or a closed socket")
				}
			}
			ts.waitCounter(t, 1, "chat_panics_total")
			ts.waitCounter(t, 2, "chat_connections")
			// The room still works: a message round-trips, and a new
			// member joins and is counted right.
			a.send("after")
			a.expectMessage("after")
			b.expectMessage("after")
			c := ts.dial(t, "c", tt.room)
			want := map[string]int{"r": 3, "v": 1}[tt.room]
			if ev := c.expect(protocol.TypeConnection); ev.MemberCount != want {
				t.Fatalf("join notice %+v: want %d members", ev, want)
			}
			c.roundTrip("late")
			if tt.room == "r" {
				b.expectMessage("late")
			}
			// Every slot was given back: the server fills to its cap.
			d := ts.dial(t, "d", "r")
			d.expect(protocol.TypeConnection)
		})
	}
}

// closedOrCode reports whether conn's reads end with close code or without
// a close frame (a closed socket), within the hang detector.
func closedOrCode(conn *websocket.Conn, code int) bool {
	conn.SetReadDeadline(time.Now().Add(hangDetector))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code == code || ce.Code == websocket.CloseAbnormalClosure
		}
		var ne net.Error
		return !errors.As(err, &ne) || !ne.Timeout()
	}
}
