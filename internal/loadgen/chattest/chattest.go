// Package chattest is a small chat server that speaks the wire protocol well
// enough for load generator tests (welcome on join, every text frame
// broadcast to the room as a message event with a room seq, the sender
// included) and can drop or delay deliveries on purpose, so that tests can
// check that the load generator notices.
//
// Usage:
//
//	s := chattest.Start(t, func(s *chattest.Server) { s.DropEvery = 5 })
//	cfg := loadgen.Config{URL: s.URL, ...}
//	...
//	if r.Lost != s.Dropped() { ... }
package chattest

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Server is a chat server for tests. Set its fields in the configure
// function given to Start; they are static afterwards.
type Server struct {
	// URL is the base WebSocket URL, ws://127.0.0.1:port.
	URL string
	// DropEvery, when > 0, skips the delivery of every DropEvery-th
	// message event to one recipient (the first in the room's member
	// order), so that exactly one delivery per DropEvery messages is lost.
	DropEvery int64
	// Delay holds each delivery back this long.
	Delay time.Duration
	// EchoSubprotocol makes the server answer a client offering chat.v1
	// with it, as the chat server does; without it the server answers
	// with no subprotocol, as a server that does not know it.
	EchoSubprotocol bool

	mu    sync.Mutex
	rooms map[string]*room // guarded by mu

	messages atomic.Int64
	dropped  atomic.Int64
	upgrades atomic.Int64
	offered  atomic.Int64
}

// Upgrades reports how many WebSocket connections the server accepted.
func (s *Server) Upgrades() int64 { return s.upgrades.Load() }

// Offered reports how many of them offered the chat.v1 subprotocol.
func (s *Server) Offered() int64 { return s.offered.Load() }

// Messages reports how many chat messages the server has received.
func (s *Server) Messages() int64 { return s.messages.Load() }

// Dropped reports how many deliveries DropEvery has skipped.
func (s *Server) Dropped() int64 { return s.dropped.Load() }

type room struct {
	seq     int64
	members []*conn
}

type conn struct {
	ws   *websocket.Conn
	out  chan []byte
	done chan struct{}
}

// Start starts a Server on a loopback port; it stops when the test ends.
func Start(t testing.TB, configure func(*Server)) *Server {
	t.Helper()
	s := &Server{rooms: map[string]*room{}}
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.serveWS)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.URL = "ws://" + ln.Addr().String()
	return s
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/ws/")
	if !ok || id == "" {
		http.Error(w, "bad client id", http.StatusBadRequest)
		return
	}
	roomName := r.URL.Query().Get("room")
	if roomName == "" {
		roomName = "general"
	}
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	if s.EchoSubprotocol {
		upgrader.Subprotocols = []string{"chat.v1"}
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.upgrades.Add(1)
	if slices.Contains(websocket.Subprotocols(r), "chat.v1") {
		s.offered.Add(1)
	}
	c := &conn{ws: ws, out: make(chan []byte, 1<<16), done: make(chan struct{})}
	go c.writeLoop(s.Delay)

	s.mu.Lock()
	rm := s.rooms[roomName]
	if rm == nil {
		rm = &room{}
		s.rooms[roomName] = rm
	}
	rm.members = append(rm.members, c)
	welcome, _ := json.Marshal(map[string]any{"type": "welcome", "client_id": id, "room": roomName, "seq": rm.seq, "member_count": len(rm.members)})
	c.out <- welcome
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		for i, m := range rm.members {
			if m == c {
				rm.members = append(rm.members[:i], rm.members[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		close(c.done)
	}()
	for {
		_, text, err := ws.ReadMessage()
		if err != nil {
			return
		}
		s.mu.Lock()
		rm.seq++
		n := s.messages.Add(1)
		ev, _ := json.Marshal(map[string]any{"type": "message", "client_id": id, "message": string(text), "room": roomName, "seq": rm.seq, "timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z")})
		for i, m := range rm.members {
			if s.DropEvery > 0 && n%s.DropEvery == 0 && i == 0 {
				s.dropped.Add(1)
				continue
			}
			select {
			case m.out <- ev:
			default: // a test server does not grow queues without bound
			}
		}
		s.mu.Unlock()
	}
}

func (c *conn) writeLoop(delay time.Duration) {
	for {
		select {
		case <-c.done:
			return
		case b := <-c.out:
			if delay > 0 {
				time.Sleep(delay)
			}
			if c.ws.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		}
	}
}
