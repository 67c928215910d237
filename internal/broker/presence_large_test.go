package broker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chatplatform/chat/internal/broker"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/servertest"
	"github.com/chatplatform/chat/internal/testkit"
)

// view is what a room knows of the other nodes' members, kept as package
// rooms keeps it, from the changes a RoomPresence applies.
type view struct {
	mu    sync.Mutex
	nodes map[string]map[string]bool // guarded by mu
}

func newView() *view { return &view{nodes: make(map[string]map[string]bool)} }

func (v *view) apply(c rooms.RemoteChange) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ids := v.nodes[c.Node]
	if c.Full || ids == nil {
		ids = make(map[string]bool)
	}
	for _, id := range c.Joined {
		ids[id] = true
	}
	for _, id := range c.Left {
		delete(ids, id)
	}
	v.nodes[c.Node] = ids
}

// size returns the number of distinct ids over every node.
func (v *view) size() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	all := make(map[string]bool)
	for _, ids := range v.nodes {
		for id := range ids {
			all[id] = true
		}
	}
	return len(all)
}

// TestPresenceLargeRoster has a room of thousands of members on one node,
// on a NATS server whose max payload holds a few hundred of them: a node
// that opens the room gets them all before OpenPresence returns (a roster
// in parts), later joins and leaves in bulk reach it (deltas in parts),
// and no part is lost (no resync).
func TestPresenceLargeRoster(t *testing.T) {
	ns := servertest.NATS(t, &natsserver.Options{StoreDir: t.TempDir(), Port: -1, MaxPayload: 16 << 10})
	a, _ := connectBroker(t, ns)
	b, mb := connectBroker(t, ns)
	const n = 5000
	pa := a.OpenPresence("big", newView().apply)
	defer pa.Close()
	for i := range n {
		pa.Joined(fmt.Sprintf("member-%05d", i))
	}
	vb := newView()
	pb := b.OpenPresence("big", vb.apply)
	defer pb.Close()
	if got := vb.size(); got != n {
		t.Fatalf("after OpenPresence: %d members known, want %d", got, n)
	}
	for i := n; i < 2*n; i++ {
		pa.Joined(fmt.Sprintf("member-%05d", i))
	}
	testkit.WaitFor(t, fmt.Sprintf("%d members", 2*n), func() bool { return vb.size() == 2*n })
	for i := range 2 * n {
		pa.Left(fmt.Sprintf("member-%05d", i))
	}
	testkit.WaitFor(t, "no members", func() bool { return vb.size() == 0 })
	if got := testutil.ToFloat64(mb.BrokerPresenceResyncs); got != 0 {
		t.Fatalf("%v resyncs, want none", got)
	}
}

// BenchmarkPresenceRamp joins 5,000 client ids to one room on one node,
// one at a time as a ramp does, while two other nodes follow the room, and
// reports the NATS messages and bytes the two followers received per
// join: all at once (burst), and paced at about 10,000 joins a second
// (10 every millisecond), where deltas gather what batchDelay allows.
func BenchmarkPresenceRamp(b *testing.B) {
	for _, bc := range []struct {
		name  string
		pause time.Duration // after every 10 joins
	}{{"burst", 0}, {"paced", time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			ns := servertest.NATS(b, &natsserver.Options{StoreDir: b.TempDir(), Port: -1})
			nodes := make([]*broker.Broker, 3)
			for i := range nodes {
				nodes[i], _ = connectBroker(b, ns)
			}
			const n = 5000
			var msgs, bytes int64
			round := 0
			for b.Loop() {
				room := fmt.Sprint("ramp", round)
				round++
				pa := nodes[0].OpenPresence(room, newView().apply)
				followers := []*view{newView(), newView()}
				var ps []rooms.RoomPresence
				for i, v := range followers {
					ps = append(ps, nodes[i+1].OpenPresence(room, v.apply))
				}
				before, _ := ns.Varz(nil)
				for i := range n {
					pa.Joined(fmt.Sprint("c", i))
					if bc.pause > 0 && i%10 == 9 {
						time.Sleep(bc.pause)
					}
				}
				for _, v := range followers {
					for v.size() < n {
						time.Sleep(time.Millisecond)
					}
				}
				after, _ := ns.Varz(nil)
				msgs += after.OutMsgs - before.OutMsgs
				bytes += after.OutBytes - before.OutBytes
				pa.Close()
				for _, p := range ps {
					p.Close()
				}
			}
			joins := float64(round * n)
			b.ReportMetric(float64(msgs)/joins, "natsmsgs/join")
			b.ReportMetric(float64(bytes)/joins, "natsbytes/join")
		})
	}
}
