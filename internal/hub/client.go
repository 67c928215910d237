package hub

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
)

// Closer is told, once, that a client is being torn down, before its
// connection is closed. The server uses it to stop polling the descriptor
// while the number is still its own.
type Closer interface {
	Closing(reason metrics.CloseReason)
}

// Client is the hub's side of one WebSocket connection: its room
// membership and its outbound queue. Reading the connection is the
// caller's job.
type Client struct {
	// Static after construction.
	id     string
	room   *room
	conn   net.Conn
	hub    *Hub
	closer Closer

	// lastSeen is the hub clock (nanoseconds) of the last frame from the
	// client; written by the reader through Touch, read by the sweeper.
	lastSeen atomic.Int64

	// Owned by the sweeper.
	lastPing int64

	// Guarded by room.mu.
	index int // position in room.members

	// Guarded by mu.
	mu          sync.Mutex
	queue       [][]byte
	queued      int  // bytes in queue
	scheduled   bool // queued for a writer, waiting in the wheel, or being flushed
	closing     bool // a close was requested; nothing more is queued
	closeReason metrics.CloseReason
	lastFlush   int64 // hub clock of the last flush start
	spare       [][]byte
	finished    bool

	// Owned by the writer flushing the client.
	greetings int // entries of the first flush that are not frames (the handshake response)
	deadline  time.Time
}

// ID returns the client id.
func (c *Client) ID() string { return c.id }

// Touch records that a frame arrived from the client, which keeps it from
// being pinged or closed as idle.
func (c *Client) Touch() { c.lastSeen.Store(c.hub.clock()) }

// Send queues a frame for the client alone, subject to the queue bound.
func (c *Client) Send(frame []byte) {
	if c.enqueue(frame, c.hub.clock()) {
		c.hub.queuedBytes.Add(int64(len(frame)))
	}
}

// Close queues a close frame with code, after what is already queued, and
// tears the client down once it is written (or the write fails). A slow
// consumer's queue is dropped first. Only the first Close counts; Close
// never blocks on the network.
func (c *Client) Close(code ws.StatusCode, reason metrics.CloseReason) {
	c.close(protocol.CloseFrame(code, closeText(reason)), reason)
}

// Gone tears the client down without a close frame: the peer is gone.
func (c *Client) Gone(reason metrics.CloseReason) {
	c.close(nil, reason)
}

func closeText(r metrics.CloseReason) string {
	switch r {
	case metrics.CloseShutdown:
		return "server shutting down"
	case metrics.CloseSlowConsumer:
		return "slow consumer: outbound queue full"
	case metrics.CloseIdleTimeout:
		return "idle timeout"
	case metrics.CloseRateLimited:
		return "rate limit exceeded"
	case metrics.ClosePanic:
		return "internal error"
	}
	return ""
}

func (c *Client) close(frame []byte, reason metrics.CloseReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(frame, reason)
}

func (c *Client) closeLocked(frame []byte, reason metrics.CloseReason) {
	if c.closing {
		return
	}
	c.closing = true
	c.closeReason = reason
	if reason == metrics.CloseSlowConsumer || frame == nil {
		c.dropQueueLocked()
	}
	if frame != nil {
		c.queue = append(c.queue, frame)
		c.queued += len(frame)
		c.hub.queuedBytes.Add(int64(len(frame)))
	}
	if !c.scheduled {
		c.scheduled = true
		c.hub.ready <- c
	}
}

func (c *Client) dropQueueLocked() {
	c.hub.queuedBytes.Add(-int64(c.queued))
	clear(c.queue)
	c.queue = c.queue[:0]
	c.queued = 0
}

// enqueue appends frame to the queue and schedules a flush. It reports
// whether the frame was queued; the caller accounts the queued bytes.
func (c *Client) enqueue(frame []byte, now int64) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if c.queued+len(frame) > c.hub.cfg.MaxQueueBytes {
		c.closeLocked(protocol.CloseFrame(protocol.CloseSlowConsumer, closeText(metrics.CloseSlowConsumer)), metrics.CloseSlowConsumer)
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	if c.scheduled {
		c.mu.Unlock()
		return true
	}
	c.scheduled = true
	due := c.lastFlush + c.hub.coalesce.Load()
	c.mu.Unlock()
	c.hub.schedule(c, due, now)
	return true
}

