package loadgen

import (
	"context"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"
)

// session carries a client's place in its room from a lost connection to
// the one that resumes it: the window's start, the receipts so far and the
// resume point. Between connections it is owned by the redial goroutine.
//
// The accounting treats a resumed session as one membership: its window
// runs from the first welcome to the final leave, so messages sent while
// the client was away are expected, and arrive when the server replays
// them. When the server answers a resume with gap:true it says that some
// were not kept; the session's missing deliveries are then reported as
// GapMissed instead of Lost.
type session struct {
	join    int64 // first welcome of the session, Unix nanos; 0 if none came
	got     int64
	peers   []peerState
	lastSeq int64  // highest room seq seen, -1 if none
	epoch   string // from the last welcome, "" if the server sends none
	gaps    int32
	dropAt  int64 // when the last connection was lost, Unix nanos
	gen     int32 // join generation: a resume keeps the client_id
}

// resumeQuery adds the resume point to a connection's query.
func (s *session) resumeQuery(q url.Values) {
	if s.lastSeq >= 0 {
		q.Set("since", strconv.FormatInt(s.lastSeq, 10))
	}
	if s.epoch != "" {
		q.Set("epoch", s.epoch)
	}
}

// giveSession hands c's session over to the client's next connection. c
// is finished; its reader no longer touches these fields.
func (c *simConn) giveSession(now int64) *session {
	return &session{join: c.windowJoin.Load(), got: c.got, peers: c.peers, lastSeq: c.lastSeq, epoch: c.epoch, gaps: c.gaps, dropAt: now, gen: c.gen}
}

// takeSession makes c, a new connection not yet read, continue s.
func (c *simConn) takeSession(s *session) {
	c.windowJoin.Store(s.join)
	c.got, c.peers, c.lastSeq, c.epoch, c.gaps, c.dropAt = s.got, s.peers, s.lastSeq, s.epoch, s.gaps, s.dropAt
}

// startRedial starts a goroutine that reconnects slot to resume s, and
// reports whether it did; it does not once the run is closing.
func (e *engine) startRedial(slot int, s *session, lastURL int) bool {
	e.redialMu.Lock()
	defer e.redialMu.Unlock()
	if e.redialStopped {
		return false
	}
	e.pending.Add(1)
	e.redialing.Add(1)
	go func() {
		defer e.redialing.Done()
		defer e.pending.Add(-1)
		e.redial(slot, s, lastURL)
	}()
	return true
}

// redial reconnects slot with exponential backoff, jittered, each attempt
// to the next URL, until it connects, the client is no longer wanted (a
// stage ramped it down) or redialing stops; then the session's window is
// closed at the loss.
func (e *engine) redial(slot int, s *session, urlIndex int) {
	wait := e.cfg.Backoff
	ceiling := max(MaxBackoff, e.cfg.Backoff)
	room := int32(e.global(slot) % e.cfg.Rooms)
	for {
		t := time.NewTimer(time.Duration(float64(wait) * (0.5 + rand.Float64())))
		select {
		case <-e.stopRedial:
			t.Stop()
			e.sessionDone(room, s)
			return
		case <-t.C:
		}
		if slot >= int(e.active.Load()) {
			e.sessionDone(room, s)
			return
		}
		urlIndex = (urlIndex + 1) % len(e.urls)
		if e.dial(context.Background(), slot, s, urlIndex) {
			e.reconnects.Add(1)
			return
		}
		wait = min(2*wait, ceiling)
	}
}

// stopRedials stops every reconnect in progress and waits for them: a
// client that has not come back by now has its window closed at its loss.
func (e *engine) stopRedials() {
	e.redialMu.Lock()
	if !e.redialStopped {
		e.redialStopped = true
		close(e.stopRedial)
	}
	e.redialMu.Unlock()
	e.redialing.Wait()
}
