package outbound

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/netpoll"
	"github.com/chatplatform/chat/internal/protocol"
)

// Owner is told, on a writer goroutine, what became of a connection's
// writes. Its methods must not block: the owner tears the connection down
// (and calls Finish) on its own schedule.
type Owner interface {
	// Descriptor returns the connection's descriptor, through which every
	// write goes: the same one at every call, for as long as the Conn is
	// in use. (Asking the owner, which holds it anyway, keeps it out of
	// the Conn.)
	Descriptor() syscall.RawConn
	// CloseWritten reports that the close frame queued by Close has been
	// written in full, after everything queued before it.
	CloseWritten()
	// WriteFailed reports that a write failed or panicked: the connection is
	// unusable. Conn.Reason says why.
	WriteFailed()
}

// Conn is the outbound side of one WebSocket connection: its queue and its
// close state. It is distinct from the server's session, which owns the
// descriptor and reads it: a Conn only ever writes.
type Conn struct {
	// Static after construction.
	pool  *Pool
	owner Owner

	// closing is set under mu by the first Close or Abort; read without
	// the lock by Closing.
	closing atomic.Bool
	// everArmed reports that the descriptor was once registered with the
	// writability poller, so that Finish must remove it.
	everArmed atomic.Bool

	// Guarded by mu. (The booleans of both groups are side by side: the
	// struct packs into a smaller size class.)
	mu     sync.Mutex
	queue  [][]byte
	queued int    // bytes in queue and pending not yet written
	reason string // the Label of the protocol.Close the connection closes with
	// progress is the pool clock of the last write progress, of bytes
	// queued onto an empty queue, or of the first Close or Abort (what a
	// closing connection is timed from); it never goes back.
	progress    int64
	lastFlush   int64 // pool clock of the last flush start
	scheduled   bool  // owned by a writer: see the package documentation
	closeQueued bool  // a close frame is at the end of queue or pending
	greetQueued bool  // queue[0] is the greeting, not yet handed to a writer
	finished    bool

	// Owned by the writer that owns the connection; released by Trim only
	// while no writer does. queue and pending swap their arrays, so a busy
	// connection allocates nothing per flush.
	greetPending bool     // pending[head] is the greeting
	closePending bool     // the close frame is the last entry of pending
	pending      [][]byte // frames taken from queue and not yet written in full, from head
	// head and off are 32 bits (a queue holds fewer frames, and a frame
	// fewer bytes): a Conn embedded in its owner fits a smaller size class.
	head int32
	off  int32 // bytes of pending[head] already written
}

var _ netpoll.Handler = (*Conn)(nil)

// SendGreeting queues bytes that are not a frame (the handshake response)
// ahead of everything else, so that they leave in the same write as the
// first frames. It must be called before the first Send. The greeting is
// never dropped, even by a slow-consumer close.
func (c *Conn) SendGreeting(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, b)
	c.queued += len(b)
	c.greetQueued = true
}

// Start hands the connection to the writers, with what was queued since
// NewConn.
func (c *Conn) Start() { c.pool.schedule(c, 0, 0) }

// Send queues frame, subject to the queue bound, and reports whether it was
// queued. now is the pool clock (Pool.Clock), read once by callers that
// send to many connections. A connection over the bound is closed as a
// slow consumer: its queue is dropped and close 4001 is queued instead.
// Send never blocks.
func (c *Conn) Send(frame []byte, now int64) bool {
	queued, due, start := c.enqueue(frame, now)
	if start {
		c.pool.schedule(c, due, now)
	}
	return queued
}

