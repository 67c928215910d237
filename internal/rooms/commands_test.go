package rooms

import (
	"fmt"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
)

// expectAckThenMessage checks that p gets the ack of id with seq, then
// the message with seq and text.
func expectAckThenMessage(t *testing.T, p *peer, id string, seq uint64, text string) {
	t.Helper()
	if ev := p.chat(t); ev.Type != protocol.TypeAck || ev.ID != id || ev.Seq != seq || ev.Room != "r" {
		t.Fatalf("got %+v, want the ack of %s with seq %d", ev, id, seq)
	}
	if ev := p.chat(t); ev.Type != protocol.TypeMessage || ev.Seq != seq || ev.Message != text || ev.ID != "" {
		t.Fatalf("got %+v, want message %q as seq %d", ev, text, seq)
	}
}

// TestPublishIDDedupeWindow checks the window of PublishID: an id is
// published once per client id, also across a leave and a rejoin; the
// window holds a client id's SentIDs latest ids, and those of the
// DepartedKept latest client ids to leave.
func TestPublishIDDedupeWindow(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	keeper, pk := b.join(t, "keeper", "r", NoResume, "")
	ana, pa := b.join(t, "ana", "r", NoResume, "")
	seq := uint64(0)
	// expectPublished checks that the keeper sees text as the next seq.
	expectPublished := func(text string) {
		t.Helper()
		seq++
		if ev := pk.chat(t); ev.Type != protocol.TypeMessage || ev.Message != text || ev.Seq != seq {
			t.Fatalf("keeper got %+v, want %q as seq %d", ev, text, seq)
		}
	}
	// expectNothingNew checks, with a marker from the keeper, that nothing
	// was published since.
	expectNothingNew := func() {
		t.Helper()
		b.reg.Publish(keeper, []byte("marker"), time.Now())
		expectPublished("marker")
	}

	b.reg.PublishID(ana, []byte("hello"), "a1", time.Now())
	expectAckThenMessage(t, pa, "a1", 1, "hello")
	expectPublished("hello")
	b.reg.PublishID(ana, []byte("hello"), "a1", time.Now())
	if ev := pa.chat(t); ev.Type != protocol.TypeAck || ev.ID != "a1" || ev.Seq != 1 {
		t.Fatalf("resend got %+v, want the first ack again", ev)
	}
	expectNothingNew()
	pa.chat(t) // the marker

	// Another client id may use the same id.
	bob, pb := b.join(t, "bob", "r", NoResume, "")
	b.reg.PublishID(bob, []byte("bob's"), "a1", time.Now())
	expectPublished("bob's")
	expectAckThenMessage(t, pb, "a1", seq, "bob's")

	// The window survives the client id leaving and coming back.
	b.reg.Leave(ana)
	ana, pa = b.join(t, "ana", "r", NoResume, "")
	b.reg.PublishID(ana, []byte("hello"), "a1", time.Now())
	if ev := pa.chat(t); ev.Type != protocol.TypeAck || ev.Seq != 1 {
		t.Fatalf("resend after rejoining got %+v, want the ack of seq 1", ev)
	}
	expectNothingNew()

	// A client id's window is its SentIDs latest ids.
	for i := range SentIDs {
		b.reg.PublishID(ana, []byte("fill"), fmt.Sprint("f", i), time.Now())
		expectPublished("fill")
	}
	b.reg.PublishID(ana, []byte("hello"), "a1", time.Now())
	expectPublished("hello") // a1 was forgotten
	b.reg.PublishID(ana, []byte("fill"), fmt.Sprint("f", SentIDs-1), time.Now())
	expectNothingNew()

	// A client id that left keeps its window while fewer than
	// DepartedKept others left after it.
	b.reg.Leave(ana)
	other := b.connect(t)
	other.out.Start()
	for i := range DepartedKept {
		if i == DepartedKept-1 {
			// One departure short of forgetting ana.
			ana, _ = b.join(t, "ana", "r", NoResume, "")
			b.reg.PublishID(ana, []byte("hello"), "a1", time.Now())
			expectNothingNew()
			b.reg.Leave(ana)
			// ana left again: her window counts from this departure.
		}
		m, err := b.reg.Join(JoinRequest{ClientID: fmt.Sprint("o", i), Room: "r", Since: NoResume, Extended: true, Out: other.out})
		if err != nil {
			t.Fatal(err)
		}
		b.reg.PublishID(m, []byte("other"), "x", time.Now())
		expectPublished("other")
		b.reg.Leave(m)
	}
	ana, _ = b.join(t, "ana", "r", NoResume, "")
	b.reg.PublishID(ana, []byte("hello"), "a1", time.Now())
	expectNothingNew() // DepartedKept-1 departures followed hers
	b.reg.Leave(ana)
	for i := range DepartedKept {
		m, err := b.reg.Join(JoinRequest{ClientID: fmt.Sprint("p", i), Room: "r", Since: NoResume, Extended: true, Out: other.out})
		if err != nil {
			t.Fatal(err)
		}
		b.reg.PublishID(m, []byte("other"), "x", time.Now())
		expectPublished("other")
		b.reg.Leave(m)
	}
	ana, _ = b.join(t, "ana", "r", NoResume, "")
	b.reg.PublishID(ana, []byte("hello"), "a1", time.Now())
	expectPublished("hello") // forgotten after DepartedKept departures
	if n := len(ana.room.sent); n > DepartedKept+len(ana.room.ids) {
		t.Fatalf("the room keeps the ids of %d client ids, more than %d departed and %d present", n, DepartedKept, len(ana.room.ids))
	}
}

