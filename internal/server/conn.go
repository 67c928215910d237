package server

import (
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"github.com/chatplatform/chat/internal/hub"
	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/netpoll"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/wsframe"
)

// sconn is the server's read side of one WebSocket connection. It is
// distinct from hub.Client, which owns the write side and room membership:
// the hub never reads, and sconn never writes.
type sconn struct {
	// Static after attach.
	srv    *Server
	raw    syscall.RawConn
	fd     int
	client *hub.Client

	// mu is held while reading (OnReady) and while tearing down
	// (Closing), so that the descriptor is never re-armed or read after it
	// was removed from the poller, whose number may then belong to another
	// connection.
	mu     sync.Mutex
	closed bool // guarded by mu

	// Owned by the reader holding mu.
	dec     wsframe.Decoder
	limiter *rate.Limiter // made at the first message: most clients mostly listen
	strikes int           // messages rejected by the rate limit in a row
	stop    bool          // a close was requested; ignore further input
}

var _ netpoll.Handler = (*sconn)(nil)
var _ hub.Closer = (*sconn)(nil)

// handleHook, when set by a test, runs before every text message is
// handled.
var handleHook func(payload []byte)

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

// attach joins an upgraded connection to its room, with the handshake
// response still to be written, decodes what the client already sent, and
// registers the descriptor with the poller.
func (s *Server) attach(conn net.Conn, req wsRequest, response, early []byte) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		conn.Close()
		s.conns.Add(-1)
		return fmt.Errorf("connection %T has no descriptor", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		conn.Close()
		s.conns.Add(-1)
		return fmt.Errorf("raw connection: %w", err)
	}
	c := &sconn{srv: s, raw: raw, fd: -1,
		dec: wsframe.Decoder{MaxMessage: s.cfg.MaxMessageBytes},
	}
	raw.Control(func(fd uintptr) { c.fd = int(fd) })

	c.mu.Lock()
	defer c.mu.Unlock()
	c.client = s.hub.Join(hub.JoinRequest{Conn: conn, ClientID: req.clientID, Room: req.room, Since: req.since,
		Closer: c, Greeting: response})
	// Check first: building the fields would allocate on every connection
	// even with debug logging off.
	if ce := s.log.Check(zap.DebugLevel, "connected"); ce != nil {
		ce.Write(zap.String("client_id", req.clientID), zap.String("room", req.room))
	}
	if len(early) > 0 {
		c.decode(early)
	}
	if c.stop || c.closed {
		return nil
	}
	if err := s.poller.Add(c.fd, c); err != nil {
		c.stop = true
		c.client.Gone(metrics.ClosePeerGone)
		return fmt.Errorf("poll connection: %w", err)
	}
	return nil
}

// OnReady reads what the connection has, without blocking, and handles
// every complete frame. It runs on a poller worker.
func (c *sconn) OnReady(netpoll.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.stop {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			c.stop = true
			c.srv.metrics.Panics.Inc()
			c.srv.log.Error("panic while handling a connection", zap.String("client_id", c.client.ID()),
				zap.Any("panic", v), zap.Stack("stack"))
			c.client.Close(protocol.CloseInternal, metrics.ClosePanic)
		}
	}()

	rs := readScratches.Get().(*readScratch)
	defer readScratches.Put(rs)
	for range maxReadsPerEvent {
		n, err := c.read(rs)
		if n > 0 {
			c.decode(rs.buf[:n])
			if c.stop {
				return
			}
		}
		switch {
		case err == unix.EAGAIN:
			c.resume()
			return
		case err != nil || n == 0: // reset, or the peer's end of stream
			c.stop = true
			c.client.Gone(metrics.ClosePeerGone)
			return
		case n < len(rs.buf):
			// Probably all there was; if not, the poller says so at once.
			c.resume()
			return
		}
	}
	c.resume()
}

func (c *sconn) resume() {
	if err := c.srv.poller.Resume(c.fd); err != nil {
		c.stop = true
		c.client.Gone(metrics.ClosePeerGone)
	}
}