func (c *Conn) enqueue(frame []byte, now int64) (queued bool, due int64, start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pool.hook("enqueue")
	if c.closing.Load() || c.finished {
		return false, 0, false
	}
	if c.queued+len(frame) > c.pool.cfg.MaxQueueBytes {
		return false, 0, c.closeLocked(protocol.CloseSlowConsumer, true, now)
	}
	if c.queued == 0 {
		c.progress = max(c.progress, now)
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	if c.scheduled {
		return true, 0, false
	}
	c.scheduled = true
	return true, c.lastFlush + c.pool.coalesce.Load(), true
}

// Close queues the close frame of reason after what is already queued (or
// instead of it, when drop is set) and reports whether this call began the
// close: only the first Close or Abort counts. The owner is told through
// CloseWritten once the frame is written. Close never blocks.
func (c *Conn) Close(reason protocol.Close, drop bool) bool {
	now := c.pool.Clock()
	began, start := c.close(reason, drop, now)
	if start {
		c.pool.schedule(c, 0, now)
	}
	return began
}

func (c *Conn) close(reason protocol.Close, drop bool, now int64) (began, start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing.Load() || c.finished {
		return false, false
	}
	return true, c.closeLocked(reason, drop, now)
}

// closeLocked begins the close and reports whether the caller must
// schedule the connection.
func (c *Conn) closeLocked(reason protocol.Close, drop bool, now int64) (start bool) {
	c.closing.Store(true)
	c.reason = reason.Label
	c.progress = max(c.progress, now)
	if drop {
		c.dropQueueLocked()
	}
	frame := reason.Frame()
	if frame == nil {
		return false
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.closeQueued = true
	if c.scheduled {
		return false
	}
	c.scheduled = true
	return true
}

// dropQueueLocked drops what no writer has taken yet, except a greeting.
func (c *Conn) dropQueueLocked() {
	keep := 0
	if c.greetQueued {
		keep = 1
	}
	for _, f := range c.queue[keep:] {
		c.queued -= len(f)
	}
	clear(c.queue[keep:])
	c.queue = c.queue[:keep]
}

// Abort marks the connection closing with reason, when it is not closing
// yet, without queuing anything: the owner is about to tear it down (the
// peer is gone, or it stalled).
func (c *Conn) Abort(reason protocol.Close) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing.Load() {
		c.closing.Store(true)
		c.reason = reason.Label
		c.progress = max(c.progress, c.pool.Clock())
	}
}

// Closing reports whether Close or Abort was called.
func (c *Conn) Closing() bool { return c.closing.Load() }

// Reason returns why the connection is closing, the Label of its
// protocol.Close (only the label is kept: the code and text are in the
// close frame); "" before it is.
func (c *Conn) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Queued returns the bytes queued and not yet written.
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

// Stalled reports whether the connection has had bytes queued without the
// kernel taking any for the write timeout (CloseWriteTimeout once it is
// closing): a slow consumer, or a closing peer that will not take its close
// frame. The owner then tears it down.
func (c *Conn) Stalled(now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished || c.queued == 0 {
		return false
	}
	if c.closing.Load() {
		return now-c.progress > int64(CloseWriteTimeout)
	}
	return now-c.progress > int64(c.pool.cfg.WriteTimeout)
}

// Trim releases the queue buffers of a connection flushed last more than
// idleTrimAfter ago and idle since, so that a connection that only listens
// costs as little as possible; a busy one keeps them and allocates nothing
// per message.
func (c *Conn) Trim(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.scheduled && now-c.lastFlush > int64(idleTrimAfter) && (c.queue != nil || c.pending != nil) {
		c.queue, c.pending = nil, nil
	}
}

// idleTrimAfter is how long a connection must have been idle before its
// buffers are released.
const idleTrimAfter = time.Second

// maxRetainedQueue is the largest queue capacity kept between flushes, so
// that a burst does not leave every idle connection holding a big slice.
const maxRetainedQueue = 64

// Finish drops what is queued and stops the connection's writes for good;
// it removes the descriptor from the writability poller, so it must run
// before the descriptor is closed. The owner calls it once, at teardown. A
// writer flushing meanwhile finds the connection finished and lets it go.
func (c *Conn) Finish() {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	c.queue = nil
	c.queued = 0
	c.mu.Unlock()
	if c.everArmed.Load() {
		c.owner.Descriptor().Control(func(fd uintptr) { c.pool.writable.Del(int(fd)) })
	}
	c.pool.conns.Add(-1)
}

// OnReady is the writability poller's report: the kernel has room again.
// The connection is still scheduled (owned by the writers), so it goes
// straight back to them.
func (c *Conn) OnReady(netpoll.Event) { c.pool.ready <- c }

// errPanicked is the failure of a flush that panicked.
var errPanicked = errors.New("panic while writing")

// flushSafely flushes c, and fails only c if that panics.
func (c *Conn) flushSafely(w *scratch) {
	defer func() {
		if v := recover(); v != nil {
			c.pool.cfg.Metrics.Panics.Inc()
			c.pool.log.Error("panic while writing to a client", zap.Any("panic", v), zap.Stack("stack"))
			c.fail(fmt.Errorf("%w: %v", errPanicked, v))
		}
	}()
	c.flush(w)
}

// fail records a write failure and tells the owner. c stays scheduled, so
// no writer takes it again.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if !c.closing.Load() {
		c.closing.Store(true)
		c.reason = protocol.CloseWriteError.Label
		if errors.Is(err, errPanicked) {
			c.reason = protocol.ClosePanic.Label
		}
	}
	finished := c.finished
	c.mu.Unlock()
	if !finished {
		c.pool.log.Debug("write failed", zap.Error(err))
		c.owner.WriteFailed()
	}
}

// take moves what is queued behind what is pending, for one write. It
// reports false when the connection is finished and must be let go.
func (c *Conn) take(now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pool.hook("take")
	if c.finished {
		return false
	}
	if c.greetQueued {
		c.greetQueued = false
		c.greetPending = true
	}
	if c.closeQueued {
		c.closeQueued = false
		c.closePending = true
	}
	switch {
	case int(c.head) == len(c.pending):
		c.pending, c.head = c.pending[:0], 0
	case int(c.head) > len(c.pending)/2:
		n := copy(c.pending, c.pending[c.head:])
		clear(c.pending[n:])
		c.pending, c.head = c.pending[:n], 0
	}
	if len(c.pending) == 0 {
		// Swap rather than copy: the queue's array becomes pending, and
		// the empty pending array takes the next frames.
		c.pending, c.queue = c.queue, c.pending[:0]
	} else {
		c.pending = append(c.pending, c.queue...)
		clear(c.queue)
		c.queue = c.queue[:0]
	}
	c.lastFlush = now
	return true
}

