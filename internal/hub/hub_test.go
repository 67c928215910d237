package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/testkit"
)

func newTestHub(t *testing.T, cfg Config) *Hub {
	t.Helper()
	cfg.Metrics = metrics.New(prometheus.NewRegistry())
	cfg.Logger = zaptest.NewLogger(t)
	h := New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
	})
	return h
}

// peer is the far end of a client's connection: it reads and decodes
// every frame the hub writes.
type peer struct {
	conn   net.Conn
	frames chan ws.Frame // closed when the connection ends
}

func newPeer(t *testing.T) (server net.Conn, p *peer) {
	t.Helper()
	server, client := net.Pipe()
	p = &peer{conn: client, frames: make(chan ws.Frame, 1<<14)}
	go func() {
		defer close(p.frames)
		for {
			f, err := testkit.ReadFrame(client)
			if err != nil {
				return
			}
			p.frames <- f
		}
	}()
	t.Cleanup(func() { client.Close() })
	return server, p
}

type event struct {
	Type        string   `json:"type"`
	ClientID    string   `json:"client_id"`
	Message     string   `json:"message"`
	Room        string   `json:"room"`
	Timestamp   string   `json:"timestamp"`
	Seq         uint64   `json:"seq"`
	MemberCount int      `json:"member_count"`
	Members     []string `json:"members"`
	Gap         bool     `json:"gap"`
}

// next returns the next frame, skipping pings.
func (p *peer) next(t *testing.T) ws.Frame {
	t.Helper()
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				t.Fatal("connection ended")
			}
			if f.Header.OpCode == ws.OpPing {
				continue
			}
			return f
		case <-time.After(10 * time.Second):
			t.Fatal("no frame within 10s")
		}
	}
}

func (p *peer) event(t *testing.T) event {
	t.Helper()
	f := p.next(t)
	if f.Header.OpCode != ws.OpText {
		t.Fatalf("got %v frame, want text", f.Header.OpCode)
	}
	var ev event
	if err := json.Unmarshal(f.Payload, &ev); err != nil {
		t.Fatalf("bad JSON %q: %v", f.Payload, err)
	}
	return ev
}

func (p *peer) expectType(t *testing.T, typ string) event {
	t.Helper()
	ev := p.event(t)
	if ev.Type != typ {
		t.Fatalf("got %+v, want type %s", ev, typ)
	}
	return ev
}

func (p *peer) expectClose(t *testing.T, code ws.StatusCode) {
	t.Helper()
	for {
		f := p.next(t)
		if f.Header.OpCode == ws.OpClose {
			got, _ := ws.ParseCloseFrameData(f.Payload)
			if got != code {
				t.Fatalf("close code %d, want %d", got, code)
			}
			return
		}
	}
}

func join(t *testing.T, h *Hub, id, room string, since int64) (*Client, *peer) {
	t.Helper()
	server, p := newPeer(t)
	return h.Join(JoinRequest{Conn: server, ClientID: id, Room: room, Since: since}), p
}

