package loadgen

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatplatform/chat/internal/loadgen/wire"
	"golang.org/x/sys/unix"
)

// Error kinds counted in Result.Errors besides the families
// "handshake_<HTTP status>" and "closed_<close code>" (closed by the server
// with that code while the client meant to stay).
const (
	ErrRefused          = "refused"         // TCP connect refused
	ErrConnectTimeout   = "connect_timeout" // TCP connect or handshake past DialTimeout
	ErrNoSourcePort     = "no_source_port"  // the source address ran out of ports
	ErrDial             = "dial"            // any other connect failure
	ErrHandshake        = "handshake"       // malformed handshake response
	ErrPeerGone         = "peer_gone"       // connection ended without a close frame
	ErrReset            = "reset"           // connection reset or another read error
	ErrWriteTimeout     = "write_timeout"   // a send blocked past writeTimeout
	ErrWrite            = "write"           // a send failed
	ErrProtocol         = "protocol"        // the server broke RFC 6455
	ErrWrongRoom        = "wrong_room"      // a message from a sender of another room
	ErrRateLimited      = "server_rate_limited"
	ErrServerEvent      = "server_error" // an error event with another code
	ErrUnexpectedBinary = "binary_frame"
	ErrToken            = "token" // a token could not be minted
)

// ErrorKinds lists the fixed error kinds (not the handshake_ and closed_
// families), so that their metric series exist at zero from the start.
var ErrorKinds = []string{
	ErrRefused, ErrConnectTimeout, ErrNoSourcePort, ErrDial, ErrHandshake, ErrPeerGone, ErrReset,
	ErrWriteTimeout, ErrWrite, ErrProtocol, ErrWrongRoom, ErrRateLimited, ErrServerEvent, ErrUnexpectedBinary, ErrToken,
}

// writeTimeout bounds one frame write; a client whose socket stays full that
// long is counted as an error and its frame dropped.
const writeTimeout = 5 * time.Second

// never is the leave time of a client that stays until the end.
const never = math.MaxInt64

var errConnClosed = errors.New("connection closed")

// simConn is one WebSocket connection of a simulated client. It is not a
// net.Conn: after the handshake the socket is a bare non-blocking file
// descriptor watched by one of the engine's epoll loops, so an idle client
// costs this struct and nothing else in user space (no goroutine, no
// buffer, no runtime poller registration). A client that churns gets a new
// simConn per connection.
type simConn struct {
	// Static after construction.
	e       *engine
	slot    int    // local slot index
	global  uint32 // global client index
	room    int32
	fd      int
	url     int   // index of the server's URL in engine.urls
	gen     int32 // the client's join generation, part of its client_id (see engine.dial)
	resumed bool  // this connection resumes a session (see session)

	// joined is when this connection's welcome arrived (Unix nanos), 0
	// before. Written by the reader, read by the sender and churn.
	joined atomic.Int64
	// windowJoin opens the delivery window: the first welcome of the
	// session (a resumed connection starts with its session's). Written by
	// the reader or takeSession, read by settle.
	windowJoin atomic.Int64
	// leaveAt is when the client decided to leave (Unix nanos), never while
	// it stays. Written by churn or the stage driver, read by the reader.
	leaveAt atomic.Int64
	// cut is set by churn when it drops the connection on purpose.
	cut atomic.Bool

	// Owned by the reader (its loop, or the dialer before the descriptor
	// is added to the loop), under the loop's mu; carried to the next
	// connection by a session.
	partial []byte      // start of a frame not yet complete
	frag    []byte      // text message being reassembled from fragments
	peers   []peerState // per sender seen, sorted by sender
	got     int64       // distinct receipts inside the window
	lastSeq int64       // highest room seq seen (only tracked when resuming is possible), -1 if none
	epoch   string      // epoch of the last welcome, "" if none
	gaps    int32       // resumes of the session answered with gap:true
	dropAt  int64       // when the session's previous connection was lost

	mu sync.Mutex
	// Guarded by mu.
	closed    bool // fd closed, interval recorded
	sentClose bool // we sent a close frame (first, or as an echo); the server's close is expected
	left      bool // the client started the close (leave): not a lost connection
}

// peerState tracks the messages of one sender seen by one receiver: the
// highest sequence and a bitmap of the 64 sequences up to it (bit 0 is
// last), which tells duplicates from late arrivals.
type peerState struct {
	sender uint32
	last   uint32
	window uint64
	first  uint32 // first sequence received; holes are counted above it
}

