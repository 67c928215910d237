package broker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/broker"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/testkit"
)

// waitFor waits for an event of type typ about client id and returns it.
func (c *client) waitFor(typ, id string) event {
	c.t.Helper()
	var got event
	testkit.WaitFor(c.t, fmt.Sprintf("%s of %s at %s", typ, id, c.id), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ev := range c.events {
			if ev.Type == typ && ev.ClientID == id {
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

// count returns how many events of type typ about client id c got.
func (c *client) count(typ, id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ev := range c.events {
		if ev.Type == typ && ev.ClientID == id {
			n++
		}
	}
	return n
}

// checkWelcome fails the test unless c's welcome counts n members and
// lists exactly ids.
func checkWelcome(t *testing.T, c *client, n int, ids ...string) {
	t.Helper()
	got := slices.Sorted(slices.Values(c.welcome.Members))
	if c.welcome.MemberCount != n || !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
		t.Fatalf("%s welcome: member_count %d, members %v; want %d, %v", c.id, c.welcome.MemberCount, got, n, ids)
	}
}

// leftNode waits until n has torn down every connection but want.
func leftNode(t *testing.T, n *node, want int) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%d connections on %s", want, n.Addr), func() bool {
		return n.Metric(t, "chat_connections") == float64(want)
	})
}

// TestPresenceAcrossNodes has clients on three nodes in one room: each
// welcome counts and lists the members of every node, join and leave
// notices reach every node with the cluster's member count, and a client
// id on two nodes is one member, announced once.
func TestPresenceAcrossNodes(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	a, b, c := startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL())
	a1 := dial(t, a, "a1", "r", rooms.NoResume, "")
	checkWelcome(t, a1, 1, "a1")
	b1 := dial(t, b, "b1", "r", rooms.NoResume, "")
	checkWelcome(t, b1, 2, "a1", "b1")
	c1 := dial(t, c, "c1", "r", rooms.NoResume, "")
	checkWelcome(t, c1, 3, "a1", "b1", "c1")
	for _, cl := range []*client{a1, b1} {
		if ev := cl.waitFor(protocol.TypeConnection, "c1"); ev.MemberCount != 3 {
			t.Fatalf("%s: join of c1 %+v, want member_count 3", cl.id, ev)
		}
	}
	if ev := a1.waitFor(protocol.TypeConnection, "b1"); ev.MemberCount != 2 {
		t.Fatalf("a1: join of b1 %+v, want member_count 2", ev)
	}

	a2 := dial(t, a, "a2", "r", rooms.NoResume, "")
	checkWelcome(t, a2, 4, "a1", "a2", "b1", "c1")
	for _, cl := range []*client{a1, b1, c1} {
		if ev := cl.waitFor(protocol.TypeConnection, "a2"); ev.MemberCount != 4 {
			t.Fatalf("%s: join of a2 %+v, want member_count 4", cl.id, ev)
		}
	}
	a2.close()
	for _, cl := range []*client{a1, b1, c1} {
		if ev := cl.waitFor(protocol.TypeDisconnection, "a2"); ev.MemberCount != 3 {
			t.Fatalf("%s: leave of a2 %+v, want member_count 3", cl.id, ev)
		}
	}
	leftNode(t, a, 1)

	// One client id on two nodes.
	dupA := dial(t, a, "dup", "r", rooms.NoResume, "")
	checkWelcome(t, dupA, 4, "a1", "b1", "c1", "dup")
	for _, cl := range []*client{a1, b1, c1} {
		cl.waitFor(protocol.TypeConnection, "dup")
	}
	dupB := dial(t, b, "dup", "r", rooms.NoResume, "")
	checkWelcome(t, dupB, 4, "a1", "b1", "c1", "dup")
	// A later join on b: once a knows it, it knows dup is on b too.
	dial(t, b, "s", "r", rooms.NoResume, "")
	a1.waitFor(protocol.TypeConnection, "s")
	dupA.close()
	leftNode(t, a, 1)
	dupB.close()
	for _, cl := range []*client{a1, b1, c1} {
		if ev := cl.waitFor(protocol.TypeDisconnection, "dup"); ev.MemberCount != 4 {
			t.Fatalf("%s: leave of dup %+v, want member_count 4", cl.id, ev)
		}
	}
	// Later joins on both of dup's nodes: whatever either said of dup
	// has reached every node by the time these are seen.
	leftNode(t, b, 2)
	dial(t, a, "za", "r", rooms.NoResume, "")
	dial(t, b, "zb", "r", rooms.NoResume, "")
	for _, cl := range []*client{a1, b1, c1} {
		cl.waitFor(protocol.TypeConnection, "za")
		cl.waitFor(protocol.TypeConnection, "zb")
		if j, l := cl.count(protocol.TypeConnection, "dup"), cl.count(protocol.TypeDisconnection, "dup"); j != 1 || l != 1 {
			t.Fatalf("%s: dup announced joined %d and left %d times, want once each", cl.id, j, l)
		}
	}
	if got := a.Metric(t, "chat_broker_nodes"); got != 3 {
		t.Fatalf("chat_broker_nodes %v, want 3", got)
	}

	// c's only member leaves: the room is closed there, and made again by
	// the next join, a new incarnation that starts from nothing.
	c1.close()
	for _, cl := range []*client{a1, b1} {
		if ev := cl.waitFor(protocol.TypeDisconnection, "c1"); ev.MemberCount != 5 {
			t.Fatalf("%s: leave of c1 %+v, want member_count 5", cl.id, ev)
		}
	}
	leftNode(t, c, 0)
	back := dial(t, c, "c1", "r", rooms.NoResume, "")
	checkWelcome(t, back, 6, "a1", "b1", "c1", "s", "za", "zb")
	testkit.WaitFor(t, "c1 announced again", func() bool {
		return a1.count(protocol.TypeConnection, "c1") == 2 && b1.count(protocol.TypeConnection, "c1") == 2
	})
}

