package rooms

import (
	"encoding/json"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/testkit"
)

// bench is a registry with an outbound pool whose members sit on real
// loopback TCP connections, read by test peers.
type bench struct {
	reg  *Registry
	pool *outbound.Pool
	m    *metrics.Metrics
	ln   net.Listener
}

func newBench(t testing.TB, cfg Config, ocfg outbound.Config) *bench {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry())
	ocfg.Metrics = m
	pool, err := outbound.New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics = m
	cfg.Clock = pool.Clock
	reg := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		reg.Close()
		pool.Close()
	})
	return &bench{reg: reg, pool: pool, m: m, ln: ln}
}

// owner tears its connection down as the server's session would.
type owner struct {
	out  *outbound.Conn
	conn net.Conn
	raw  syscall.RawConn
}

func (o *owner) Descriptor() syscall.RawConn { return o.raw }
func (o *owner) CloseWritten()               { o.out.Finish(); o.conn.Close() }
func (o *owner) WriteFailed()                { o.out.Finish(); o.conn.Close() }

// peer is the far end of a member's connection: it reads and decodes every
// frame written to it.
type peer struct {
	out    *outbound.Conn
	frames chan ws.Frame // closed when the connection ends
}

// connect makes a loopback connection whose server side feeds an outbound
// conn, and starts reading its client side.
func (b *bench) connect(t testing.TB) *peer {
	t.Helper()
	client, err := net.Dial("tcp", b.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := b.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	o := &owner{conn: server, raw: raw}
	o.out = b.pool.NewConn(o)
	p := &peer{out: o.out, frames: make(chan ws.Frame, 1<<14)}
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
	t.Cleanup(func() { client.Close(); server.Close() })
	return p
}

// join connects a peer and joins it to room.
func (b *bench) join(t testing.TB, id, room string, since int64, epoch string) (*Member, *peer) {
	t.Helper()
	p := b.connect(t)
	m, err := b.reg.Join(JoinRequest{ClientID: id, Room: room, Since: since, Epoch: epoch, Extended: true, Out: p.out})
	if err != nil {
		t.Fatal(err)
	}
	p.out.Start()
	return m, p
}

type event struct {
	Type        string   `json:"type"`
	ClientID    string   `json:"client_id"`
	Message     string   `json:"message"`
	Room        string   `json:"room"`
	Timestamp   string   `json:"timestamp"`
	Seq         uint64   `json:"seq"`
	Epoch       string   `json:"epoch"`
	MemberCount int      `json:"member_count"`
	Members     []string `json:"members"`
	Gap         bool     `json:"gap"`
	ID          string   `json:"id"`
}

// chat returns the next event that is not a welcome, notice or presence:
// a message, ack or typing event.
func (p *peer) chat(t testing.TB) event {
	t.Helper()
	for {
		switch ev := p.event(t); ev.Type {
		case "welcome", "connection", "disconnection", "presence":
		default:
			return ev
		}
	}
}

// next returns the next frame, skipping pings.
func (p *peer) next(t testing.TB) ws.Frame {
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

func (p *peer) event(t testing.TB) event {
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

func (p *peer) expectType(t testing.TB, typ string) event {
	t.Helper()
	ev := p.event(t)
	if ev.Type != typ {
		t.Fatalf("got %+v, want type %s", ev, typ)
	}
	return ev
}
