package hub

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
)

// sinkConn is a connection whose writes vanish and are counted. Once the
// joins are flushed, each broadcast is one frame, and so one Write, per
// member. Fan-out of
// 10,000 members over real sockets needs 20,000 descriptors in one process,
// more than this machine allows; the loadgen measures that end to end.
type sinkConn struct {
	net.Conn // nil: only the methods below are used
	written  *atomic.Int64
}

func (s sinkConn) Write(p []byte) (int, error)      { s.written.Add(1); return len(p), nil }
func (s sinkConn) SetWriteDeadline(time.Time) error { return nil }
func (s sinkConn) Close() error                     { return nil }

// BenchmarkBroadcast measures one message fanned out to a room and flushed
// to every member. Allocations per op must not grow with the room.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := New(Config{Metrics: metrics.New(prometheus.NewRegistry()), Logger: zap.NewNop(), MaxCoalesce: -1, MaxClients: n,
				PresenceInterval: time.Hour}) // no presence events during the run
			defer h.Shutdown(context.Background())
			var written atomic.Int64
			var sender *Client
			for i := range n {
				sender = h.Join(JoinRequest{Conn: sinkConn{written: &written}, ClientID: fmt.Sprint(i), Room: "bench", Since: NoResume})
			}
			msg := make([]byte, 64)
			// Let the joins flush, then measure the steady state: a welcome
			// each, and join notices to everyone up to the notice limit, to
			// the joiner alone above it.
			small := min(n, DefaultNoticeLimit)
			for testutil.ToFloat64(h.cfg.Metrics.MessagesDelivered) < float64(n+small*(small+1)/2+n-small) {
				time.Sleep(time.Millisecond)
			}
			want := written.Load()
			broadcast := func() {
				h.Broadcast(sender, msg, time.Now())
				// Wait for every member's write, so that the writers' work
				// and allocations are part of the measurement.
				want += int64(n)
				for written.Load() < want {
					runtime.Gosched()
				}
			}
			// Warm up: queues reach their steady capacity after a few rounds.
			for range 50 {
				broadcast()
			}
			b.ReportAllocs()
			for b.Loop() {
				broadcast()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
