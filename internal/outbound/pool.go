package outbound

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/netpoll"
)

// Pool is the set of writers and the machinery that schedules connections
// onto them.
type Pool struct {
	// Static after construction.
	cfg      Config
	log      *zap.Logger
	epoch    time.Time // origin of the pool clock
	ready    chan *Conn
	wheel    *wheel
	writable *netpoll.Poller // EPOLLOUT for connections whose socket buffer is full

	coalesce atomic.Int64 // current coalescing interval, nanoseconds; set by pace
	conns    atomic.Int64 // connections made and not finished
	writes   atomic.Int64 // write system calls made, read by pace

	stop      chan struct{} // closed by Close; never reopened
	closeOnce sync.Once
	workers   sync.WaitGroup

	// testHook, when set (by tests only), runs at
	// the named points of a flush while the connection's lock is held.
	testHook atomic.Pointer[func(point string)]
}

// New creates a pool and starts its writers, its timing wheel and its
// writability poller.
func New(cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	wp, err := netpoll.New(netpoll.Config{Writable: true, Workers: 1})
	if err != nil {
		return nil, fmt.Errorf("start writability poller: %w", err)
	}
	p := &Pool{
		cfg:   cfg,
		log:   cfg.Logger,
		epoch: time.Now(),
		// Every connection is in ready at most once, so MaxConns plus the
		// connections still finishing never fill it.
		ready:    make(chan *Conn, cfg.MaxConns+1024),
		writable: wp,
		stop:     make(chan struct{}),
	}
	p.wheel = newWheel(p.ready, p.epoch)
	for range cfg.Writers {
		p.workers.Add(1)
		go p.writer()
	}
	p.workers.Add(2)
	go p.wheel.run(p.stop, &p.workers)
	go p.pace()
	return p, nil
}

// Clock returns the pool's monotonic clock in nanoseconds, the time base of
// Conn.Stalled and Conn.Trim.
func (p *Pool) Clock() int64 { return int64(time.Since(p.epoch)) }

// Close stops the writers and the poller. Connections still open are left
// as they are: their owners tear them down first.
func (p *Pool) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.stop)
		p.workers.Wait()
		err = p.writable.Close()
	})
	return err
}

// NewConn makes the outbound side of a connection, which writes to
// owner's descriptor (Owner.Descriptor). owner is told when its close
// frame is written or a write fails. What is queued waits until Start, so
// that the greeting and the first frames leave in one write.
func (p *Pool) NewConn(owner Owner) *Conn {
	c := new(Conn)
	p.InitConn(c, owner)
	return c
}

// InitConn is NewConn for a Conn the caller allocated, so that the
// connection's other state can share its allocation (a Conn embedded in
// the owner): c must be the zero Conn, and must not be copied or reused
// afterwards.
func (p *Pool) InitConn(c *Conn, owner Owner) {
	p.conns.Add(1)
	c.pool, c.owner, c.scheduled = p, owner, true
	c.progress = p.Clock()
}

// pace sets the coalescing interval from the load, every paceTick until
// Close, and exports it (chat_outbound_coalesce_seconds) with the writes
// made (chat_outbound_writes_total): see the package documentation and
// nextInterval.
func (p *Pool) pace() {
	defer p.workers.Done()
	t := time.NewTicker(paceTick)
	defer t.Stop()
	var (
		rate float64 // writes per second, smoothed
		last = p.writes.Load()
		on   bool
	)
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		n := p.writes.Load()
		rate += paceSmoothing * (float64(n-last)/paceTick.Seconds() - rate)
		p.cfg.Metrics.OutboundWrites.Add(float64(n - last))
		last = n
		var iv time.Duration
		iv, on = nextInterval(rate, on, p.conns.Load(), p.cfg)
		p.coalesce.Store(int64(iv))
		p.cfg.Metrics.OutboundCoalesce.Set(iv.Seconds())
	}
}

// Pacing: every paceTick the write rate is measured and smoothed
// (exponentially, over about paceTick/paceSmoothing), and the coalescing
// interval set from it.
const (
	paceTick      = 10 * time.Millisecond
	paceSmoothing = 0.1
	// Coalescing turns on when the smoothed write rate reaches paceOn of
	// the budget and off when it falls under paceOff of it: while it is
	// on, the rate stays near the budget whatever the demand, so the gap
	// between the two keeps it from flapping.
	paceOn  = 0.95
	paceOff = 0.7
)

// nextInterval returns the coalescing interval for a smoothed write rate
// (writes per second) and whether coalescing is on, given whether it was.
// Under the budget every connection is written as soon as a writer is
// free; at the budget a connection is written at most once per
// conns/WriteBudget, capped by MaxCoalesce, which bounds the write rate
// near the budget.
func nextInterval(rate float64, on bool, conns int64, cfg Config) (time.Duration, bool) {
	budget := float64(cfg.WriteBudget)
	switch {
	case cfg.MaxCoalesce == 0:
		return 0, false
	case rate >= paceOn*budget:
		on = true
	case rate < paceOff*budget:
		on = false
	}
	if !on {
		return 0, false
	}
	iv := time.Duration(conns) * time.Second / time.Duration(cfg.WriteBudget)
	return min(iv, cfg.MaxCoalesce), true
}

// schedule hands c to a writer now, or at due if that is later.
func (p *Pool) schedule(c *Conn, due, now int64) {
	if due <= now {
		p.ready <- c
		return
	}
	p.wheel.add(c, due)
}

func (p *Pool) writer() {
	defer p.workers.Done()
	w := newScratch()
	for {
		select {
		case c := <-p.ready:
			c.flushSafely(w)
		case <-p.stop:
			return
		}
	}
}

func (p *Pool) hook(point string) {
	if h := p.testHook.Load(); h != nil {
		(*h)(point)
	}
}

// scratch is what one writer goroutine reuses for every flush: a buffer
// that small batches are copied into, and the function handed to
// syscall.RawConn.Write, made once so that a write allocates nothing.
type scratch struct {
	buf []byte

	// Inputs and outputs of writeFn.
	single  []byte   // a single buffer to write, or nil
	iovs    [][]byte // else the buffers of a vectored write
	n       int
	err     error
	writeFn func(fd uintptr) bool
}

// writerBufferSize is the largest batch a writer copies into one buffer
// rather than writing with writev.
const writerBufferSize = 16 << 10

// maxIovecs bounds the buffers of one vectored write (Linux's IOV_MAX is
// 1024).
const maxIovecs = 1024

func newScratch() *scratch {
	w := &scratch{buf: make([]byte, writerBufferSize)}
	w.writeFn = func(fd uintptr) bool {
		if w.single != nil {
			w.n, w.err = unix.Write(int(fd), w.single)
		} else {
			w.n, w.err = unix.Writev(int(fd), w.iovs)
		}
		w.n = max(w.n, 0)
		return true // never wait: a full socket is waited for with EPOLLOUT
	}
	return w
}
