package server

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/netpoll"
	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/wsframe"
)

// session is one WebSocket connection as the server sees it: it owns the
// descriptor and the teardown, reads and decodes the client's
// frames, and holds the connection's outbound side (what it is sent) and
// its room membership. Those are outbound.Conn, which only writes, and
// rooms.Member, which is only membership: their packages own them, and the
// session embeds both so that an idle connection is one allocation (see
// docs/connection-memory.md); for an anonymous client the session is also
// its hold on the client_id (see identities).
//
// Every system call on the descriptor runs inside fd.Control, Read or
// Write, so it never reaches a number that was closed and reused by
// another connection.
type session struct {
	// Static after attach.
	srv      *Server
	fd       netpoll.FD // closed by finish; the outbound side writes through it
	id       string     // the client_id
	hold     *heldRoom  // where an anonymous session holds its client_id (see identities); nil with tokens
	expires  int64      // pool clock when the token expires, 0 for none
	extended bool       // the client offered chat.v1

	// held is set once an anonymous session holds its client_id in the
	// identities (see identities.bind); guarded by identities.mu.
	held bool

	index int32 // position in sessions.list; guarded by sessions.mu

	// flags holds the session's state bits (flagLingering and the
	// others); each is set, and only flagLeft ever cleared, atomically.
	flags atomic.Uint32

	// strikes counts frames refused by the rate limit in a row; guarded by
	// readMu.
	strikes int32

	// lastSeen is the pool clock of the last complete frame from the
	// client; written by the reader, read by the sweeper.
	lastSeen atomic.Int64
	// probedAt is the pool clock of the last ping sent because a newcomer
	// asked for this connection's client_id (see identities); written
	// under identities.mu.
	probedAt atomic.Int64

	// Owned by the sweeper.
	lastPing int64

	// readMu is held by the reader (OnReady, and attach while it decodes
	// early bytes).
	readMu  sync.Mutex
	dec     wsframe.Decoder // guarded by readMu
	limiter *rate.Limiter   // made at the first frame: most clients mostly listen; guarded by readMu

	// The connection's outbound side and its membership, in the session's
	// allocation: one object per connection. out is initialised by attach
	// (its own fields say who owns them); member is filled in by the join
	// and valid once flagJoined is set (see membership).
	out    outbound.Conn
	member rooms.Member
}

// Bits of session.flags.
const (
	// flagLingering is set once the close frame is written and the session
	// waits for the peer to close (at most lingerTimeout).
	flagLingering uint32 = 1 << iota
	// flagPeerClosed is set when the client's close frame arrived after the
	// connection began closing: the closing handshake is then complete.
	flagPeerClosed
	flagLeft     // the member has left its room
	flagFinished // torn down
	flagJoined   // member is the session's membership: the join was not refused
)

// membership returns the session's room membership, nil when the join was
// refused (shutdown).
func (s *session) membership() *rooms.Member {
	if !s.is(flagJoined) {
		return nil
	}
	return &s.member
}

// Descriptor returns the descriptor, for the outbound side's writes.
func (s *session) Descriptor() syscall.RawConn { return &s.fd }

// is reports whether flag is set.
func (s *session) is(flag uint32) bool { return s.flags.Load()&flag != 0 }

// set sets flag and reports whether this call set it.
func (s *session) set(flag uint32) bool { return s.flags.Or(flag)&flag == 0 }

var (
	_ netpoll.Handler = (*session)(nil)
	_ outbound.Owner  = (*session)(nil)
)

// readScratch is what a reader needs for one readiness report: a buffer
// and the function that reads into it. Both are made once per scratch and
// pooled, so that a read allocates nothing (a closure handed to
// syscall.RawConn.Read would escape on every call).
type readScratch struct {
	buf    []byte
	n      int
	err    error
	readFn func(fd uintptr) bool
}

