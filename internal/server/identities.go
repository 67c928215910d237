package server

import (
	"net/http"
	"sync"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
)

// identities keeps an anonymous server to one connection per client_id and
// room, so that a second connection cannot pass for the first: its
// messages would look identical and its leaving would tell everyone the
// first had left.
//
// The policy: a connection asking for a client_id that is connected in the
// room gets 409 Conflict while the connection holding the name is alive.
// A client whose network dropped reconnects before the server can know
// that the old connection is dead (a vanished peer sends nothing; only
// the idle timeout would find it), so a refused newcomer makes the server
// ping the holder. The holder keeps the name if it answers (any frame
// counts, the pong included); if it stays silent for Config.ReplaceWait
// after that ping, the next attempt with its client_id takes the name, and
// the holder is closed with 4003 (protocol.CloseReplaced). A reconnecting
// client so gets in on its first retry after ReplaceWait, and a live
// connection, which answers a ping within a round trip, is never replaced.
// A holder that is already closing is replaced at once.
//
// With tokens (Config.Auth) the server keeps no identities: a token proves
// the client_id, and several connections of one client_id are one member
// of the room (see package rooms).
type identities struct {
	// Static after construction.
	srv  *Server
	wait int64 // Config.ReplaceWait, in pool clock units

	mu     sync.Mutex
	claims map[identityKey]*claim // guarded by mu
}

type identityKey struct{ room, id string }

// claim is one connection's hold on its client_id in its room, from the
// upgrade's checks until its session ends.
type claim struct {
	key  identityKey // static
	sess *session    // nil until the session is attached; guarded by identities.mu
}

var duplicateRefusal = &refusal{status: http.StatusConflict, label: metrics.UpgradeDuplicateClientID,
	reason: "client_id already connected in this room"}

func newIdentities(s *Server) *identities {
	return &identities{srv: s, wait: int64(s.cfg.ReplaceWait), claims: make(map[identityKey]*claim)}
}

// acquire takes the client_id id in room for a new connection, replacing a
// holder that may be replaced, or returns the refusal. With take false it
// only says whether it would succeed (probing the holder all the same), for
// a plain GET that asks what an upgrade would get.
func (is *identities) acquire(room, id string, take bool) (*claim, *refusal) {
	key := identityKey{room, id}
	now := is.srv.pool.Clock()
	is.mu.Lock()
	var victim *session
	if old := is.claims[key]; old != nil {
		if old.sess == nil || !old.sess.replaceableLocked(now, is.wait) {
			is.mu.Unlock()
			return nil, duplicateRefusal
		}
		victim = old.sess
	}
	if !take {
		is.mu.Unlock()
		return nil, nil
	}
	c := &claim{key: key}
	is.claims[key] = c
	is.mu.Unlock()
	if victim != nil {
		victim.closeWith(protocol.CloseReplaced)
		// Out of the room before the newcomer joins, even when the victim
		// was already closing (its teardown may not have reached the room).
		victim.leave()
	}
	return c, nil
}

// bind records that c's connection is the session s.
func (is *identities) bind(c *claim, s *session) {
	is.mu.Lock()
	defer is.mu.Unlock()
	c.sess = s
}

// release gives up c, unless a newcomer has taken its name already.
func (is *identities) release(c *claim) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.claims[c.key] == c {
		delete(is.claims, c.key)
	}
}

// replaceableLocked reports whether a newcomer with s's client_id may take
// its place now: s is closing, or has sent nothing for wait since it was
// probed. Otherwise it probes s with a ping, unless a probe is pending.
// It runs with identities.mu held.
func (s *session) replaceableLocked(now, wait int64) bool {
	if s.is(flagFinished) || s.out.Closing() {
		return true
	}
	probed := s.probedAt.Load()
	if pending := probed != 0 && s.lastSeen.Load() < probed; pending {
		return now-probed >= wait
	}
	s.probedAt.Store(now)
	s.out.Send(s.srv.sessions.ping, now)
	return false
}
