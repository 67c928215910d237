package outbound

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/testkit"
)

// Every frame reaches every peer, once and in order, while the pacer holds
// connections in the timing wheel and peers that pause fill their sockets,
// so that connections also wait for writability: no path through the
// scheduling (ready, wheel, writability, rescheduled with more queued)
// loses a connection.
func TestNoConnectionIsLostBetweenWheelAndWritability(t *testing.T) {
	// A budget of one write per second turns coalescing on at once: every
	// connection is written at most once per MaxCoalesce.
	p := newTestPool(t, Config{Writers: 4, WriteBudget: 1, MaxCoalesce: 3 * time.Millisecond, MaxQueueBytes: 64 << 20})
	const conns, frames, size = 40, 1000, 1000
	errs := make(chan error, conns)
	var outs []*Conn
	for i := range conns {
		c, _, client := pair(t, p)
		c.Start()
		outs = append(outs, c)
		go func() {
			for n := range frames {
				if n%100 == 99 {
					time.Sleep(time.Duration(10+i%3*5) * time.Millisecond) // a pause fills the socket
				}
				client.SetReadDeadline(time.Now().Add(20 * time.Second))
				f, err := testkit.ReadFrame(client)
				if err != nil {
					errs <- fmt.Errorf("peer %d, frame %d: %w", i, n, err)
					return
				}
				if got := binary.BigEndian.Uint32(f.Payload); f.Header.OpCode != ws.OpText || got != uint32(n) {
					errs <- fmt.Errorf("peer %d: got frame %d, want %d", i, got, n)
					return
				}
			}
			errs <- nil
		}()
	}
	coalesced := false
	for n := range frames {
		payload := make([]byte, size)
		binary.BigEndian.PutUint32(payload, uint32(n))
		frame := protocol.Frame(ws.OpText, payload)
		now := p.Clock()
		for _, c := range outs {
			c.Send(frame, now)
		}
		coalesced = coalesced || p.coalesce.Load() > 0
		// Frames come about as fast as a connection is written: most
		// are queued while the connection is idle or being written, and
		// wait for the wheel.
		time.Sleep(500 * time.Microsecond)
	}
	for range conns {
		if err := <-errs; err != nil {
			for i, c := range outs {
				t.Logf("conn %d: %s", i, c.StateForTest())
			}
			t.Fatal(err)
		}
	}
	armed := 0
	for _, c := range outs {
		if c.everArmed.Load() {
			armed++
		}
	}
	if !coalesced || armed == 0 {
		t.Fatalf("coalescing seen %v, %d connections waited for writability: the test did not take both paths", coalesced, armed)
	}
}