// peer returns the state for sender, adding it in order when new.
func (c *simConn) peer(sender uint32) *peerState {
	lo, hi := 0, len(c.peers)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.peers[m].sender < sender {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(c.peers) || c.peers[lo].sender != sender {
		c.peers = append(c.peers, peerState{})
		copy(c.peers[lo+1:], c.peers[lo:])
		c.peers[lo] = peerState{sender: sender}
	}
	return &c.peers[lo]
}

// receipt classifies the arrival of (sender, seq): duplicate, or a first
// receipt that may have arrived out of order.
func (p *peerState) receipt(seq uint64) (dup, reordered bool) {
	q := uint32(min(seq, math.MaxUint32))
	switch {
	case q > p.last:
		if shift := q - p.last; shift >= 64 {
			p.window = 1
		} else {
			p.window = p.window<<shift | 1
		}
		p.last = q
		return false, false
	case p.last-q >= 64:
		return false, true // too old to tell; counted as a late first receipt
	default:
		bit := uint64(1) << (p.last - q)
		if p.window&bit != 0 {
			return true, false
		}
		p.window |= bit
		return false, true
	}
}

// readyLocked reads everything the socket holds and handles every
// complete frame; events are the epoll events that reported it. It reports
// whether the connection is finished. l.mu is held.
func (c *simConn) readyLocked(l *loop, events uint32) (finished bool) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return true
	}
	// After a hang-up no new edge will come: read to the end.
	hup := events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	for {
		need := max(readBufSize, wire.FrameLen(c.partial)+readBufSize/2)
		if cap(l.buf) < need {
			l.buf = make([]byte, need)
		}
		buf := l.buf[:cap(l.buf)]
		k := copy(buf, c.partial)
		n, err := unix.Read(c.fd, buf[k:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			c.finish(ErrReset)
			return true
		case n == 0:
			c.finish(ErrPeerGone)
			return true
		}
		if c.handleLocked(l, buf[:k+n], time.Now()) {
			return true
		}
		if k+n < len(buf) && !hup {
			// A short read drained the socket; data arriving from now on
			// raises a new edge.
			return false
		}
	}
}

// handleLocked handles the frames in b, keeps an incomplete tail in
// c.partial, and reports whether the connection is finished.
func (c *simConn) handleLocked(l *loop, b []byte, now time.Time) (finished bool) {
	for {
		f, n, err := wire.ReadFrame(b)
		if err != nil {
			c.finish(ErrProtocol)
			return true
		}
		if n == 0 {
			break
		}
		b = b[n:]
		switch f.Op {
		case wire.OpText:
			if !f.Fin {
				c.frag = append(c.frag[:0], f.Payload...)
				continue
			}
			c.eventLocked(l, f.Payload, now)
		case wire.OpContinuation:
			c.frag = append(c.frag, f.Payload...)
			if f.Fin {
				c.eventLocked(l, c.frag, now)
				c.frag = nil
			}
		case wire.OpBinary:
			c.e.errors.add(ErrUnexpectedBinary)
		case wire.OpPing:
			if c.write(wire.OpPong, f.Payload) != nil {
				c.finish("") // the write counted its error
				return true
			}
		case wire.OpClose:
			c.closeReceived(wire.CloseCode(f.Payload))
			return true
		}
	}
	if len(b) == 0 {
		c.partial = nil
	} else {
		c.partial = append([]byte(nil), b...)
	}
	return false
}

var (
	typeMessage = []byte("message")
	typeWelcome = []byte("welcome")
	typeError   = []byte("error")
	codeKey     = []byte(`"code":"`)
)

// eventLocked handles one server event: a JSON event, or with
// ProtocolRaw the raw text of messages, one per line.
func (c *simConn) eventLocked(l *loop, ev []byte, now time.Time) {
	if c.e.cfg.Protocol == ProtocolRaw {
		for line := range bytes.SplitSeq(ev, newline) {
			p, ok := wire.ParseRaw(line)
			c.messageLocked(l, p, ok, now)
		}
		return
	}
	typ := wire.EventType(ev)
	switch {
	case bytes.Equal(typ, typeMessage):
		if c.e.resume {
			if seq, ok := wire.Seq(ev); ok && seq > c.lastSeq {
				c.lastSeq = seq
			}
		}
		p, ok := wire.ParseMessage(ev)
		c.messageLocked(l, p, ok, now)
	case bytes.Equal(typ, typeWelcome):
		if c.joined.Load() == 0 {
			c.welcomeLocked(ev, now.UnixNano())
		}
	case bytes.Equal(typ, typeError):
		if i := bytes.Index(ev, codeKey); i >= 0 && bytes.HasPrefix(ev[i+len(codeKey):], []byte(`rate_limited"`)) {
			c.e.errors.add(ErrRateLimited)
		} else {
			c.e.errors.add(ErrServerEvent)
		}
	}
}

var newline = []byte{'\n'}

