package loadgen

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer speaks the chat protocol well enough for the load generator:
// welcome on join, every text frame broadcast to the room as a message event
// with a room seq, the sender included. It can misbehave on purpose.
type fakeServer struct {
	// Static after start.
	URL string
	// dropEvery, when > 0, skips the delivery of every dropEvery-th
	// message event to one recipient (the first recipient in the room's
	// member order), so that exactly one delivery per dropEvery messages
	// is lost.
	dropEvery int64
	// delay holds each delivery back this long.
	delay time.Duration

	mu    sync.Mutex
	rooms map[string]*fakeRoom // guarded by mu

	messages atomic.Int64
	dropped  atomic.Int64
}

type fakeRoom struct {
	seq     int64
	members []*fakeConn
}

type fakeConn struct {
	ws   *websocket.Conn
	out  chan []byte
	done chan struct{}
}

func startFakeServer(t *testing.T, configure func(*fakeServer)) *fakeServer {
	t.Helper()
	s := &fakeServer{rooms: map[string]*fakeRoom{}}
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

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *fakeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/ws/")
	if !ok || id == "" {
		http.Error(w, "bad client id", http.StatusBadRequest)
		return
	}
	room := r.URL.Query().Get("room")
	if room == "" {
		room = "general"
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws, out: make(chan []byte, 1<<16), done: make(chan struct{})}
	go c.writeLoop(s.delay)

	s.mu.Lock()
	rm := s.rooms[room]
	if rm == nil {
		rm = &fakeRoom{}
		s.rooms[room] = rm
	}
	rm.members = append(rm.members, c)
	welcome, _ := json.Marshal(map[string]any{"type": "welcome", "client_id": id, "room": room, "seq": rm.seq, "member_count": len(rm.members)})
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
		ev, _ := json.Marshal(map[string]any{"type": "message", "client_id": id, "message": string(text), "room": room, "seq": rm.seq, "timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z")})
		for i, m := range rm.members {
			if s.dropEvery > 0 && n%s.dropEvery == 0 && i == 0 {
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

func (c *fakeConn) writeLoop(delay time.Duration) {
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
