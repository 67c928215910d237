package rooms

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
)

func TestJoinMessageLeave(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	ana, pa := b.join(t, "ana", "general", NoResume, "")
	w := pa.expectType(t, protocol.TypeWelcome)
	if w.MemberCount != 1 || len(w.Members) != 1 || w.Members[0] != "ana" || w.Seq != 0 || w.Epoch == "" {
		t.Fatalf("welcome %+v", w)
	}
	if n := pa.expectType(t, protocol.TypeConnection); n.ClientID != "ana" || n.Message != "ana joined the chat" {
		t.Fatalf("own join notice %+v", n)
	}

	bob, pb := b.join(t, "bob", "general", NoResume, "")
	if w := pb.expectType(t, protocol.TypeWelcome); w.MemberCount != 2 {
		t.Fatalf("welcome %+v", w)
	}
	pb.expectType(t, protocol.TypeConnection)
	if n := pa.expectType(t, protocol.TypeConnection); n.ClientID != "bob" || n.MemberCount != 2 {
		t.Fatalf("ana sees %+v", n)
	}

	b.reg.Publish(bob, []byte("hi <ana>"), time.Now())
	for _, p := range []*peer{pa, pb} {
		m := p.expectType(t, protocol.TypeMessage)
		if m.ClientID != "bob" || m.Message != "hi <ana>" || m.Room != "general" || m.Seq != 1 {
			t.Fatalf("message %+v", m)
		}
		if _, err := time.Parse(protocol.TimestampLayout, m.Timestamp); err != nil {
			t.Fatalf("timestamp %q: %v", m.Timestamp, err)
		}
	}

	b.reg.Leave(ana)
	if n := pb.expectType(t, protocol.TypeDisconnection); n.ClientID != "ana" || n.Message != "ana left the chat" || n.MemberCount != 1 {
		t.Fatalf("leave notice %+v", n)
	}
	// A member that left publishes nothing.
	b.reg.Publish(ana, []byte("ghost"), time.Now())
	b.reg.Publish(bob, []byte("after"), time.Now())
	if m := pb.expectType(t, protocol.TypeMessage); m.Message != "after" || m.Seq != 2 {
		t.Fatalf("got %+v, want bob's second message as seq 2", m)
	}
}

func TestConcurrentSendersOneOrder(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	const members, perSender = 4, 50
	var ms []*Member
	var peers []*peer
	for i := range members {
		m, p := b.join(t, fmt.Sprintf("c%d", i), "room", NoResume, "")
		ms, peers = append(ms, m), append(peers, p)
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perSender {
				b.reg.Publish(m, fmt.Appendf(nil, "%s-%d", m.ID(), j), time.Now())
			}
		}()
	}
	wg.Wait()
	var orders [members][]string
	for i, p := range peers {
		var seq uint64
		for len(orders[i]) < members*perSender {
			ev := p.event(t)
			if ev.Type != protocol.TypeMessage {
				continue
			}
			if ev.Seq != seq+1 {
				t.Fatalf("peer %d: seq %d after %d", i, ev.Seq, seq)
			}
			seq = ev.Seq
			orders[i] = append(orders[i], ev.Message)
		}
	}
	for i := 1; i < members; i++ {
		for j := range orders[0] {
			if orders[i][j] != orders[0][j] {
				t.Fatalf("peer %d sees %q at %d, peer 0 sees %q", i, orders[i][j], j, orders[0][j])
			}
		}
	}
}

