package hub

import (
	"time"

	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
)

// Defaults of Config, one constant each so that documentation cannot drift.
const (
	DefaultMaxQueueBytes    = 256 << 10 // per client
	DefaultWriteTimeout     = 10 * time.Second
	DefaultWriteBudget      = 100_000 // writes per second
	DefaultMaxCoalesce      = 50 * time.Millisecond
	DefaultWriters          = 64
	DefaultNoticeLimit      = 100
	DefaultHistory          = 256
	DefaultIdleTimeout      = 60 * time.Second
	DefaultPresenceInterval = time.Second
	DefaultMaxClients       = 1 << 16

	// closeWriteTimeout bounds the write of a final close frame, so a
	// client that stopped reading is dropped quickly once it is closed.
	closeWriteTimeout = time.Second
	// wheelTick is the resolution of delayed flushes; wheelSlots*wheelTick
	// must exceed the largest MaxCoalesce accepted (see withDefaults).
	wheelTick  = time.Millisecond
	wheelSlots = 256
)

// Config tunes a Hub. Zero values mean the defaults above.
type Config struct {
	// MaxQueueBytes bounds the bytes queued for one client; a client over
	// it is closed as a slow consumer.
	MaxQueueBytes int
	// WriteTimeout bounds one flush of a client's queue.
	WriteTimeout time.Duration
	// WriteBudget is the number of writes per second that coalescing aims
	// to stay under; see the package documentation.
	WriteBudget int
	// MaxCoalesce caps the coalescing interval (at most 200ms). Negative
	// disables coalescing: every queue is flushed as soon as a writer is free.
	MaxCoalesce time.Duration
	// Writers is the number of writer goroutines.
	Writers int
	// NoticeLimit is the largest room that gets per-member join and leave
	// notices; negative means every room does.
	NoticeLimit int
	// PresenceInterval is the least time between presence events of a
	// room above NoticeLimit.
	PresenceInterval time.Duration
	// History is the number of recent messages a room keeps for resume.
	History int
	// IdleTimeout closes a client that sent no frame for this long. A
	// client silent for half of it is pinged.
	IdleTimeout time.Duration
	// MaxClients is the most clients expected at once; it sizes the
	// writers' queue, which never blocks while it is respected.
	MaxClients int
	// MaxMessageBytes is announced to clients in the welcome event.
	MaxMessageBytes int

	Metrics *metrics.Metrics // required
	Logger  *zap.Logger      // nil means no logging
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.WriteBudget <= 0 {
		c.WriteBudget = DefaultWriteBudget
	}
	switch {
	case c.MaxCoalesce == 0:
		c.MaxCoalesce = DefaultMaxCoalesce
	case c.MaxCoalesce < 0:
		c.MaxCoalesce = 0
	case c.MaxCoalesce > 200*time.Millisecond:
		c.MaxCoalesce = 200 * time.Millisecond
	}
	if c.Writers <= 0 {
		c.Writers = DefaultWriters
	}
	if c.NoticeLimit == 0 {
		c.NoticeLimit = DefaultNoticeLimit
	}
	if c.PresenceInterval <= 0 {
		c.PresenceInterval = DefaultPresenceInterval
	}
	if c.History <= 0 {
		c.History = DefaultHistory
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = protocol.DefaultMaxMessageBytes
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