var readScratches = sync.Pool{New: func() any {
	s := &readScratch{buf: make([]byte, readBufferSize)}
	s.readFn = func(fd uintptr) bool {
		s.n, s.err = unix.Read(int(fd), s.buf)
		return true // never wait: the poller said readable
	}
	return s
}}

// read does one non-blocking read of fd into rs.buf.
func read(fd *netpoll.FD, rs *readScratch) (n int, err error) {
	if err := fd.Read(rs.readFn); err != nil {
		return 0, err
	}
	return max(rs.n, 0), rs.err
}

// attach makes the upgraded connection of descriptor fd, which it takes
// over, a session: it joins the room, queues
// the handshake response (greeting, nil when already written) with the
// first frames, decodes what the client already sent (early) and has the
// poller watch the descriptor. registered says whether the descriptor is
// already in the poller (the handshake put it there). A reservation was
// taken for the connection, and for an anonymous one its client_id
// (req.held, the session to fill in).
func (s *Server) attach(fd int, req wsRequest, greeting, early []byte, registered bool) error {
	// A chat.v1 client's frame may be a message command, whose JSON
	// envelope and escapes take more than its text: the text's limit is
	// checked once the command is read.
	maxFrame := s.cfg.MaxMessageBytes
	if req.extended {
		maxFrame = protocol.CommandFrameLimit(maxFrame)
	}
	sess := req.held
	if sess == nil {
		sess = &session{id: req.clientID}
	}
	sess.srv, sess.extended, sess.expires = s, req.extended, req.expires
	sess.dec = wsframe.Decoder{MaxMessage: int32(min(maxFrame, math.MaxInt32))}
	sess.fd.Init(fd)
	s.pool.InitConn(&sess.out, sess)
	if greeting != nil {
		sess.out.SendGreeting(greeting)
	}
	sess.lastSeen.Store(s.pool.Clock())
	joined := false
	defer func() {
		if !joined { // Join panicked: give back what attach took
			if req.held != nil {
				s.identities.release(sess)
			}
			sess.out.Finish()
			sess.fd.Close()
			s.sessions.unreserve()
		}
	}()
	_, err := s.rooms.Join(rooms.JoinRequest{ClientID: req.clientID, Room: req.room, Since: req.since,
		Epoch: req.epoch, Extended: req.extended, Out: &sess.out, Member: &sess.member})
	joined = true
	if err == nil {
		sess.set(flagJoined)
	}
	if req.held != nil {
		// Bound once the member exists: a newcomer replacing this session
		// takes its member out of the room.
		s.identities.bind(sess)
	}
	s.metrics.ConnectionsOpened.Inc()
	if !s.sessions.add(sess) || err != nil {
		sess.closeWith(protocol.CloseShutdown)
	}
	// Check first: building the fields would allocate on every connection
	// even with debug logging off.
	if ce := s.log.Check(zap.DebugLevel, "connected"); ce != nil {
		ce.Write(zap.String("client_id", req.clientID), zap.String("room", req.room), zap.Stringer("addr", req.addr))
	}
	if len(early) > 0 {
		sess.readMu.Lock()
		sess.decode(early)
		sess.readMu.Unlock()
	}
	sess.out.Start()
	if perr := sess.fd.Do(func(fd int) error {
		if registered {
			s.poller.Set(fd, sess)
			return s.poller.Resume(fd)
		}
		return s.poller.Add(fd, sess)
	}); perr != nil {
		sess.peerGone()
		return fmt.Errorf("poll connection: %w", perr)
	}
	return nil
}

