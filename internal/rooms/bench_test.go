package rooms

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/outbound"
)

// sinkRoom joins n members to one room; each member's connection is its
// own descriptor on /dev/null, which takes every write at once. Fan-out to
// 10,000 members over real sockets needs 20,000 descriptors in one
// process, more than this machine allows; the loadgen measures that end to
// end.
func sinkRoom(tb testing.TB, n int) (*bench, []*Member, []*outbound.Conn) {
	tb.Helper()
	b := newBench(tb, Config{PresenceInterval: time.Hour}, outbound.Config{MaxCoalesce: -1, MaxConns: n})
	var members []*Member
	var conns []*outbound.Conn
	for i := range n {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { f.Close() })
		raw, err := f.SyscallConn()
		if err != nil {
			tb.Fatal(err)
		}
		o := &owner{raw: raw}
		o.out = b.pool.NewConn(o)
		m, err := b.reg.Join(JoinRequest{ClientID: fmt.Sprint(i), Room: "bench", Since: NoResume, Extended: true, Out: o.out})
		if err != nil {
			tb.Fatal(err)
		}
		o.out.Start()
		members, conns = append(members, m), append(conns, o.out)
	}
	return b, members, conns
}

// drained waits until every connection has written everything queued.
func drained(conns []*outbound.Conn) {
	for _, c := range conns {
		for c.Queued() > 0 {
			runtime.Gosched()
		}
	}
}

// broadcastOnce publishes one message and waits for every member's write,
// so that the writers' work and allocations are part of the measurement.
func broadcastOnce(b *bench, sender *Member, conns []*outbound.Conn, msg []byte) {
	b.reg.Publish(sender, msg, time.Now())
	drained(conns)
}

// BenchmarkBroadcast measures one message fanned out to a room and written
// to every member.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			bn, members, conns := sinkRoom(b, n)
			msg := make([]byte, 64)
			// Warm up: queues reach their steady capacity after a few rounds.
			for range 50 {
				broadcastOnce(bn, members[0], conns, msg)
			}
			b.ReportAllocs()
			for b.Loop() {
				broadcastOnce(bn, members[0], conns, msg)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// Fan-out allocates per message, never per recipient: the allocations of
// one broadcast, written to every member, are the same in a room of 10 and
// of 1,000.
func TestBroadcastAllocationsDoNotGrowWithRoom(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts vary under the race detector (sync.Pool drops items); run without -race")
	}
	allocs := map[int]float64{}
	for _, n := range []int{10, 1000} {
		bn, members, conns := sinkRoom(t, n)
		msg := make([]byte, 64)
		for range 50 {
			broadcastOnce(bn, members[0], conns, msg)
		}
		allocs[n] = testing.AllocsPerRun(200, func() { broadcastOnce(bn, members[0], conns, msg) })
	}
	t.Logf("allocations per broadcast: %v", allocs)
	if allocs[1000] > allocs[10] {
		t.Fatalf("a broadcast to 1,000 members allocates %v times, to 10 members %v: deliveries allocate", allocs[1000], allocs[10])
	}
}

// A delivery allocates nothing: a broadcast to 1,000 members, written to
// every one, allocates exactly what a broadcast to one member does (the
// message's event and frame), so each of the 999 further deliveries
// allocates 0 times.
func TestBroadcastAllocatesNothingPerDelivery(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts vary under the race detector (sync.Pool drops items); run without -race")
	}
	allocs := map[int]float64{}
	for _, n := range []int{1, 1000} {
		bn, members, conns := sinkRoom(t, n)
		msg := make([]byte, 64)
		for range 50 {
			broadcastOnce(bn, members[0], conns, msg)
		}
		allocs[n] = testing.AllocsPerRun(200, func() { broadcastOnce(bn, members[0], conns, msg) })
	}
	if perDelivery := (allocs[1000] - allocs[1]) / 999; perDelivery != 0 {
		t.Fatalf("allocations per broadcast: %v to 1 member, %v to 1,000: %.4f per delivery, want 0", allocs[1], allocs[1000], perDelivery)
	}
}