// TestPresenceNodeGone drops the members of a node that stops: one that
// dies without a word is dropped once its heartbeats are missed, one that
// closes its broker at once, by its goodbye (the heartbeat is too long
// for anything else to drop it).
func TestPresenceNodeGone(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	t.Run("dead", func(t *testing.T) {
		cfg := broker.Config{Stream: "DEAD", Heartbeat: 50 * time.Millisecond}
		a := startNodeWith(t, ns.ClientURL(), cfg, rooms.Config{})
		b := startNodeWith(t, ns.ClientURL(), cfg, rooms.Config{})
		c := startNodeWith(t, ns.ClientURL(), cfg, rooms.Config{})
		a1 := dial(t, a, "a1", "r", rooms.NoResume, "")
		b1 := dial(t, b, "b1", "r", rooms.NoResume, "")
		c1 := dial(t, c, "c1", "r", rooms.NoResume, "")
		checkWelcome(t, c1, 3, "a1", "b1", "c1")
		a1.waitFor(protocol.TypeConnection, "c1")
		b1.waitFor(protocol.TypeConnection, "c1")
		c.b.KillForTest()
		for _, cl := range []*client{a1, b1} {
			if ev := cl.waitFor(protocol.TypeDisconnection, "c1"); ev.MemberCount != 2 {
				t.Fatalf("%s: leave of c1 %+v, want member_count 2", cl.id, ev)
			}
		}
		testkit.WaitFor(t, "chat_broker_nodes 2", func() bool { return a.Metric(t, "chat_broker_nodes") == 2 })
		checkWelcome(t, dial(t, a, "a2", "r", rooms.NoResume, ""), 3, "a1", "a2", "b1")
	})
	t.Run("goodbye", func(t *testing.T) {
		cfg := broker.Config{Stream: "BYE", Heartbeat: time.Hour}
		a := startNodeWith(t, ns.ClientURL(), cfg, rooms.Config{})
		b := startNodeWith(t, ns.ClientURL(), cfg, rooms.Config{})
		a1 := dial(t, a, "a1", "r", rooms.NoResume, "")
		b1 := dial(t, b, "b1", "r", rooms.NoResume, "")
		checkWelcome(t, b1, 2, "a1", "b1")
		a1.waitFor(protocol.TypeConnection, "b1")
		b.b.Close()
		if ev := a1.waitFor(protocol.TypeDisconnection, "b1"); ev.MemberCount != 1 {
			t.Fatalf("leave of b1 %+v, want member_count 1", ev)
		}
		if got := a.Metric(t, "chat_broker_nodes"); got != 1 {
			t.Fatalf("chat_broker_nodes %v after the goodbye, want 1", got)
		}
	})
}

// TestPresenceLargeRoomAcrossNodes has a room past the notice limit by
// its members on other nodes: their joins reach the first node's members
// as presence events with the cluster's count, never as notices.
func TestPresenceLargeRoomAcrossNodes(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	rcfg := rooms.Config{NoticeLimit: 2, PresenceInterval: 20 * time.Millisecond}
	a := startNodeWith(t, ns.ClientURL(), broker.Config{}, rcfg)
	b := startNodeWith(t, ns.ClientURL(), broker.Config{}, rcfg)
	c := startNodeWith(t, ns.ClientURL(), broker.Config{}, rcfg)
	a1 := dial(t, a, "a1", "r", rooms.NoResume, "")
	dial(t, b, "b1", "r", rooms.NoResume, "")
	a1.waitFor(protocol.TypeConnection, "b1") // two members: notices
	for i := range 3 {
		dial(t, c, fmt.Sprint("c", i), "r", rooms.NoResume, "")
	}
	testkit.WaitFor(t, "a presence event counting 5 at a1", func() bool {
		a1.mu.Lock()
		defer a1.mu.Unlock()
		for _, ev := range a1.events {
			if ev.Type == protocol.TypePresence && ev.MemberCount == 5 {
				return true
			}
		}
		return false
	})
	// A notice is queued as its join is applied, before any presence
	// event that counts it.
	if n := a1.count(protocol.TypeConnection, "c2"); n != 0 {
		t.Fatalf("a1 got %d join notices of c2 past the notice limit", n)
	}
	if n := a1.count(protocol.TypeConnection, "c1"); n != 0 {
		t.Fatalf("a1 got %d join notices of c1 past the notice limit", n)
	}
}