// OnReady reads what the connection has, without blocking, and handles
// every complete frame; once the connection is closing it reads and
// discards, waiting for the peer to close. It runs on a poller worker.
func (s *session) OnReady(netpoll.Event) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.is(flagFinished) {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.srv.metrics.Panics.Inc()
			s.srv.log.Error("panic while handling a connection", zap.String("client_id", s.id),
				zap.Any("panic", v), zap.Stack("stack"))
			s.closeWith(protocol.ClosePanic)
			s.resume()
		}
	}()

	rs := readScratches.Get().(*readScratch)
	defer readScratches.Put(rs)
	for range maxReadsPerEvent {
		n, err := read(&s.fd, rs)
		if n > 0 {
			s.decode(rs.buf[:n])
		}
		switch {
		case err == unix.EAGAIN:
			s.resume()
			return
		case err != nil || n == 0: // reset, or the peer's end of stream
			s.peerGone()
			return
		case n < len(rs.buf):
			// Probably all there was; if not, the poller says so at once.
			s.resume()
			return
		}
	}
	s.resume()
}

func (s *session) resume() {
	if err := s.fd.Do(s.srv.poller.Resume); err != nil && !s.is(flagFinished) {
		s.peerGone()
	}
}

// peerGone tears down a connection whose peer is gone, or that has closed
// after its close frame was written.
func (s *session) peerGone() {
	s.out.Abort(protocol.ClosePeerGone)
	s.finish()
}

// decode handles the complete frames in p. A complete frame, and only
// that, counts as activity: a peer trickling a frame byte by byte is still
// closed as idle.
func (s *session) decode(p []byte) {
	received := time.Now()
	framed := false
	err := s.dec.Decode(p, func(op ws.OpCode, payload []byte) bool {
		framed = true
		s.handle(op, payload, received)
		return true
	})
	if framed {
		s.lastSeen.Store(s.srv.pool.Clock())
	}
	// Decode's errors are always a *CloseError; a type assertion, unlike
	// errors.As, costs no allocation on this path.
	if ce, ok := err.(*wsframe.CloseError); ok {
		reason := protocol.CloseProtocolError
		switch ce.Code {
		case protocol.CloseTooBig.Code:
			reason = protocol.CloseTooBig
			s.srv.metrics.MessagesRejected.WithLabelValues(string(metrics.RejectTooBig)).Inc()
		case protocol.CloseInvalidUTF8.Code:
			reason = protocol.CloseInvalidUTF8
			s.srv.metrics.MessagesRejected.WithLabelValues(string(metrics.RejectInvalidUTF8)).Inc()
		}
		s.closeWith(reason)
	}
}

// handle acts on one complete message or control frame.
func (s *session) handle(op ws.OpCode, payload []byte, received time.Time) {
	m := s.srv.metrics
	if s.out.Closing() {
		// Only the client's answer to our close matters now.
		if op == ws.OpClose {
			s.peerClose()
		}
		return
	}
	s.srv.hook("handle", payload)
	if op == ws.OpClose {
		// Echo the client's code, as RFC 6455 asks.
		reason := protocol.CloseNormal
		if len(payload) >= 2 {
			reason.Code, _ = ws.ParseCloseFrameDataUnsafe(payload)
		}
		s.closeWith(reason)
		return
	}
	if op == ws.OpBinary {
		m.MessagesRejected.WithLabelValues(string(metrics.RejectBinary)).Inc()
		s.closeWith(protocol.CloseBinary)
		return
	}
	// Every other frame, control frames included, takes a token: a ping
	// flood is limited like a message flood.
	if !s.allow(received) {
		if op == ws.OpText {
			m.MessagesRejected.WithLabelValues(string(metrics.RejectRateLimited)).Inc()
			if s.extended {
				s.out.Send(rateLimitedFrame(), s.srv.pool.Clock())
			}
		}
		return
	}
	switch op {
	case ws.OpText:
		if s.extended {
			if cmd, ok, problem := protocol.ParseCommand(payload); ok {
				s.command(cmd, problem, len(payload), received)
				return
			}
			// The decoder let through a command's worth (see attach).
			if len(payload) > s.srv.cfg.MaxMessageBytes {
				s.tooBig()
				return
			}
		}
		m.MessagesReceived.Inc()
		m.ReceivedBytes.Add(float64(len(payload)))
		if m := s.membership(); m != nil {
			s.srv.rooms.Publish(m, payload, received)
		}
	case ws.OpPing:
		s.out.Send(protocol.Frame(ws.OpPong, payload), s.srv.pool.Clock())
	}
}

