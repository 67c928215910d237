package rooms

import (
	"time"

	"github.com/chatplatform/chat/internal/protocol"
)

// Bounds of the dedupe window of PublishID, one constant each so that
// documentation cannot drift.
const (
	// SentIDs is how many of a client id's latest message ids a room
	// remembers.
	SentIDs = 32
	// DepartedKept is how many client ids that left a room, the latest,
	// keep their ids there: a client that reconnects finds them.
	DepartedKept = 256
)

// sentIDs is the latest message ids one client id published in a room,
// with the seq each got: a message sent again with one of them is not
// published again. It lives with the room, not the connection, so that it
// survives a reconnect: it is kept while the client id is in the room and,
// once it left, while it is among the room's DepartedKept latest
// departures. Guarded by room.mu.
type sentIDs struct {
	ids  [SentIDs]string
	seqs [SentIDs]uint64
	next int    // where the next id goes, cycling
	left uint64 // number of the client id's latest departure
}

// departure is one client id leaving a room, numbered in order.
type departure struct {
	id string
	n  uint64
}

// seqOf returns the seq the message id got, and whether it is remembered;
// s may be nil (the client id has published no id yet).
func (s *sentIDs) seqOf(id string) (uint64, bool) {
	if s == nil {
		return 0, false
	}
	for i, v := range s.ids {
		if v == id && v != "" {
			return s.seqs[i], true
		}
	}
	return 0, false
}

func (s *sentIDs) add(id string, seq uint64) {
	s.ids[s.next], s.seqs[s.next] = id, seq
	s.next = (s.next + 1) % SentIDs
}

// PublishID is Publish for a message its sender gave an id: m is sent an
// ack with the message's seq before the message itself. When m's client id
// already published id in the room (see sentIDs), nothing is published and
// m gets the ack of that message again: a resend after a reconnect is
// harmless.
func (r *Registry) PublishID(m *Member, text []byte, id string, received time.Time) {
	if r.publishID(m, text, id) {
		r.cfg.Metrics.BroadcastDuration.Observe(time.Since(received).Seconds())
	}
}

// publishID publishes text as message id of m, once, and reports whether
// it did.
func (r *Registry) publishID(m *Member, text []byte, id string) bool {
	rm := m.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if m.index < 0 {
		return false // m left meanwhile
	}
	now := r.cfg.Clock()
	sent := rm.sent[m.id]
	if seq, ok := sent.seqOf(id); ok {
		m.out.Send(ackFrame(rm.name, id, seq, r.cfg.Now()), now)
		return false
	}
	frame := r.orderLocked(rm, m.id, text)
	if sent == nil {
		if rm.sent == nil {
			rm.sent = make(map[string]*sentIDs)
		}
		sent = &sentIDs{}
		rm.sent[m.id] = sent
	}
	sent.add(id, rm.seq)
	r.hook("publish")
	m.out.Send(ackFrame(rm.name, id, rm.seq, r.cfg.Now()), now)
	rm.deliverLocked(frame, now, false)
	return true
}

func ackFrame(room, id string, seq uint64, now time.Time) []byte {
	return protocol.NewFrame(&protocol.Event{Type: protocol.TypeAck, ID: id, Room: room, Seq: seq, Time: now})
}

// departLocked records that the last connection of client id left the
// room: its ids are kept until DepartedKept later departures, unless it is
// back in the room by then.
func (rm *room) departLocked(id string) {
	s := rm.sent[id]
	if s == nil {
		return
	}
	rm.departures++
	s.left = rm.departures
	rm.departed = append(rm.departed, departure{id: id, n: rm.departures})
	if len(rm.departed) <= DepartedKept {
		return
	}
	d := rm.departed[0]
	rm.departed[0] = departure{}
	rm.departed = rm.departed[1:]
	if e := rm.sent[d.id]; e != nil && e.left == d.n && rm.ids[d.id] == 0 {
		delete(rm.sent, d.id)
	}
}

// Typing tells the other chat.v1 members of m's room, those of other
// client ids, that m's client is typing. It is forwarded at most once per
// TypingInterval for a member and only in rooms of at most TypingLimit
// members; otherwise it is dropped. It reports whether it was forwarded.
// Typing events have no seq and are never kept.
func (r *Registry) Typing(m *Member) bool {
	rm := m.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	now := r.cfg.Clock()
	if m.index < 0 || len(rm.ids) > r.cfg.TypingLimit || now < m.typingAt {
		return false
	}
	m.typingAt = now + int64(r.cfg.TypingInterval)
	ev := protocol.Event{Type: protocol.TypeTyping, ClientID: m.id, Room: rm.name, Time: r.cfg.Now()}
	var frame []byte
	for _, o := range rm.members {
		if !o.extended || o.id == m.id {
			continue
		}
		if frame == nil {
			frame = protocol.NewFrame(&ev)
		}
		o.out.Send(frame, now)
	}
	return true
}