// TestPresenceResync loses a node's delta: the Ver sent with its next
// heartbeat shows the gap, and the other node asks for the roster again.
func TestPresenceResync(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	cfg := broker.Config{Heartbeat: 50 * time.Millisecond}
	a, b := startNodeWith(t, ns.ClientURL(), cfg, rooms.Config{}), startNodeWith(t, ns.ClientURL(), cfg, rooms.Config{})
	a1 := dial(t, a, "a1", "r", rooms.NoResume, "")
	b1 := dial(t, b, "b1", "r", rooms.NoResume, "")
	checkWelcome(t, b1, 2, "a1", "b1")
	a1.waitFor(protocol.TypeConnection, "b1")
	before := b.Metric(t, "chat_broker_presence_resyncs_total")
	a.b.LoseDeltaForTest()
	dial(t, a, "a2", "r", rooms.NoResume, "")
	if ev := b1.waitFor(protocol.TypeConnection, "a2"); ev.MemberCount != 3 {
		t.Fatalf("join of a2 %+v, want member_count 3", ev)
	}
	if got := b.Metric(t, "chat_broker_presence_resyncs_total"); got <= before {
		t.Fatalf("resyncs %v, want more than %v", got, before)
	}
	checkWelcome(t, dial(t, b, "b2", "r", rooms.NoResume, ""), 4, "a1", "a2", "b1", "b2")
}

// TestPresenceOutlivesNATS restarts NATS while members come and go on
// both nodes: once the nodes are back, each has the other's members.
func TestPresenceOutlivesNATS(t *testing.T) {
	dir := t.TempDir()
	ns := startNATS(t, dir, -1)
	addr := ns.ClientURL()
	cfg := broker.Config{Heartbeat: 100 * time.Millisecond}
	a := startNodeWith(t, addr, cfg, rooms.Config{})
	b := startNodeWith(t, addr, cfg, rooms.Config{})
	a1 := dial(t, a, "a1", "r", rooms.NoResume, "")
	b1 := dial(t, b, "b1", "r", rooms.NoResume, "")
	bw := dial(t, b, "bw", "r", rooms.NoResume, "")
	checkWelcome(t, bw, 3, "a1", "b1", "bw")
	a1.waitFor(protocol.TypeConnection, "bw")

	ns.Shutdown()
	ns.WaitForShutdown()
	a2 := dial(t, a, "a2", "r", rooms.NoResume, "") // the room is open on a: no NATS needed
	b1.close()
	leftNode(t, b, 1)
	startNATS(t, dir, natsPort(t, addr))

	bw.waitFor(protocol.TypeConnection, "a2")
	testkit.WaitFor(t, "both nodes counting a1, a2 and bw", func() bool {
		return lastCount(a1) == 3 && lastCount(bw) == 3 && lastCount(a2) == 3
	})
}

// lastCount returns the member count of the latest event of c that has
// one.
func lastCount(c *client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.events) - 1; i >= 0; i-- {
		switch ev := c.events[i]; ev.Type {
		case protocol.TypeConnection, protocol.TypeDisconnection, protocol.TypePresence:
			return ev.MemberCount
		}
	}
	return c.welcome.MemberCount
}

// TestTypingAcrossNodes: a client typing on one node is shown typing to
// the chat.v1 members of the other nodes, and not to itself.
func TestTypingAcrossNodes(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	a, b := startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL())
	a1 := dial(t, a, "a1", "r", rooms.NoResume, "")
	b1 := dial(t, b, "b1", "r", rooms.NoResume, "")
	a1.waitFor(protocol.TypeConnection, "b1")
	typing := func(c *client) {
		t.Helper()
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"typing"}`)); err != nil {
			t.Fatal(err)
		}
	}
	typing(a1)
	if ev := b1.waitFor(protocol.TypeTyping, "a1"); ev.ClientID != "a1" {
		t.Fatalf("b1 got %+v", ev)
	}
	typing(b1)
	a1.waitFor(protocol.TypeTyping, "b1")
	// a1 sends a message after typing: by then b1 would have got a typing
	// event of its own, had one been sent back to it.
	a1.send("after typing")
	b1.waitMessages(1)
	if n := b1.count(protocol.TypeTyping, "b1"); n != 0 {
		t.Fatalf("b1 was shown its own typing %d times", n)
	}
}