// command acts on a JSON command of a chat.v1 client, of size bytes;
// problem, when set, says why it cannot be carried out.
func (s *session) command(cmd protocol.Command, problem string, size int, received time.Time) {
	m := s.srv.metrics
	if problem != "" {
		m.Commands.WithLabelValues(string(metrics.CommandBad)).Inc()
		s.out.Send(protocol.NewFrame(&protocol.Event{Type: protocol.TypeError, Code: protocol.ErrorBadCommand,
			ID: cmd.ID, Message: "bad command: " + problem, Time: time.Now()}), s.srv.pool.Clock())
		return
	}
	switch cmd.Type {
	case protocol.CommandMessage:
		if len(cmd.Text) > s.srv.cfg.MaxMessageBytes {
			s.tooBig()
			return
		}
		m.Commands.WithLabelValues(string(metrics.CommandMessage)).Inc()
		m.MessagesReceived.Inc()
		m.ReceivedBytes.Add(float64(size))
		m := s.membership()
		if m == nil {
			return
		}
		if cmd.ID == "" {
			s.srv.rooms.Publish(m, []byte(cmd.Text), received)
		} else {
			s.srv.rooms.PublishID(m, []byte(cmd.Text), cmd.ID, received)
		}
	case protocol.CommandPing:
		m.Commands.WithLabelValues(string(metrics.CommandPing)).Inc()
		s.out.Send(protocol.NewFrame(&protocol.Event{Type: protocol.TypePong, ID: cmd.ID, Time: time.Now()}),
			s.srv.pool.Clock())
	case protocol.CommandTyping:
		m.Commands.WithLabelValues(string(metrics.CommandTyping)).Inc()
		if m := s.membership(); m != nil {
			s.srv.rooms.Typing(m)
		}
	}
}

// tooBig closes the connection for a message over the limit.
func (s *session) tooBig() {
	s.srv.metrics.MessagesRejected.WithLabelValues(string(metrics.RejectTooBig)).Inc()
	s.closeWith(protocol.CloseTooBig)
}

// allow takes a token from the rate limit, and closes the connection with
// 1008 after maxRateStrikes refusals in a row.
func (s *session) allow(now time.Time) bool {
	if s.limiter == nil {
		s.limiter = rate.NewLimiter(rate.Limit(s.srv.cfg.RateLimit), s.srv.cfg.RateBurst)
	}
	if s.limiter.AllowN(now, 1) {
		s.strikes = 0
		return true
	}
	s.strikes++
	if s.strikes > maxRateStrikes {
		s.closeWith(protocol.CloseRateLimited)
	}
	return false
}

// rateLimitedFrame returns the error event sent for a message dropped by
// the rate limit.
func rateLimitedFrame() []byte {
	return protocol.NewFrame(&protocol.Event{Type: protocol.TypeError, Code: protocol.ErrorRateLimited,
		Message: "rate limit exceeded: message dropped, slow down", Time: time.Now()})
}

// closeWith queues the close frame of reason after what is queued; the
// connection is torn down once the peer has it and closes (or after
// lingerTimeout), or if it will not take it.
func (s *session) closeWith(reason protocol.Close) {
	if s.out.Close(reason, false) {
		// A client being closed is no longer a member: the room hears of it
		// now, not after the closing handshake.
		s.leave()
	}
}

// leave takes the member out of its room, once. A Leave that panicked
// did not count: teardown tries again.
func (s *session) leave() {
	m := s.membership()
	if m == nil || !s.set(flagLeft) {
		return
	}
	left := false
	defer func() {
		if !left {
			s.flags.And(^flagLeft)
		}
	}()
	s.srv.rooms.Leave(m)
	left = true
}

