package broker_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/chatplatform/chat/internal/broker"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/testkit"
)

// startMemoryNode runs a chat server whose broker keeps the stream in
// NATS's memory.
func startMemoryNode(t *testing.T, natsURL string) *node {
	t.Helper()
	return startNodeWith(t, natsURL, broker.Config{Storage: "memory"}, rooms.Config{})
}

// TestMemoryStreamMadeAgain restarts a NATS server whose stream is in
// memory, under a room open on a node: the stream is made again, empty,
// and its first sequences are taken again by new messages. The open room
// must deliver every one of them, in order, although its consumer had
// delivered past those sequences in the stream that was lost.
func TestMemoryStreamMadeAgain(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	addr := ns.ClientURL()
	n1 := startMemoryNode(t, addr)
	ana := dial(t, n1, "ana", "r", rooms.NoResume, "")
	for i := range 3 {
		ana.send(fmt.Sprint("old", i))
	}
	checkRun(t, "before", ana.waitMessages(3), 1)
	ns.Shutdown()
	ns.WaitForShutdown()
	testkit.WaitFor(t, "readyz 503 without NATS", func() bool { return n1.ready(t) == http.StatusServiceUnavailable })

	startNATS(t, t.TempDir(), natsPort(t, addr)) // a new server: nothing kept
	testkit.WaitFor(t, "readyz 200 after NATS came back", func() bool { return n1.ready(t) == http.StatusOK })
	n2 := startMemoryNode(t, addr)
	bob := dial(t, n2, "bob", "r", rooms.NoResume, "")
	if bob.welcome.Epoch == ana.welcome.Epoch {
		t.Fatalf("the room kept its epoch %s although its history was lost", bob.welcome.Epoch)
	}
	const each = 5 // more than the lost stream held, so that its sequences are taken again
	for i := range each {
		bob.send(fmt.Sprint("new", i))
	}
	got := bob.waitMessages(each)
	checkRun(t, "bob", got, 1)
	after := ana.waitMessages(3 + each)[3:]
	checkRun(t, "ana after the restart", after, 1)
	for i, m := range after {
		if m.Message != got[i].Message {
			t.Fatalf("ana's message %d after the restart is %q, bob's %q", i, m.Message, got[i].Message)
		}
	}
	ana.send("from ana")
	if m := bob.waitMessages(each + 1)[each]; m.Message != "from ana" || m.Seq != each+1 {
		t.Fatalf("bob got %+v, want ana's message with seq %d", m, each+1)
	}
}