// flush writes what is pending and queued with one non-blocking system
// call. It runs on a writer, which owns c until flush reschedules it,
// releases it, arms it for writability or reports to the owner.
func (c *Conn) flush(w *scratch) {
	p := c.pool
	now := p.Clock()
	if !c.take(now) {
		return
	}
	if int(c.head) == len(c.pending) {
		c.release(0, now, false)
		return
	}
	n, err := c.write(w)
	p.writes.Add(1)
	greeting := c.greetPending
	frames, bytes := c.advance(n)
	if frames > 0 {
		p.cfg.Metrics.MessagesDelivered.Add(float64(frames))
	}
	if bytes > 0 {
		p.cfg.Metrics.SentBytes.Add(float64(bytes))
	}
	switch {
	case err != nil && err != unix.EAGAIN:
		c.fail(err)
	case int(c.head) < len(c.pending):
		// The socket buffer is full: wait for room without holding a
		// writer. Arming is the last thing done with c, since the report
		// may hand it to another writer at once.
		c.armWritable(n, now)
	case c.closePending:
		c.wrote(n, now)
		c.owner.CloseWritten()
	default:
		// The buffers of the write that took the greeting (the connect
		// burst) go at once: most connections then only listen.
		c.release(n, now, greeting)
	}
}

// write does one non-blocking write of the pending frames: copied into the
// writer's buffer when they fit, else vectored.
func (c *Conn) write(w *scratch) (int, error) {
	c.pool.hook("write")
	first := c.pending[c.head][c.off:]
	rest := c.pending[c.head+1:]
	w.single, w.n, w.err = nil, 0, nil
	switch {
	case len(rest) == 0:
		w.single = first
	default:
		total := len(first)
		for _, f := range rest {
			total += len(f)
		}
		if total <= len(w.buf) {
			b := append(w.buf[:0], first...)
			for _, f := range rest {
				b = append(b, f...)
			}
			w.single = b
		} else {
			w.iovs = append(w.iovs[:0], first)
			w.iovs = append(w.iovs, rest[:min(len(rest), maxIovecs-1)]...)
		}
	}
	err := c.owner.Descriptor().Write(w.writeFn)
	clear(w.iovs)
	w.iovs = w.iovs[:0]
	if err != nil {
		return 0, err
	}
	return w.n, w.err
}

// advance drops n written bytes from the head of pending and returns the
// frames completed (not counting the greeting) and their bytes.
func (c *Conn) advance(n int) (frames int, bytes int) {
	bytes = n
	for n > 0 {
		left := len(c.pending[c.head]) - int(c.off)
		if n < left {
			c.off += int32(n)
			break
		}
		n -= left
		c.pending[c.head] = nil
		c.head++
		c.off = 0
		if c.greetPending {
			c.greetPending = false
		} else {
			frames++
		}
	}
	return frames, bytes
}

// wrote accounts n bytes written at now.
func (c *Conn) wrote(n int, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wroteLocked(n, now)
}

func (c *Conn) wroteLocked(n int, now int64) {
	c.queued -= n
	if n > 0 {
		c.progress = max(c.progress, now)
	}
}

func (c *Conn) armWritable(n int, now int64) {
	c.wrote(n, now)
	c.everArmed.Store(true)
	var err error
	if cerr := c.owner.Descriptor().Control(func(fd uintptr) {
		if err = c.pool.writable.Resume(int(fd)); err != nil {
			err = c.pool.writable.Add(int(fd), c)
		}
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		c.fail(fmt.Errorf("wait for writability: %w", err))
	}
}

// release ends a flush that wrote everything pending, n bytes at now: c
// is handed to a writer again if something was queued since take, else
// its scheduling ends. With drop set the buffers are released rather than
// kept for the next flush.
func (c *Conn) release(n int, now int64, drop bool) {
	reschedule, due := c.unschedule(n, now, drop)
	if reschedule {
		c.pool.schedule(c, due, c.pool.Clock())
	}
}

// unschedule accounts the n bytes written (see wrote) and decides, under
// one hold of the lock, whether c is scheduled again; see release for
// drop.
func (c *Conn) unschedule(n int, now int64, drop bool) (reschedule bool, due int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wroteLocked(n, now)
	c.pool.hook("release")
	if c.finished {
		return false, 0
	}
	// Everything pending was written (advance cleared the entries).
	c.pending, c.head, c.off = c.pending[:0], 0, 0
	if drop || cap(c.pending) > maxRetainedQueue {
		c.pending = nil
	}
	if len(c.queue) > 0 {
		if c.closeQueued {
			return true, 0 // a close frame waits for nothing
		}
		return true, now + c.pool.coalesce.Load()
	}
	c.scheduled = false
	if drop || cap(c.queue) > maxRetainedQueue {
		c.queue = nil
	}
	return false, 0
}