// read does one non-blocking read of the descriptor into rs.buf.
func (c *sconn) read(rs *readScratch) (n int, err error) {
	if err := c.raw.Read(rs.readFn); err != nil {
		return 0, err
	}
	return max(rs.n, 0), rs.err
}

// decode handles the complete frames in p. A complete frame, and only
// that, counts as activity: a peer trickling a frame byte by byte is still
// closed as idle.
func (c *sconn) decode(p []byte) {
	received := time.Now()
	framed := false
	err := c.dec.Decode(p, func(op ws.OpCode, payload []byte) bool {
		framed = true
		c.handle(op, payload, received)
		return !c.stop
	})
	if framed {
		c.client.Touch()
	}
	// Decode's errors are always a *CloseError; a type assertion, unlike
	// errors.As, costs no allocation on this path.
	if ce, ok := err.(*wsframe.CloseError); ok {
		reason := metrics.CloseProtocolError
		switch ce.Code {
		case protocol.CloseTooBig:
			reason = metrics.CloseTooBig
			c.srv.metrics.MessagesRejected.WithLabelValues(string(metrics.RejectTooBig)).Inc()
		case protocol.CloseInvalidUTF8:
			reason = metrics.CloseInvalidUTF8
			c.srv.metrics.MessagesRejected.WithLabelValues(string(metrics.RejectInvalidUTF8)).Inc()
		}
		c.stop = true
		c.client.Close(ce.Code, reason)
	}
}

// handle acts on one complete message or control frame.
func (c *sconn) handle(op ws.OpCode, payload []byte, received time.Time) {
	m := c.srv.metrics
	switch op {
	case ws.OpText:
		if handleHook != nil {
			handleHook(payload)
		}
		if c.limiter == nil {
			c.limiter = rate.NewLimiter(rate.Limit(c.srv.cfg.RateLimit), c.srv.cfg.RateBurst)
		}
		if !c.limiter.AllowN(received, 1) {
			m.MessagesRejected.WithLabelValues(string(metrics.RejectRateLimited)).Inc()
			c.strikes++
			if c.strikes > maxRateStrikes {
				c.stop = true
				c.client.Close(protocol.ClosePolicy, metrics.CloseRateLimited)
				return
			}
			c.client.Send(rateLimitedFrame())
			return
		}
		c.strikes = 0
		m.MessagesReceived.Inc()
		m.ReceivedBytes.Add(float64(len(payload)))
		c.srv.hub.Broadcast(c.client, payload, received)
	case ws.OpBinary:
		m.MessagesRejected.WithLabelValues(string(metrics.RejectBinary)).Inc()
		c.stop = true
		c.client.Close(protocol.CloseUnsupported, metrics.CloseBinary)
	case ws.OpPing:
		c.client.Send(protocol.Frame(ws.OpPong, payload))
	case ws.OpClose:
		// Echo the client's code, as RFC 6455 asks.
		code := protocol.CloseNormal
		if len(payload) >= 2 {
			code, _ = ws.ParseCloseFrameDataUnsafe(payload)
		}
		c.stop = true
		c.client.Close(code, metrics.CloseNormal)
	}
}

// rateLimitedFrame returns the error event sent for a message dropped by
// the rate limit.
func rateLimitedFrame() []byte {
	return protocol.NewFrame(&protocol.Event{Type: protocol.TypeError, Code: protocol.ErrorRateLimited,
		Message: "rate limit exceeded: message dropped, slow down", Time: time.Now()})
}

// Closing stops polling the descriptor before the hub closes it. It waits
// for a read in progress to finish.
func (c *sconn) Closing(reason metrics.CloseReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.fd >= 0 {
		c.srv.poller.Del(c.fd) // fails harmlessly if it was never added
	}
	c.srv.conns.Add(-1)
	if ce := c.srv.log.Check(zap.DebugLevel, "disconnected"); ce != nil {
		ce.Write(zap.String("client_id", c.client.ID()), zap.String("reason", string(reason)))
	}
}
