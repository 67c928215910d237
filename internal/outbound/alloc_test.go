package outbound

import (
	"os"
	"runtime"
	"testing"
)

// sinkConn returns a started connection whose descriptor is /dev/null,
// which takes every write at once.
func sinkConn(t *testing.T, p *Pool) *Conn {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{raw: raw}
	c := p.NewConn(r)
	r.out = c
	c.Start()
	t.Cleanup(c.Finish)
	return c
}

// A delivery allocates nothing once a connection's buffers are warm: Send
// queues the shared frame, a writer takes it, writes it and releases the
// connection, with what the pool and the writer reuse.
func TestDeliveryAllocatesNothing(t *testing.T) {
	p := newTestPool(t, Config{Writers: 4})
	conns := []*Conn{sinkConn(t, p), sinkConn(t, p), sinkConn(t, p)}
	frame := []byte("\x81\x05hello")
	deliver := func() {
		now := p.Clock()
		for _, c := range conns {
			c.Send(frame, now)
			c.Send(frame, now)
		}
		for _, c := range conns {
			for c.Queued() > 0 {
				runtime.Gosched()
			}
		}
	}
	for range 100 {
		deliver()
	}
	if a := testing.AllocsPerRun(500, deliver); a != 0 {
		t.Fatalf("%v allocations per round of 6 deliveries, want 0", a)
	}
}