func TestJoinMessageLeave(t *testing.T) {
	h := newTestHub(t, Config{})
	ana, pa := join(t, h, "ana", "general", NoResume)
	w := pa.expectType(t, protocol.TypeWelcome)
	if w.MemberCount != 1 || len(w.Members) != 1 || w.Members[0] != "ana" || w.Seq != 0 {
		t.Fatalf("welcome %+v", w)
	}
	if n := pa.expectType(t, protocol.TypeConnection); n.ClientID != "ana" || n.Message != "ana joined the chat" {
		t.Fatalf("own join notice %+v", n)
	}

	bob, pb := join(t, h, "bob", "general", NoResume)
	if w := pb.expectType(t, protocol.TypeWelcome); w.MemberCount != 2 {
		t.Fatalf("welcome %+v", w)
	}
	pb.expectType(t, protocol.TypeConnection)
	if n := pa.expectType(t, protocol.TypeConnection); n.ClientID != "bob" || n.MemberCount != 2 {
		t.Fatalf("ana sees %+v", n)
	}

	h.Broadcast(bob, []byte("hi <ana>"), time.Now())
	for _, p := range []*peer{pa, pb} {
		m := p.expectType(t, protocol.TypeMessage)
		if m.ClientID != "bob" || m.Message != "hi <ana>" || m.Room != "general" || m.Seq != 1 {
			t.Fatalf("message %+v", m)
		}
		if _, err := time.Parse(protocol.TimestampLayout, m.Timestamp); err != nil {
			t.Fatalf("timestamp %q: %v", m.Timestamp, err)
		}
	}

	ana.Close(protocol.CloseNormal, metrics.CloseNormal)
	pa.expectClose(t, protocol.CloseNormal)
	if n := pb.expectType(t, protocol.TypeDisconnection); n.ClientID != "ana" || n.Message != "ana left the chat" || n.MemberCount != 1 {
		t.Fatalf("leave notice %+v", n)
	}
	if got := testutil.ToFloat64(h.cfg.Metrics.ConnectionsClosed.WithLabelValues("normal")); got != 1 {
		t.Fatalf("closed{normal} = %v", got)
	}
}

func TestConcurrentSendersOneOrder(t *testing.T) {
	h := newTestHub(t, Config{})
	const members, perSender = 4, 50
	var clients []*Client
	var peers []*peer
	for i := range members {
		c, p := join(t, h, fmt.Sprintf("c%d", i), "room", NoResume)
		clients, peers = append(clients, c), append(peers, p)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perSender {
				h.Broadcast(c, fmt.Appendf(nil, "%s-%d", c.ID(), j), time.Now())
			}
		}()
	}
	wg.Wait()
	var orders [members][]string
	for i, p := range peers {
		var seq uint64
		for len(orders[i]) < members*perSender {
			ev := p.event(t)
			if ev.Type != protocol.TypeMessage {
				continue
			}
			if ev.Seq != seq+1 {
				t.Fatalf("peer %d: seq %d after %d", i, ev.Seq, seq)
			}
			seq = ev.Seq
			orders[i] = append(orders[i], ev.Message)
		}
	}
	for i := 1; i < members; i++ {
		for j := range orders[0] {
			if orders[i][j] != orders[0][j] {
				t.Fatalf("peer %d sees %q at %d, peer 0 sees %q", i, orders[i][j], j, orders[0][j])
			}
		}
	}
}

func TestLargeRoomNoticesBecomePresence(t *testing.T) {
	h := newTestHub(t, Config{NoticeLimit: 2, PresenceInterval: 20 * time.Millisecond})
	_, pa := join(t, h, "a", "r", NoResume)
	pa.expectType(t, protocol.TypeWelcome)
	pa.expectType(t, protocol.TypeConnection)
	_, pb := join(t, h, "b", "r", NoResume)
	pb.expectType(t, protocol.TypeWelcome)
	pb.expectType(t, protocol.TypeConnection)
	if n := pa.expectType(t, protocol.TypeConnection); n.ClientID != "b" {
		t.Fatalf("small room notice %+v", n)
	}
	// The third member makes the room larger than the limit.
	_, pc := join(t, h, "c", "r", NoResume)
	pc.expectType(t, protocol.TypeWelcome)
	if n := pc.expectType(t, protocol.TypeConnection); n.ClientID != "c" {
		t.Fatalf("joiner's own notice %+v", n)
	}
	if ev := pa.event(t); ev.Type != protocol.TypePresence || ev.MemberCount != 3 {
		t.Fatalf("a got %+v, want presence with 3 members", ev)
	}
}