func TestLargeRoomNoticesBecomePresence(t *testing.T) {
	b := newBench(t, Config{NoticeLimit: 2, PresenceInterval: 20 * time.Millisecond}, outbound.Config{})
	_, pa := b.join(t, "a", "r", NoResume, "")
	pa.expectType(t, protocol.TypeWelcome)
	pa.expectType(t, protocol.TypeConnection)
	_, pb := b.join(t, "b", "r", NoResume, "")
	pb.expectType(t, protocol.TypeWelcome)
	pb.expectType(t, protocol.TypeConnection)
	if n := pa.expectType(t, protocol.TypeConnection); n.ClientID != "b" {
		t.Fatalf("small room notice %+v", n)
	}
	// The third member makes the room larger than the limit.
	_, pc := b.join(t, "c", "r", NoResume, "")
	pc.expectType(t, protocol.TypeWelcome)
	if n := pc.expectType(t, protocol.TypeConnection); n.ClientID != "c" {
		t.Fatalf("joiner's own notice %+v", n)
	}
	if ev := pa.event(t); ev.Type != protocol.TypePresence || ev.MemberCount != 3 {
		t.Fatalf("a got %+v, want presence with 3 members", ev)
	}
}

// publishN has m send n messages "m1".."mn" and reads them from p.
func publishN(t *testing.T, b *bench, m *Member, p *peer, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		b.reg.Publish(m, fmt.Appendf(nil, "m%d", i), time.Now())
		p.expectType(t, protocol.TypeMessage)
	}
}

func TestResumeReplaysKeptMessages(t *testing.T) {
	b := newBench(t, Config{History: 4}, outbound.Config{})
	a, pa := b.join(t, "a", "r", NoResume, "")
	epoch := pa.expectType(t, protocol.TypeWelcome).Epoch
	pa.expectType(t, protocol.TypeConnection)
	publishN(t, b, a, pa, 6)
	tests := []struct {
		name     string
		since    int64
		epoch    string
		wantFrom int
		gap      bool
	}{
		{"after 4", 4, epoch, 5, false},
		{"up to date", 6, epoch, 7, false},
		{"older than kept", 1, epoch, 3, true},            // only 3..6 are kept
		{"ahead of the room", 9, epoch, 3, true},          // not this incarnation's position
		{"other epoch", 4, "old", 3, true},                // an earlier incarnation: what is kept, and a gap
		{"no epoch", 4, "", 3, true},                      // a position without its epoch cannot be trusted
		{"fresh join asking for history", 0, "", 3, true}, // seq 0 precedes every epoch; 1..2 are gone
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bm, pb := b.join(t, "b", "r", tt.since, tt.epoch)
			defer b.reg.Leave(bm)
			w := pb.expectType(t, protocol.TypeWelcome)
			if w.Gap != tt.gap || w.Seq != 6 || w.Epoch != epoch {
				t.Fatalf("welcome %+v, want gap %v seq 6 epoch %s", w, tt.gap, epoch)
			}
			for s := tt.wantFrom; s <= 6; s++ {
				if m := pb.expectType(t, protocol.TypeMessage); m.Seq != uint64(s) || m.Message != fmt.Sprintf("m%d", s) {
					t.Fatalf("replayed %+v, want seq %d", m, s)
				}
			}
			pb.expectType(t, protocol.TypeConnection)
		})
	}
}

func TestEmptiedRoomGetsNewEpoch(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	a, pa := b.join(t, "a", "r", NoResume, "")
	old := pa.expectType(t, protocol.TypeWelcome).Epoch
	pa.expectType(t, protocol.TypeConnection)
	publishN(t, b, a, pa, 3)
	b.reg.Leave(a) // the room is empty, and forgotten with its history

	c, pc := b.join(t, "c", "r", NoResume, "")
	pc.expectType(t, protocol.TypeWelcome)
	pc.expectType(t, protocol.TypeConnection)
	publishN(t, b, c, pc, 5) // seqs 1..5 again, in the new incarnation

	_, pr := b.join(t, "a", "r", 3, old)
	w := pr.expectType(t, protocol.TypeWelcome)
	if w.Epoch == old || !w.Gap || w.Seq != 5 {
		t.Fatalf("welcome %+v: want a new epoch, a gap and seq 5", w)
	}
	// The new incarnation's messages follow from its start, never from
	// seq 4 as if the old position still held.
	for s := 1; s <= 5; s++ {
		if m := pr.expectType(t, protocol.TypeMessage); m.Seq != uint64(s) {
			t.Fatalf("replayed %+v, want seq %d", m, s)
		}
	}
}