// peerClose records the client's close frame, which ends the session once
// ours is written.
func (s *session) peerClose() {
	s.set(flagPeerClosed)
	if s.is(flagLingering) {
		s.finish()
	}
}

// CloseWritten is the outbound side's report that the close frame is
// written. When the client has sent its own (it began the close, or
// answered ours), the closing handshake is complete and the connection is
// closed. Otherwise the write side is shut and the connection lingers, read
// and discarded, until the peer answers or closes, or lingerTimeout passes,
// so that the peer reads everything queued before the close frame rather
// than a reset.
func (s *session) CloseWritten() {
	if s.out.Reason() == protocol.CloseNormal.Label || s.is(flagPeerClosed) {
		s.finish()
		return
	}
	s.set(flagLingering)
	time.AfterFunc(lingerTimeout, s.finish)
	err := s.fd.Do(func(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) })
	if err != nil || s.is(flagPeerClosed) {
		s.finish()
	}
}

// WriteFailed is the outbound side's report that the connection cannot be
// written to.
func (s *session) WriteFailed() { s.finish() }

// maintain is the sweeper's visit: it drops a stalled client, closes an
// idle one and one whose token has expired, pings a quiet one and releases
// idle buffers. It returns the bytes queued for the client.
func (s *session) maintain(now int64, ping []byte) int {
	if s.is(flagFinished) {
		return 0
	}
	if s.is(flagLingering) {
		return 0
	}
	if s.out.Stalled(now) {
		s.out.Abort(protocol.CloseSlowConsumer)
		s.finish()
		return 0
	}
	if !s.out.Closing() {
		idle := int64(s.srv.cfg.IdleTimeout)
		silent := now - s.lastSeen.Load()
		switch {
		case s.expires != 0 && now >= s.expires:
			s.closeWith(protocol.CloseTokenExpired)
		case silent > idle:
			s.closeWith(protocol.CloseIdleTimeout)
		case silent > idle/2 && now-s.lastPing > idle/2:
			s.lastPing = now
			s.out.Send(ping, now)
		}
	}
	s.out.Trim(now)
	return s.out.Queued()
}

// finish tears the session down, once: it stops polling the descriptor,
// stops its writes, leaves the room, closes the connection and counts the
// reason. Any goroutine may call it; none holds a lock it takes.
func (s *session) finish() {
	if !s.set(flagFinished) {
		return
	}
	srv := s.srv
	s.fd.Do(srv.poller.Del) // fails harmlessly if never added
	s.out.Finish()
	// The room is left last, and whatever happens there: a panic in it
	// must not skip closing the descriptor and the count. The client_id is
	// given up only after the member has left (deferred calls run last in,
	// first out), so that a newcomer with it never joins beside the old
	// member, which would hide both the leave and the join notice.
	if s.hold != nil {
		defer srv.identities.release(s)
	}
	defer s.leaveAtTeardown()
	s.fd.Close()
	reason := s.out.Reason()
	if reason == "" {
		reason = protocol.ClosePeerGone.Label
	}
	srv.metrics.ConnectionsClosed.WithLabelValues(reason).Inc()
	if ce := srv.log.Check(zap.DebugLevel, "disconnected"); ce != nil {
		ce.Write(zap.String("client_id", s.id), zap.String("reason", reason))
	}
	srv.sessions.remove(s)
}

// leaveAtTeardown leaves the room for a session being torn down. A panic
// there is counted and logged and the leave tried once more, since nothing
// else will: the rooms release their locks by defer, so a retry cannot
// deadlock.
func (s *session) leaveAtTeardown() {
	defer func() {
		if v := recover(); v != nil {
			s.srv.metrics.Panics.Inc()
			s.srv.log.Error("panic while leaving a room", zap.String("client_id", s.id),
				zap.Any("panic", v), zap.Stack("stack"))
			s.leave()
		}
	}()
	s.leave()
}