// flush writes everything queued with one system call. It runs on a
// writer, which owns the client until flush reschedules or releases it.
// A client is never scheduled again once finished: finish runs only here
// (or where a flush panicked), with scheduled still set.
func (c *Client) flush(w *writerScratch) {
	h := c.hub
	now := h.clock()

	c.mu.Lock()
	q := c.queue
	c.queue, c.spare = c.spare[:0], nil
	n := c.queued
	c.queued = 0
	closing := c.closing // q then ends with the close frame, if any
	c.lastFlush = now
	c.mu.Unlock()
	h.queuedBytes.Add(-int64(n))

	var err error
	if len(q) > 0 {
		err = c.write(q, n, closing, w)
	}
	if len(q) > 0 && err == nil {
		h.cfg.Metrics.MessagesDelivered.Add(float64(len(q) - c.greetings))
		h.cfg.Metrics.SentBytes.Add(float64(n))
		c.greetings = 0
	}

	c.mu.Lock()
	clear(q)
	if cap(q) <= maxRetainedQueue {
		c.spare = q[:0]
	}
	switch {
	case err != nil || (c.closing && len(c.queue) == 0):
		reason := c.closeReason
		if !c.closing {
			reason = metrics.CloseWriteError
			h.log.Debug("write failed", zap.String("client_id", c.id), zap.Error(err))
		}
		c.closing = true
		c.dropQueueLocked()
		c.mu.Unlock()
		c.finish(reason)
	case len(c.queue) > 0:
		due := now + h.coalesce.Load()
		if c.closing {
			due = 0 // a close frame waits for nothing
		}
		c.mu.Unlock()
		h.schedule(c, due, h.clock())
	default:
		c.scheduled = false
		if cap(c.queue) > maxRetainedQueue {
			c.queue = nil
		}
		c.mu.Unlock()
	}
}

// trimIfIdle releases the queue buffers of a client flushed last more than
// idleTrimAfter ago and idle since, so that a client that only listens
// costs as little as possible; a busy client keeps them and allocates
// nothing per message.
func (c *Client) trimIfIdle(now int64) {
	c.mu.Lock()
	if !c.scheduled && now-c.lastFlush > int64(idleTrimAfter) && c.spare != nil {
		c.queue, c.spare = nil, nil
	}
	c.mu.Unlock()
}

// idleTrimAfter is how long a client must have been idle before its
// buffers are released.
const idleTrimAfter = time.Second

// maxRetainedQueue is the largest queue capacity kept between flushes, so
// that a burst does not leave every idle client holding a big slice.
const maxRetainedQueue = 64

func (c *Client) write(q [][]byte, size int, closing bool, w *writerScratch) error {
	timeout := c.hub.cfg.WriteTimeout
	if closing {
		timeout = min(timeout, closeWriteTimeout)
	}
	// Moving a deadline costs a timer update: do it only when the one set
	// is closer than half the timeout, or when closing shortens it.
	now := time.Now()
	if closing || c.deadline.Sub(now) < timeout/2 {
		c.deadline = now.Add(timeout)
		if err := c.conn.SetWriteDeadline(c.deadline); err != nil {
			return err
		}
	}
	// One system call either way. Frames that fit the writer's buffer are
	// copied into it, which is cheaper than a vectored write for small
	// frames and spares the connection the iovec array the runtime keeps
	// for vectored writes; larger batches go out with writev.
	var err error
	switch {
	case len(q) == 1:
		_, err = c.conn.Write(q[0])
	case size <= len(w.buf):
		b := w.buf[:0]
		for _, f := range q {
			b = append(b, f...)
		}
		_, err = c.conn.Write(b)
	default:
		w.bufs = q
		_, err = w.bufs.WriteTo(c.conn)
		w.bufs = nil
	}
	return err
}

// writerScratch is what a writer goroutine reuses for every flush.
type writerScratch struct {
	buf  []byte      // batches up to its length are copied here
	bufs net.Buffers // larger batches; a field so that it does not escape per flush
}

// writerBufferSize is the largest batch a writer copies into one buffer
// rather than writing with writev.
const writerBufferSize = 16 << 10

// finish tears the client down: tells its Closer, closes the connection,
// leaves the room and counts the reason. It runs once, on the writer.
func (c *Client) finish(reason metrics.CloseReason) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	c.mu.Unlock()

	h := c.hub
	if c.closer != nil {
		c.closer.Closing(reason)
	}
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		h.log.Debug("close connection", zap.String("client_id", c.id), zap.Error(err))
	}
	h.leave(c)
	h.cfg.Metrics.ConnectionsClosed.WithLabelValues(string(reason)).Inc()
	h.cfg.Metrics.Connections.Dec()
	h.live.Done()
}
