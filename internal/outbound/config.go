package outbound

import (
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
)

// Defaults of Config, one constant each so that documentation cannot drift.
const (
	DefaultMaxQueueBytes = 256 << 10 // per connection
	DefaultWriteTimeout  = 10 * time.Second
	// DefaultWriteBudgetPerCore is the default write budget per P
	// (GOMAXPROCS), in writes per second: one small write costs about
	// 5-7µs of CPU, so the budget is about a quarter to a third of the
	// cores spent on writes before each connection's writes are spaced
	// out.
	DefaultWriteBudgetPerCore = 40_000
	DefaultMaxCoalesce        = 50 * time.Millisecond
	DefaultWriters            = 64
	DefaultMaxConns           = 1 << 16

	// CloseWriteTimeout bounds how long a closing connection may take to
	// take its last frames and the close frame, so that a client that
	// stopped reading is dropped quickly once it is closed.
	CloseWriteTimeout = time.Second
	// maxCoalesceCap is the largest MaxCoalesce accepted; the timing wheel
	// (wheelSlots × wheelTick) must span more than it.
	maxCoalesceCap = 200 * time.Millisecond
	wheelTick      = time.Millisecond
	wheelSlots     = 256
)

// Config tunes a Pool. Zero values mean the defaults above.
type Config struct {
	// MaxQueueBytes bounds the bytes queued for one connection; a
	// connection over it is closed as a slow consumer.
	MaxQueueBytes int
	// WriteTimeout is how long a connection may have bytes queued without
	// the kernel taking any before it counts as a slow consumer.
	WriteTimeout time.Duration
	// WriteBudget is the write rate (writes per second) past which
	// coalescing bounds each connection to one write per interval; under
	// it every connection is written at once. See the package
	// documentation. Zero means DefaultWriteBudgetPerCore times
	// GOMAXPROCS.
	WriteBudget int
	// MaxCoalesce caps the coalescing interval at the write budget (at
	// most 200ms). Negative disables the bound: every queue is flushed as
	// soon as a writer is free, whatever the write rate.
	MaxCoalesce time.Duration
	// Writers is the number of writer goroutines; none ever blocks on a
	// peer.
	Writers int
	// MaxConns is the most connections expected at once; it sizes the
	// writers' queue, which never blocks while it is respected.
	MaxConns int

	Metrics *metrics.Metrics // required
	Logger  *zap.Logger      // nil means no logging
}

func (c Config) withDefaults() Config {
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.WriteBudget <= 0 {
		c.WriteBudget = DefaultWriteBudget()
	}
	switch {
	case c.MaxCoalesce == 0:
		c.MaxCoalesce = DefaultMaxCoalesce
	case c.MaxCoalesce < 0:
		c.MaxCoalesce = 0
	case c.MaxCoalesce > maxCoalesceCap:
		c.MaxCoalesce = maxCoalesceCap
	}
	if c.Writers <= 0 {
		c.Writers = DefaultWriters
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// DefaultWriteBudget is the write budget used when Config.WriteBudget is
// zero: DefaultWriteBudgetPerCore for each P (GOMAXPROCS).
func DefaultWriteBudget() int {
	return DefaultWriteBudgetPerCore * runtime.GOMAXPROCS(0)
}
