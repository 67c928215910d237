package broker_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/testkit"
)

// TestThreeNodesOneOrder has two clients on each of three nodes send at
// once into one room: every client, senders included, gets every message
// once, in one order, with the same seq, and the seqs count by one.
func TestThreeNodesOneOrder(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	var nodes []*node
	for range 3 {
		nodes = append(nodes, startNode(t, ns.ClientURL()))
	}
	var clients []*client
	for i, n := range nodes {
		for j := range 2 {
			clients = append(clients, dial(t, n, fmt.Sprintf("c%d%d", i, j), "r", rooms.NoResume, ""))
		}
	}
	const each = 15 // under the rate limit's burst
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for k := range each {
				c.conn.WriteMessage(1, fmt.Appendf(nil, "%s-%d", c.id, k))
			}
		})
	}
	wg.Wait()
	total := each * len(clients)
	want := clients[0].waitMessages(total)
	checkRun(t, clients[0].id, want, 1)
	seen := make(map[string]bool)
	for _, m := range want {
		if seen[m.Message] {
			t.Fatalf("%q delivered twice", m.Message)
		}
		seen[m.Message] = true
	}
	for _, c := range clients[1:] {
		got := c.waitMessages(total)
		if len(got) != total {
			t.Fatalf("%s got %d messages, want %d", c.id, len(got), total)
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].Message != want[i].Message || got[i].ClientID != want[i].ClientID {
				t.Fatalf("%s message %d is %+v, %s has %+v", c.id, i, got[i], clients[0].id, want[i])
			}
		}
	}
	// A sender's own messages are in the order it sent them.
	next := make(map[string]int)
	for _, m := range want {
		if w := fmt.Sprintf("%s-%d", m.ClientID, next[m.ClientID]); m.Message != w {
			t.Fatalf("got %q, want %q next from %s", m.Message, w, m.ClientID)
		}
		next[m.ClientID]++
	}
}

// TestResumeOnAnotherNode moves a client from one node to another while
// the room goes on: it gets exactly what it missed, no gap and no
// duplicate; with a wrong epoch it is told of a gap.
func TestResumeOnAnotherNode(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	a, b, c := startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL())
	sender := dial(t, b, "bob", "r", rooms.NoResume, "")
	mover := dial(t, a, "ana", "r", rooms.NoResume, "")
	for i := range 5 {
		sender.send(fmt.Sprint("m", i))
	}
	seen := mover.waitMessages(5)
	last, epoch := seen[4].Seq, mover.welcome.Epoch
	mover.close()
	for i := 5; i < 9; i++ {
		sender.send(fmt.Sprint("m", i))
	}
	sender.waitMessages(9)

	back := dial(t, c, "ana", "r", int64(last), epoch)
	if back.welcome.Gap || back.welcome.Epoch != epoch || back.welcome.Seq != 9 {
		t.Fatalf("resume welcome %+v, want seq 9, epoch %s, no gap", back.welcome, epoch)
	}
	got := back.waitMessages(4)
	checkRun(t, "resumed", got, last+1)
	if got[0].Message != "m5" {
		t.Fatalf("first replayed %q, want m5", got[0].Message)
	}
	sender.send("live")
	got = back.waitMessages(5)
	if len(got) != 5 || got[4].Message != "live" || got[4].Seq != 10 {
		t.Fatalf("after the replay: %+v", got)
	}

	stale := dial(t, a, "cy", "r", 3, "not-the-epoch")
	if !stale.welcome.Gap || stale.welcome.Epoch != epoch {
		t.Fatalf("wrong epoch: welcome %+v, want a gap and epoch %s", stale.welcome, epoch)
	}
}

