package broker_test

import (
	"sync"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/testkit"
)

// TestResentIDStoredOnce publishes one message id of one client through
// two brokers (two nodes, the second taking a resend from a client whose
// first node died before acknowledging): the stream keeps it once, so
// both nodes deliver it once, whatever the rooms above them remember.
func TestResentIDStoredOnce(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	var mu sync.Mutex
	got := map[int][]rooms.Message{}
	var feeds []rooms.Feed
	for i := range 2 {
		b, _ := connectBroker(t, ns)
		f, _, err := b.Open("r", func(m rooms.Message) {
			mu.Lock()
			got[i] = append(got[i], m)
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(f.Close)
		feeds = append(feeds, f)
	}
	fail := func(err error) { t.Errorf("publish failed: %v", err) }
	msg := rooms.Message{ClientID: "ana", ID: "a1", Text: []byte("once"), Time: time.Now()}
	feeds[0].Publish(msg, fail)
	count := func(i int) int {
		mu.Lock()
		defer mu.Unlock()
		return len(got[i])
	}
	testkit.WaitFor(t, "the message at both nodes", func() bool { return count(0) == 1 && count(1) == 1 })
	feeds[1].Publish(msg, fail)
	other := rooms.Message{ClientID: "bob", ID: "a1", Text: []byte("another client's"), Time: time.Now()}
	feeds[1].Publish(other, fail)
	testkit.WaitFor(t, "bob's message at both nodes", func() bool { return count(0) >= 2 && count(1) >= 2 })
	mu.Lock()
	defer mu.Unlock()
	for i := range 2 {
		if len(got[i]) != 2 || string(got[i][0].Text) != "once" || string(got[i][1].Text) != "another client's" || got[i][1].Seq != 2 {
			t.Fatalf("node %d delivered %+v, want ana's message once, then bob's as seq 2", i, got[i])
		}
	}
}
