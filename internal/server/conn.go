package server

import (
	"errors"
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

// readBuffers holds buffers of readBufferSize bytes shared by the readers.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

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
	s.log.Debug("connected", zap.String("client_id", req.clientID), zap.String("room", req.room))
	if len(early) > 0 {
		c.client.Touch()
		c.decode(early, time.Now())
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

	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	buf := *bp
	for range maxReadsPerEvent {
		n, err := c.read(buf)
		if n > 0 {
			c.client.Touch()
			c.decode(buf[:n], time.Now())
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
		case n < len(buf):
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

// read does one non-blocking read of the descriptor.
func (c *sconn) read(buf []byte) (n int, err error) {
	rerr := c.raw.Read(func(fd uintptr) bool {
		n, err = unix.Read(int(fd), buf)
		return true // never wait: the poller said readable
	})
	if rerr != nil {
		return 0, rerr
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

// decode handles the complete frames in p.
func (c *sconn) decode(p []byte, received time.Time) {
	err := c.dec.Decode(p, func(op ws.OpCode, payload []byte) bool {
		c.handle(op, payload, received)
		return !c.stop
	})
	var ce *wsframe.CloseError
	if errors.As(err, &ce) {
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
	c.srv.log.Debug("disconnected", zap.String("client_id", c.client.ID()), zap.String("reason", string(reason)))
}
