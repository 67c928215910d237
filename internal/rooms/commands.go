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
// with the seq each got (0 while on its way to the broker): a message sent
// again with one of them is not published again. It lives with the room, not the connection, so that it
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

// set gives id its seq, adding it when it is not remembered (it was sent
// on another node, or dropped from the window meanwhile).
func (s *sentIDs) set(id string, seq uint64) {
	for i, v := range s.ids {
		if v == id {
			s.seqs[i] = seq
			return
		}
	}
	s.add(id, seq)
}

// forget drops id.
func (s *sentIDs) forget(id string) {
	for i, v := range s.ids {
		if v == id {
			s.ids[i], s.seqs[i] = "", 0
		}
	}
}

// awaitKey names a message id of a client id.
type awaitKey struct{ clientID, id string }

// PublishID is Publish for a message its sender gave an id (see
// protocol.Command): the broker carries the id with the message, m is
// sent an ack with the message's seq just before the message itself, and
// every node remembers the id with the seq (see sentIDs). When m's client
// id already published id in the room, nothing is published and m gets
// that message's ack (at once, or when it is ordered, if it is on its way):
// a resend after a reconnect is harmless.
func (r *Registry) PublishID(m *Member, text []byte, id string, received time.Time) {
	if !r.claimID(m, id) {
		return
	}
	m.room.feed.Publish(Message{ClientID: m.id, ID: id, Text: text, Time: r.cfg.Now()}, func(error) {
		r.unclaimID(m, id)
		r.publishFailed(m, id)
	})
	r.cfg.Metrics.BroadcastDuration.Observe(time.Since(received).Seconds())
}

// claimID reports whether m may publish message id: m is in its room and
// its client id has not published id there. A remembered id is acked, or,
// on its way to the broker, waits to be acked to m instead of its sender.
// A claimed id is remembered as on its way.
func (r *Registry) claimID(m *Member, id string) bool {
	rm := m.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if m.index < 0 {
		return false // m left meanwhile
	}
	r.hook("publish")
	key := awaitKey{m.id, id}
	if seq, ok := rm.sent[m.id].seqOf(id); ok {
		if seq == 0 {
			rm.awaiting[key] = m
		} else {
			m.out.Send(ackFrame(rm.name, id, seq, r.cfg.Now()), r.cfg.Clock())
		}
		return false
	}
	rm.sentLocked(m.id).add(id, 0)
	if rm.awaiting == nil {
		rm.awaiting = make(map[awaitKey]*Member)
	}
	rm.awaiting[key] = m
	return true
}

// unclaimID forgets message id of m, which the broker could not order: it
// may be sent again.
func (r *Registry) unclaimID(m *Member, id string) {
	rm := m.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if s := rm.sent[m.id]; s != nil {
		s.forget(id)
	}
	delete(rm.awaiting, awaitKey{m.id, id})
}

// ackLocked remembers the id of msg, just ordered, and acks it to the
// member that waits for it on this node. The ids of a client id that is
// not in the room on this node (it sent on another) count as departed, so
// that they are bounded as those of client ids that left are.
func (r *Registry) ackLocked(rm *room, msg Message) {
	s := rm.sentLocked(msg.ClientID)
	s.set(msg.ID, msg.Seq)
	if rm.ids[msg.ClientID] == 0 && s.left == 0 {
		rm.departLocked(msg.ClientID)
	}
	key := awaitKey{msg.ClientID, msg.ID}
	if m := rm.awaiting[key]; m != nil {
		delete(rm.awaiting, key)
		if m.index >= 0 {
			m.out.Send(ackFrame(rm.name, msg.ID, msg.Seq, msg.Time), r.cfg.Clock())
		}
	}
}

// sentLocked returns the ids of client id, made if missing.
func (rm *room) sentLocked(id string) *sentIDs {
	s := rm.sent[id]
	if s == nil {
		if rm.sent == nil {
			rm.sent = make(map[string]*sentIDs)
		}
		s = &sentIDs{}
		rm.sent[id] = s
	}
	return s
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
	if m.index < 0 || now < m.typingAt || !r.typingLocked(rm, m.id, r.cfg.Now(), now) {
		return false
	}
	m.typingAt = now + int64(r.cfg.TypingInterval)
	if rm.pres != nil {
		rm.pres.Typing(m.id)
	}
	return true
}

// typingLocked sends a typing event of client id, at time at, to rm's
// local chat.v1 members of other client ids, queued at clock now, unless
// rm has more than TypingLimit members (on every node); it reports
// whether it did.
func (r *Registry) typingLocked(rm *room, id string, at time.Time, now int64) bool {
	if rm.countLocked() > r.cfg.TypingLimit {
		return false
	}
	ev := protocol.Event{Type: protocol.TypeTyping, ClientID: id, Room: rm.name, Time: at}
	var frame []byte
	for _, o := range rm.members {
		if !o.extended || o.id == id {
			continue
		}
		if frame == nil {
			frame = protocol.NewFrame(&ev)
		}
		o.out.Send(frame, now)
	}
	return true
}