// TestHistoryOutlivesEveryNode stops every chat node and starts new ones:
// the room's history, seq and epoch are still there.
func TestHistoryOutlivesEveryNode(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	n1, n2 := startNode(t, ns.ClientURL()), startNode(t, ns.ClientURL())
	s := dial(t, n1, "ana", "r", rooms.NoResume, "")
	dial(t, n2, "bob", "r", rooms.NoResume, "").close()
	for i := range 3 {
		s.send(fmt.Sprint("m", i))
	}
	s.waitMessages(3)
	epoch := s.welcome.Epoch
	n1.stop()
	n2.stop()

	n3 := startNode(t, ns.ClientURL())
	fresh := dial(t, n3, "cy", "r", 0, "")
	if fresh.welcome.Seq != 3 || fresh.welcome.Epoch != epoch || fresh.welcome.Gap {
		t.Fatalf("welcome after the restart %+v, want seq 3 in epoch %s, no gap", fresh.welcome, epoch)
	}
	checkRun(t, "history", fresh.waitMessages(3), 1)
	resumed := dial(t, n3, "ana", "r", 2, epoch)
	if resumed.welcome.Gap {
		t.Fatalf("resume after the restart: %+v", resumed.welcome)
	}
	checkRun(t, "resumed", resumed.waitMessages(1), 3)
}

// TestHistoryOutlivesNATS restarts NATS on the same file store: the nodes
// reconnect, the history is kept, and the room goes on in its epoch.
func TestHistoryOutlivesNATS(t *testing.T) {
	dir := t.TempDir()
	ns := startNATS(t, dir, -1)
	n1 := startNode(t, ns.ClientURL())
	s := dial(t, n1, "ana", "r", rooms.NoResume, "")
	for i := range 3 {
		s.send(fmt.Sprint("m", i))
	}
	s.waitMessages(3)
	addr := ns.ClientURL()
	ns.Shutdown()
	ns.WaitForShutdown()
	testkit.WaitFor(t, "readyz 503 without NATS", func() bool { return n1.ready(t) == http.StatusServiceUnavailable })

	ns = startNATS(t, dir, natsPort(t, addr))
	testkit.WaitFor(t, "readyz 200 after NATS came back", func() bool { return n1.ready(t) == http.StatusOK })
	n2 := startNode(t, ns.ClientURL())
	later := dial(t, n2, "bob", "r", 0, "")
	if later.welcome.Seq != 3 || later.welcome.Epoch != s.welcome.Epoch {
		t.Fatalf("welcome after the NATS restart %+v, want seq 3 in epoch %s", later.welcome, s.welcome.Epoch)
	}
	checkRun(t, "history", later.waitMessages(3), 1)
	s.send("again")
	got := later.waitMessages(4)
	checkRun(t, "after the restart", got, 1)
	if got[3].Message != "again" {
		t.Fatalf("after the restart: %+v", got[3])
	}
}

// TestNATSDown takes NATS away under a room: /readyz is 503, a sender is
// told its message was not delivered, and once NATS is back the room
// works again, in one order on both nodes.
func TestNATSDown(t *testing.T) {
	dir := t.TempDir()
	ns := startNATS(t, dir, -1)
	addr := ns.ClientURL()
	n1, n2 := startNode(t, addr), startNode(t, addr)
	s := dial(t, n1, "ana", "r", rooms.NoResume, "")
	r := dial(t, n2, "bob", "r", rooms.NoResume, "")
	s.send("before")
	r.waitMessages(1)
	if n1.ready(t) != http.StatusOK {
		t.Fatal("readyz not 200 with NATS up")
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	testkit.WaitFor(t, "readyz 503 without NATS", func() bool { return n1.ready(t) == http.StatusServiceUnavailable })
	s.send("lost")
	if ev := s.waitEvent(protocol.TypeError); ev.Code != protocol.ErrorUnavailable {
		t.Fatalf("error event %+v, want code %s", ev, protocol.ErrorUnavailable)
	}
	if got := n1.Metric(t, "chat_messages_rejected_total", "reason", "unavailable"); got != 1 {
		t.Fatalf("unavailable rejections %v, want 1", got)
	}
	if got := n1.Metric(t, "chat_broker_connected"); got != 0 {
		t.Fatalf("chat_broker_connected %v without NATS", got)
	}

	startNATS(t, dir, natsPort(t, addr))
	testkit.WaitFor(t, "readyz 200 after NATS came back", func() bool { return n1.ready(t) == http.StatusOK })
	s.send("after")
	want := s.waitMessages(2)
	got := r.waitMessages(2)
	checkRun(t, "receiver", got, 1)
	checkRun(t, "sender", want, 1)
	if got[0].Message != "before" || got[1].Message != "after" || want[1].Message != "after" {
		t.Fatalf("sender got %+v, receiver got %+v", want, got)
	}
}
