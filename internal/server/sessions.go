package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/chatplatform/chat/internal/protocol"
)

// Errors of sessions.reserve, answered with 503.
var (
	errFull     = errors.New("server full")
	errDraining = errors.New("server shutting down")
)

// sessions is the one count of WebSocket connections, enforced where they
// are admitted, and the list of live ones that Shutdown and the sweeper
// walk.
type sessions struct {
	// Static after construction.
	srv  *Server
	ping []byte // a ping frame, shared

	mu       sync.Mutex
	list     []*session    // attached sessions; guarded by mu
	reserved int           // admitted by reserve and not yet attached; guarded by mu
	closed   bool          // set by shutdown: nothing more is admitted; guarded by mu
	drained  chan struct{} // closed when closed and nothing is left; guarded by mu
}

func newSessions(s *Server) *sessions {
	return &sessions{srv: s, ping: protocol.Frame(ws.OpPing, nil), drained: make(chan struct{})}
}

// reserve admits one more connection, or says why not.
func (ss *sessions) reserve() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err := ss.availableLocked(); err != nil {
		return err
	}
	ss.reserved++
	return nil
}

// available reports whether reserve would admit a connection now.
func (ss *sessions) available() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.availableLocked()
}

func (ss *sessions) availableLocked() error {
	switch {
	case ss.closed:
		return errDraining
	case ss.reserved+len(ss.list) >= ss.srv.cfg.MaxConnections:
		return errFull
	}
	return nil
}

// unreserve gives back a reservation whose upgrade failed.
func (ss *sessions) unreserve() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.reserved--
	ss.checkDrainedLocked()
}

// add turns a reservation into the live session s and reports whether the
// server is still open; when it is not, the caller closes s at once.
func (ss *sessions) add(s *session) (open bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.reserved--
	s.index = int32(len(ss.list))
	ss.list = append(ss.list, s)
	ss.srv.metrics.Connections.Set(float64(len(ss.list)))
	return !ss.closed
}

// remove forgets s, which has been torn down.
func (ss *sessions) remove(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	last := len(ss.list) - 1
	moved := ss.list[last]
	ss.list[s.index] = moved
	moved.index = s.index
	ss.list[last] = nil
	ss.list = ss.list[:last]
	ss.srv.metrics.Connections.Set(float64(len(ss.list)))
	ss.checkDrainedLocked()
}

func (ss *sessions) checkDrainedLocked() {
	if ss.closed && ss.reserved == 0 && len(ss.list) == 0 {
		select {
		case <-ss.drained:
		default:
			close(ss.drained)
		}
	}
}

// count returns the connections admitted and not torn down.
func (ss *sessions) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.reserved + len(ss.list)
}

// snapshot appends the live sessions to dst.
func (ss *sessions) snapshot(dst []*session) []*session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return append(dst, ss.list...)
}

// shutdown refuses new connections, closes every live one with 1001 and
// waits until all are gone or ctx ends; then it tears down what is left.
// Sessions attached later (their upgrade was under way) close themselves
// when add reports the server closed.
func (ss *sessions) shutdown(ctx context.Context) error {
	ss.mu.Lock()
	ss.closed = true
	ss.checkDrainedLocked()
	live := append([]*session(nil), ss.list...)
	ss.mu.Unlock()
	for _, s := range live {
		s.closeWith(protocol.CloseShutdown)
	}
	select {
	case <-ss.drained:
		return nil
	case <-ctx.Done():
		ss.finishAll()
		return ctx.Err()
	}
}

// finishAll tears down every live session at once.
func (ss *sessions) finishAll() {
	for _, s := range ss.snapshot(nil) {
		s.out.Abort(protocol.CloseShutdown)
		s.finish()
	}
}

// sweep pings quiet clients, closes idle and stalled ones, ends lingering
// closes and releases idle queue buffers, until the server stops. It also
// publishes the bytes queued over all clients.
func (ss *sessions) sweep() {
	defer ss.srv.sweepers.Done()
	idle := ss.srv.cfg.IdleTimeout
	t := time.NewTicker(min(max(idle/10, 10*time.Millisecond), time.Second))
	defer t.Stop()
	var live []*session
	for {
		select {
		case <-ss.srv.stop:
			return
		case <-t.C:
		}
		live = ss.snapshot(live[:0])
		now := ss.srv.pool.Clock()
		queued := 0
		for _, s := range live {
			queued += s.maintain(now, ss.ping)
		}
		clear(live)
		ss.srv.metrics.OutboundQueueBytes.Set(float64(queued))
	}
}
