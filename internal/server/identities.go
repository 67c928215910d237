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

	mu    sync.Mutex
	rooms map[string]*heldRoom // guarded by mu
}

// heldRoom is the client_ids held in one room, each by its session, from
// the upgrade's checks until the session ends: the hold is the session
// itself, made by acquire and attached later (session.held says when).
type heldRoom struct {
	name    string              // static; the room's name, shared by its sessions
	holders map[string]*session // by client_id; guarded by identities.mu
}

var duplicateRefusal = &refusal{status: http.StatusConflict, label: metrics.UpgradeDuplicateClientID,
	reason: "client_id already connected in this room"}

func newIdentities(s *Server) *identities {
	return &identities{srv: s, wait: int64(s.cfg.ReplaceWait), rooms: make(map[string]*heldRoom)}
}

// acquire takes the client_id id in room for a new connection, replacing a
// holder that may be replaced, and returns the new connection's session
// (to be attached), or returns the refusal. With take false it only says
// whether it would succeed (probing the holder all the same), for a plain
// GET that asks what an upgrade would get.
func (is *identities) acquire(room, id string, take bool) (*session, *refusal) {
	now := is.srv.pool.Clock()
	is.mu.Lock()
	hr := is.rooms[room]
	var old *session
	if hr != nil {
		old = hr.holders[id]
	}
	if old != nil && (!old.held || !old.replaceableLocked(now, is.wait)) {
		is.mu.Unlock()
		return nil, duplicateRefusal
	}
	if !take {
		is.mu.Unlock()
		return nil, nil
	}
	if hr == nil {
		hr = &heldRoom{name: room, holders: make(map[string]*session)}
		is.rooms[room] = hr
	}
	s := &session{id: id, hold: hr}
	hr.holders[id] = s
	is.mu.Unlock()
	if old != nil {
		old.closeWith(protocol.CloseReplaced)
		// Out of the room before the newcomer joins, even when the victim
		// was already closing (its teardown may not have reached the room).
		old.leave()
	}
	return s, nil
}

// bind records that s, made by acquire, is attached.
func (is *identities) bind(s *session) {
	is.mu.Lock()
	defer is.mu.Unlock()
	s.held = true
}

// release gives up s's client_id, unless a newcomer has taken it already,
// and forgets a room where nothing is held any more.
func (is *identities) release(s *session) {
	is.mu.Lock()
	defer is.mu.Unlock()
	hr := s.hold
	if hr.holders[s.id] != s {
		return
	}
	delete(hr.holders, s.id)
	if len(hr.holders) == 0 {
		delete(is.rooms, hr.name)
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