// TestTyping checks that a typing event reaches the other chat.v1 members
// only, at most once per TypingInterval per member, and only in rooms of
// at most TypingLimit members.
func TestTyping(t *testing.T) {
	b := newBench(t, Config{TypingLimit: 3, TypingInterval: time.Hour}, outbound.Config{})
	ana, pa := b.join(t, "ana", "r", NoResume, "")
	_, pa2 := b.join(t, "ana", "r", NoResume, "") // ana's second connection
	bob, pb := b.join(t, "bob", "r", NoResume, "")
	seedPeer := b.connect(t)
	seed, err := b.reg.Join(JoinRequest{ClientID: "seed", Room: "r", Since: NoResume, Out: seedPeer.out})
	if err != nil {
		t.Fatal(err)
	}
	seedPeer.out.Start()

	if !b.reg.Typing(ana) {
		t.Fatal("ana's typing was not forwarded")
	}
	if b.reg.Typing(ana) {
		t.Fatal("ana's second typing within the interval was forwarded")
	}
	if ev := pb.chat(t); ev.Type != protocol.TypeTyping || ev.ClientID != "ana" || ev.Room != "r" || ev.Seq != 0 || ev.Timestamp == "" {
		t.Fatalf("bob got %+v, want ana typing", ev)
	}
	b.reg.Typing(seed) // the seed client may type too: bob hears of it
	if ev := pb.chat(t); ev.Type != protocol.TypeTyping || ev.ClientID != "seed" {
		t.Fatalf("bob got %+v, want seed typing", ev)
	}
	// Ana's connections heard of the seed client only, not of ana.
	for _, p := range []*peer{pa, pa2} {
		if ev := p.chat(t); ev.Type != protocol.TypeTyping || ev.ClientID != "seed" {
			t.Fatalf("ana got %+v, want seed typing", ev)
		}
	}
	// The seed client got no typing event; nor is typing a message: the
	// next message has seq 1.
	b.reg.Publish(bob, []byte("end"), time.Now())
	for _, p := range []*peer{pa, pa2, seedPeer, pb} {
		if ev := p.chat(t); ev.Type != protocol.TypeMessage || ev.Message != "end" || ev.Seq != 1 {
			t.Fatalf("got %+v, want the end message as seq 1", ev)
		}
	}
	// A fourth client id takes the room over the limit.
	b.join(t, "dan", "r", NoResume, "")
	if b.reg.Typing(bob) {
		t.Fatal("typing forwarded in a room over the limit")
	}
}