func TestReplayIsCutToFitAndReportedAsGap(t *testing.T) {
	const replayBytes = 64 << 10
	b := newBench(t, Config{ReplayBytes: replayBytes, HistoryRoomBytes: 1 << 20}, outbound.Config{MaxQueueBytes: 2 * replayBytes})
	a, pa := b.join(t, "a", "r", NoResume, "")
	epoch := pa.expectType(t, protocol.TypeWelcome).Epoch
	pa.expectType(t, protocol.TypeConnection)
	big := strings.Repeat("<", protocol.DefaultMaxMessageBytes) // about 24.6 KB once JSON-escaped
	for range 11 {
		b.reg.Publish(a, []byte(big), time.Now())
		pa.expectType(t, protocol.TypeMessage)
	}
	_, pb := b.join(t, "b", "r", 1, epoch)
	if w := pb.expectType(t, protocol.TypeWelcome); !w.Gap || w.Seq != 11 {
		t.Fatalf("welcome %+v, want a gap at seq 11", w)
	}
	// The newest that fit, in order, ending at 11.
	var seqs []uint64
	for {
		ev := pb.event(t)
		if ev.Type == protocol.TypeConnection {
			break
		}
		seqs = append(seqs, ev.Seq)
	}
	if len(seqs) == 0 || len(seqs) > replayBytes/24000 || seqs[len(seqs)-1] != 11 {
		t.Fatalf("replayed seqs %v: want the newest that fit %d bytes, ending at 11", seqs, replayBytes)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("replayed seqs %v are not consecutive", seqs)
		}
	}
}

func TestHistoryIsBoundedInBytes(t *testing.T) {
	const roomBytes, totalBytes = 16 << 10, 40 << 10
	b := newBench(t, Config{History: 1000, HistoryRoomBytes: roomBytes, HistoryTotalBytes: totalBytes}, outbound.Config{})
	msg := strings.Repeat("x", 1000)
	var members []*Member
	for i := range 5 {
		m, p := b.join(t, fmt.Sprint("m", i), fmt.Sprint("room", i), NoResume, "")
		p.expectType(t, protocol.TypeWelcome)
		b.reg.history.mu.Lock()
		empty := m.room.log.entries == nil && m.room.log.bytes == 0
		b.reg.history.mu.Unlock()
		if !empty {
			t.Fatal("a room with no messages holds history memory")
		}
		members = append(members, m)
		for range 50 {
			b.reg.Publish(m, []byte(msg), time.Now())
		}
		rm := m.room
		b.reg.history.mu.Lock()
		roomKept, total := rm.log.bytes, b.reg.history.total
		b.reg.history.mu.Unlock()
		if roomKept > roomBytes || total > totalBytes {
			t.Fatalf("room %d keeps %d bytes (bound %d), all rooms %d (bound %d)", i, roomKept, roomBytes, total, totalBytes)
		}
	}
	if got := testutil.ToFloat64(b.m.HistoryBytes); got > totalBytes || got == 0 {
		t.Fatalf("chat_history_bytes = %v, want between 1 and %d", got, totalBytes)
	}
	// The oldest rooms lost their messages first; the newest kept its own.
	b.reg.history.mu.Lock()
	first, last := members[0].room.log.len(), members[4].room.log.len()
	b.reg.history.mu.Unlock()
	if first != 0 || last == 0 {
		t.Fatalf("first room keeps %d messages, last %d: want the oldest dropped first", first, last)
	}
	for _, m := range members {
		b.reg.Leave(m)
	}
	if got := testutil.ToFloat64(b.m.HistoryBytes); got != 0 {
		t.Fatalf("chat_history_bytes = %v after every room emptied, want 0", got)
	}
}