func TestResumeReplaysKeptMessages(t *testing.T) {
	h := newTestHub(t, Config{History: 4})
	a, pa := join(t, h, "a", "r", NoResume)
	pa.expectType(t, protocol.TypeWelcome)
	pa.expectType(t, protocol.TypeConnection)
	for i := 1; i <= 6; i++ {
		h.Broadcast(a, fmt.Appendf(nil, "m%d", i), time.Now())
		pa.expectType(t, protocol.TypeMessage)
	}
	tests := []struct {
		since    int64
		wantFrom int
		gap      bool
	}{
		{since: 4, wantFrom: 5},
		{since: 6, wantFrom: 7},
		{since: 1, wantFrom: 3, gap: true}, // only 3..6 are kept
		{since: 9, wantFrom: 7, gap: true}, // the room is younger than the client thinks
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.since), func(t *testing.T) {
			_, pb := join(t, h, "b", "r", tt.since)
			w := pb.expectType(t, protocol.TypeWelcome)
			if w.Gap != tt.gap || w.Seq != 6 {
				t.Fatalf("welcome %+v, want gap %v seq 6", w, tt.gap)
			}
			for s := tt.wantFrom; s <= 6; s++ {
				if m := pb.expectType(t, protocol.TypeMessage); m.Seq != uint64(s) || m.Message != fmt.Sprintf("m%d", s) {
					t.Fatalf("replayed %+v, want seq %d", m, s)
				}
			}
			pb.expectType(t, protocol.TypeConnection)
		})
	}
}

func TestSlowConsumerIsClosedOthersUnaffected(t *testing.T) {
	h := newTestHub(t, Config{MaxQueueBytes: 4096, WriteTimeout: 200 * time.Millisecond})
	fast, pf := join(t, h, "fast", "r", NoResume)
	pf.expectType(t, protocol.TypeWelcome)
	pf.expectType(t, protocol.TypeConnection)

	// slow's far end never reads: net.Pipe writes block until read.
	slowConn, slowPeer := net.Pipe()
	t.Cleanup(func() { slowPeer.Close() })
	h.Join(JoinRequest{Conn: slowConn, ClientID: "slow", Room: "r", Since: NoResume})
	pf.expectType(t, protocol.TypeConnection)

	// fast keeps up (each message is read before the next is sent); slow
	// never reads, so its queue passes the bound and it is closed.
	msg := make([]byte, 500)
	for i := range 100 {
		h.Broadcast(fast, msg, time.Now())
		if q := h.QueuedBytes(); q > 2*4096 {
			t.Fatalf("after %d messages %d bytes are queued; the bound is 4096 per client", i, q)
		}
		for {
			ev := pf.event(t)
			if ev.Type == protocol.TypeMessage {
				if ev.Seq != uint64(i+1) {
					t.Fatalf("fast got seq %d, want %d", ev.Seq, i+1)
				}
				break
			}
			if ev.Type != protocol.TypeDisconnection || ev.ClientID != "slow" {
				t.Fatalf("unexpected %+v", ev)
			}
		}
	}
	testkit.WaitFor(t, "slow consumer counted", func() bool {
		return testutil.ToFloat64(h.cfg.Metrics.ConnectionsClosed.WithLabelValues("slow_consumer")) == 1
	})
}

func TestIdleClientIsPingedThenClosed(t *testing.T) {
	h := newTestHub(t, Config{IdleTimeout: 300 * time.Millisecond})
	_, p := join(t, h, "quiet", "r", NoResume)
	sawPing := false
	for {
		f, ok := <-p.frames
		if !ok {
			t.Fatal("ended without a close frame")
		}
		if f.Header.OpCode == ws.OpPing {
			sawPing = true
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			if code != protocol.CloseIdleTimeout || !sawPing {
				t.Fatalf("close %d, pinged %v", code, sawPing)
			}
			break
		}
	}
	testkit.WaitFor(t, "idle close counted", func() bool {
		return testutil.ToFloat64(h.cfg.Metrics.ConnectionsClosed.WithLabelValues("idle_timeout")) == 1
	})
}

func TestShutdownSendsGoingAway(t *testing.T) {
	h := newTestHub(t, Config{})
	var peers []*peer
	for i := range 3 {
		_, p := join(t, h, fmt.Sprint(i), "r", NoResume)
		peers = append(peers, p)
	}
	done := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- h.Shutdown(ctx)
	}()
	for _, p := range peers {
		p.expectClose(t, protocol.CloseGoingAway)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h.Clients() != 0 {
		t.Fatalf("%d clients left", h.Clients())
	}
}