// messageLocked records the receipt of a message whose payload is p (ok
// false: the message carries none).
func (c *simConn) messageLocked(l *loop, p wire.Payload, ok bool, now time.Time) {
	if !ok || int(p.Sender) >= c.e.cfg.Senders {
		l.foreign++
		return
	}
	if int32(int(p.Sender)%c.e.cfg.Rooms) != c.room {
		c.e.errors.add(ErrWrongRoom)
		return
	}
	l.received++
	if s := c.e.resender(c.slot); s != nil && s.index == p.Sender {
		s.echo(p.Seq)
	}
	ps := c.peer(p.Sender)
	prev := ps.last
	dup, reordered := ps.receipt(p.Seq)
	if dup {
		l.duplicates++
		return
	}
	switch q := uint32(min(p.Seq, math.MaxUint32)); {
	case prev == 0:
		ps.first = q
	case reordered && q > ps.first && l.holes > 0:
		l.holes-- // a late arrival fills a hole counted before
	case !reordered && q > prev+1:
		l.holes += int64(q - prev - 1)
	}
	if reordered {
		l.reordered++
	}
	recordMicros(l.latency, now.Sub(time.Unix(0, p.SentNanos)))
	if j := c.windowJoin.Load(); j != 0 && p.SentNanos > j && p.SentNanos <= c.leaveAt.Load() {
		c.got++
		c.e.inWindow.Add(1)
	} else {
		l.extra++
	}
}

// welcomeLocked handles the first welcome of the connection: it opens the
// session's window (unless the connection resumes one), and takes the
// resume point from it.
func (c *simConn) welcomeLocked(ev []byte, now int64) {
	e := c.e
	gap := wire.Gap(ev)
	if c.resumed {
		if s := e.resender(c.slot); s != nil {
			select {
			case s.rejoined <- struct{}{}:
			default:
			}
		}
		e.connectMu.Lock()
		recordMicros(e.reconnect, time.Duration(now-c.dropAt))
		e.connectMu.Unlock()
		e.resumes.Add(1)
		if gap {
			c.gaps++
			e.resumeGaps.Add(1)
		}
	}
	if e.resume {
		if seq, ok := wire.Seq(ev); ok && (!c.resumed || gap) {
			c.lastSeq = seq // a new start: the messages from here on follow
		}
		if ep := wire.Epoch(ev); ep != nil {
			c.epoch = string(ep)
		}
	}
	if c.windowJoin.Load() == 0 {
		c.windowJoin.Store(now)
	}
	c.joined.Store(now)
	e.welcomed.Add(1)
}

// closeReceived answers a server close frame and finishes the connection.
func (c *simConn) closeReceived(code int) {
	c.mu.Lock()
	expected := c.sentClose
	c.mu.Unlock()
	kind := ""
	if !expected && !c.e.closing.Load() {
		kind = "closed_" + strconv.Itoa(code)
	}
	if !expected {
		echo := code
		if code == 1005 {
			echo = 1000
		}
		_ = c.write(wire.OpClose, wire.ClosePayload(echo))
	}
	c.finish(kind)
}

// write sends one masked frame. It blocks for at most writeTimeout when the
// socket buffer is full.
func (c *simConn) write(op byte, payload []byte) error {
	var mask [4]byte
	m := c.e.maskKey()
	mask[0], mask[1], mask[2], mask[3] = byte(m), byte(m>>8), byte(m>>16), byte(m>>24)
	var small [256]byte
	frame := wire.AppendClientFrame(small[:0], op, payload, mask)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errConnClosed
	}
	if op == wire.OpClose {
		c.sentClose = true
	}
	deadline := time.Now().Add(writeTimeout)
	for len(frame) > 0 {
		n, err := unix.Write(c.fd, frame)
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			wait := time.Until(deadline)
			if wait <= 0 {
				c.e.errors.add(ErrWriteTimeout)
				return errConnClosed
			}
			fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds, int(wait/time.Millisecond)+1)
		case err != nil:
			c.e.errors.add(ErrWrite)
			return err
		default:
			frame = frame[n:]
		}
	}
	return nil
}

// leave starts a graceful close: the client sends a close frame and the
// server's echo finishes the connection.
func (c *simConn) leave() {
	c.mu.Lock()
	c.left = true
	c.mu.Unlock()
	_ = c.write(wire.OpClose, wire.ClosePayload(1000))
}

// cutOff drops the connection without a close frame, as a network cut
// would: the socket is shut down (the descriptor stays open), so the reader
// sees the end and finishes it.
func (c *simConn) cutOff() {
	c.cut.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// finish closes the descriptor once and records the connection's window.
// kind, when not empty, is counted as an error. finish is called by the
// reader, or by the engine after the loops have stopped.
func (c *simConn) finish(kind string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	left := c.left
	// The only descriptor of the socket: closing it also takes it out of
	// its loop's epoll set.
	_ = unix.Close(c.fd)
	c.mu.Unlock()
	if kind != "" && !c.cut.Load() {
		c.e.errors.add(kind)
	}
	c.e.connDone(c, time.Now().UnixNano(), left)
}