func TestSeedClientsGetOnlySeedEvents(t *testing.T) {
	b := newBench(t, Config{NoticeLimit: 1, PresenceInterval: 10 * time.Millisecond}, outbound.Config{})
	seedPeer := b.connect(t)
	seed, err := b.reg.Join(JoinRequest{ClientID: "seed", Room: "r", Since: NoResume, Out: seedPeer.out})
	if err != nil {
		t.Fatal(err)
	}
	seedPeer.out.Start()
	if ev := seedPeer.event(t); ev.Type != protocol.TypeConnection {
		t.Fatalf("seed client got %+v first, want its connection notice", ev)
	}
	ext, pe := b.join(t, "ext", "r", NoResume, "")
	pe.expectType(t, protocol.TypeWelcome)
	pe.expectType(t, protocol.TypeConnection)
	// The room is over the notice limit: the extended member gets a
	// presence event, the seed client does not.
	if ev := pe.event(t); ev.Type != protocol.TypePresence {
		t.Fatalf("extended client got %+v, want presence", ev)
	}
	b.reg.Publish(ext, []byte("hello"), time.Now())
	b.reg.Publish(seed, []byte("hi"), time.Now())
	for _, want := range []string{"hello", "hi"} {
		if ev := seedPeer.event(t); ev.Type != protocol.TypeMessage || ev.Message != want {
			t.Fatalf("seed client got %+v, want message %q", ev, want)
		}
	}
}

// joinPanics runs Join and reports whether it panicked.
func joinPanics(b *bench, p *peer, id, room string) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	b.reg.Join(JoinRequest{ClientID: id, Room: room, Since: NoResume, Extended: true, Out: p.out})
	return false
}

// TestPanickedJoinLeavesNothing: a join that panics before its member is
// added leaves no empty room registered, and one that panics after leaves
// no member behind.
func TestPanickedJoinLeavesNothing(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	b.reg.SetHookForTest(func(point string) {
		if point == "join" {
			panic("test: join")
		}
	})
	if !joinPanics(b, b.connect(t), "v", "fresh") {
		t.Fatal("the hook did not panic")
	}
	if n := testutil.ToFloat64(b.m.Rooms); n != 0 {
		t.Fatalf("%v rooms registered after a panicked join into a new room, want 0", n)
	}
	b.reg.SetHookForTest(func(string) {})

	b.join(t, "a", "r", NoResume, "")
	armed := true
	b.pool.SetHookForTest(func(point string) {
		if point == "enqueue" && armed {
			armed = false
			panic("test: enqueue")
		}
	})
	if !joinPanics(b, b.connect(t), "ghost", "r") {
		t.Fatal("the hook did not panic")
	}
	_, c := b.join(t, "c", "r", NoResume, "")
	if w := c.expectType(t, "welcome"); w.MemberCount != 2 || len(w.Members) != 2 {
		t.Fatalf("welcome after a panicked join: %d members %q, want a and c", w.MemberCount, w.Members)
	}
}

// A member the caller allocated (JoinRequest.Member) is the one Join fills
// in and returns, and it works as one Join made: it gets the room's
// messages and its leave is announced.
func TestJoinFillsCallersMember(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	_, pa := b.join(t, "ana", "general", NoResume, "")
	pa.expectType(t, protocol.TypeWelcome)
	pa.expectType(t, protocol.TypeConnection)
	pb := b.connect(t)
	var own Member
	bob, err := b.reg.Join(JoinRequest{ClientID: "bob", Room: "general", Since: NoResume, Extended: true, Out: pb.out, Member: &own})
	if err != nil {
		t.Fatal(err)
	}
	pb.out.Start()
	if bob != &own || own.ID() != "bob" {
		t.Fatalf("Join returned %p (id %q), want the caller's %p", bob, bob.ID(), &own)
	}
	pb.expectType(t, protocol.TypeWelcome)
	pb.expectType(t, protocol.TypeConnection)
	pa.expectType(t, protocol.TypeConnection)
	b.reg.Publish(&own, []byte("hi"), time.Now())
	for _, p := range []*peer{pa, pb} {
		if m := p.expectType(t, protocol.TypeMessage); m.ClientID != "bob" || m.Message != "hi" {
			t.Fatalf("message %+v", m)
		}
	}
	b.reg.Leave(&own)
	if n := pa.expectType(t, protocol.TypeDisconnection); n.ClientID != "bob" {
		t.Fatalf("leave notice %+v", n)
	}
}
