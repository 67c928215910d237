package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// resume connects a chat.v1 client to room with since and epoch, and
// returns its welcome and the messages replayed before its join notice.
func resume(t *testing.T, addr, id, room, query string) (*client, fullEvent, []event) {
	t.Helper()
	c := dialURL(t, extendedDialer, "ws://"+addr+"/ws/"+id+"?room="+room+query, id)
	w := c.nextFull()
	if w.Type != protocol.TypeWelcome {
		t.Fatalf("%s: first event %+v, want welcome", id, w)
	}
	var replay []event
	for {
		ev := c.next()
		if ev.Type == protocol.TypeConnection && ev.ClientID == id {
			return c, w, replay
		}
		if ev.Type != protocol.TypeMessage {
			t.Fatalf("%s: got %+v during the replay", id, ev)
		}
		replay = append(replay, ev)
	}
}

// TestResumeIntoHistoryLargerThanTheQueue resumes into a room whose
// history is larger than the client's queue: the client gets its 101, a
// welcome with gap set and the newest messages that fit, in order, and
// stays connected.
func TestResumeIntoHistoryLargerThanTheQueue(t *testing.T) {
	ts := startServer(t, server.Config{Outbound: outbound.Config{MaxQueueBytes: 64 << 10}})
	member := ts.dial(t, "member", "big")
	member.expect(protocol.TypeConnection)
	text := strings.Repeat("<", 4096) // 24.6 KB once JSON-escaped
	for range 11 {
		member.roundTrip(text)
	}
	epoch, latest := "", uint64(11)
	for i := range 3 {
		id := fmt.Sprint("res", i)
		c, w, replay := resume(t, ts.Addr, id, "big", "&since=1&epoch="+epoch)
		if i == 0 {
			// The first resume learns the epoch from its own welcome; it
			// is a gap either way.
			epoch = w.Epoch
		}
		if !w.Gap || w.Epoch != epoch || w.Seq != latest {
			t.Fatalf("%s: welcome %+v, want gap at seq %d in epoch %q", id, w, latest, epoch)
		}
		if len(replay) == 0 || replay[0].Seq <= 2 {
			t.Fatalf("%s: replay %d messages from seq %d: want the newest that fit", id, len(replay), replay[0].Seq)
		}
		for k, ev := range replay {
			if want := latest + 1 - uint64(len(replay)-k); ev.Seq != want {
				t.Fatalf("%s: replayed seq %d at %d, want %d", id, ev.Seq, k, want)
			}
		}
		member.expect(protocol.TypeConnection)
		member.roundTrip("after " + id)
		latest++
		c.expectMessage("after " + id)
		c.conn.Close()
		member.expect(protocol.TypeDisconnection)
	}
	if got := ts.counter(t, "chat_connections_closed_total", "reason", "slow_consumer"); got != 0 {
		t.Fatalf("%v slow consumers", got)
	}
}

// TestEpochs resumes into a room emptied and made again, and into a
// restarted server: a stale epoch gets a gap and a new epoch, never a
// continuous replay; the same epoch gets exactly what was missed.
func TestEpochs(t *testing.T) {
	ts := startServer(t, server.Config{})
	first := ts.dial(t, "first", "ep")
	first.expect(protocol.TypeConnection)
	for i := range 5 {
		first.roundTrip(fmt.Sprint("old ", i))
	}
	peek, w, _ := resume(t, ts.Addr, "peek", "ep", "")
	oldEpoch := w.Epoch
	peek.conn.Close()

	t.Run("same epoch", func(t *testing.T) {
		c, w, replay := resume(t, ts.Addr, "same", "ep", "&since=3&epoch="+oldEpoch)
		if w.Gap || w.Epoch != oldEpoch || len(replay) != 2 || replay[0].Seq != 4 || replay[1].Seq != 5 ||
			replay[0].Message != "old 3" || replay[1].Message != "old 4" {
			t.Fatalf("welcome %+v, replay %+v: want seqs 4 and 5 without a gap", w, replay)
		}
		c.conn.Close()
	})
	t.Run("since 0 without epoch", func(t *testing.T) {
		c, w, replay := resume(t, ts.Addr, "zero", "ep", "&since=0")
		if w.Gap || len(replay) != 5 || replay[0].Seq != 1 || replay[4].Seq != 5 {
			t.Fatalf("welcome %+v, replay %+v: want seqs 1 to 5 without a gap", w, replay)
		}
		c.conn.Close()
	})

	// Empty the room: every member leaves.
	first.conn.Close()
	ts.waitCounter(t, 0, "chat_connections")
	ts.waitCounter(t, 0, "chat_rooms")
	second := ts.dial(t, "second", "ep")
	second.expect(protocol.TypeConnection)
	for i := range 4 {
		second.roundTrip(fmt.Sprint("new ", i))
	}
	staleResume := func(t *testing.T, addr string) {
		t.Helper()
		c, w, replay := resume(t, addr, "stale", "ep", "&since=3&epoch="+oldEpoch)
		if !w.Gap || w.Epoch == oldEpoch || w.Epoch == "" {
			t.Fatalf("welcome %+v: want a gap and a new epoch (old %q)", w, oldEpoch)
		}
		for _, ev := range replay {
			if strings.HasPrefix(ev.Message, "old") {
				t.Fatalf("replayed %+v of the old incarnation", ev)
			}
		}
		c.conn.Close()
	}
	t.Run("room made again", func(t *testing.T) { staleResume(t, ts.Addr) })

	t.Run("restarted server", func(t *testing.T) {
		addr := ts.Addr
		second.conn.Close()
		ts.Stop()
		ts2 := servertest.Start(t, addr, server.Config{})
		c := dialURL(t, extendedDialer, "ws://"+addr+"/ws/again?room=ep", "again")
		c.nextFull()
		for i := range 4 {
			c.roundTrip(fmt.Sprint("new ", i))
		}
		staleResume(t, ts2.Addr)
	})
}
