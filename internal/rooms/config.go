package rooms

import (
	"time"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
)

// Defaults of Config, one constant each so that documentation cannot drift.
const (
	DefaultNoticeLimit       = 100
	DefaultPresenceInterval  = time.Second
	DefaultHistory           = 256
	DefaultHistoryRoomBytes  = 256 << 10
	DefaultHistoryTotalBytes = 64 << 20
	DefaultReplayBytes       = 128 << 10
	DefaultTypingLimit       = 50
	DefaultTypingInterval    = 2 * time.Second
)

// Config tunes a Registry. Zero values mean the defaults above.
type Config struct {
	// NoticeLimit is the largest room that gets per-member join and leave
	// notices; negative means every room does.
	NoticeLimit int
	// PresenceInterval is the least time between presence events of a
	// room above NoticeLimit.
	PresenceInterval time.Duration
	// History is the number of recent messages a room keeps for resume.
	History int
	// HistoryRoomBytes bounds the bytes of the messages one room keeps.
	HistoryRoomBytes int
	// HistoryTotalBytes bounds the bytes of the messages kept over all
	// rooms; past it the oldest messages of any room are dropped first.
	HistoryTotalBytes int
	// ReplayBytes bounds the bytes replayed to one resuming client; it
	// must leave room in the client's outbound queue for live traffic.
	ReplayBytes int
	// TypingLimit is the largest room whose members' typing is forwarded;
	// negative turns typing events off.
	TypingLimit int
	// TypingInterval is the least time between two typing events
	// forwarded for one connection; those in between are dropped.
	TypingInterval time.Duration
	// MaxMessageBytes is announced to clients in the welcome event.
	MaxMessageBytes int

	// Broker orders the rooms' messages; nil means the in-process one.
	Broker Broker

	Metrics *metrics.Metrics // required
	// Clock is the outbound pool's clock (outbound.Pool.Clock), passed to
	// every Send; nil means a monotonic clock of the registry's own.
	Clock func() int64
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.NoticeLimit == 0 {
		c.NoticeLimit = DefaultNoticeLimit
	}
	if c.PresenceInterval <= 0 {
		c.PresenceInterval = DefaultPresenceInterval
	}
	if c.History <= 0 {
		c.History = DefaultHistory
	}
	if c.HistoryRoomBytes <= 0 {
		c.HistoryRoomBytes = DefaultHistoryRoomBytes
	}
	if c.HistoryTotalBytes <= 0 {
		c.HistoryTotalBytes = DefaultHistoryTotalBytes
	}
	if c.ReplayBytes <= 0 {
		c.ReplayBytes = DefaultReplayBytes
	}
	if c.TypingLimit == 0 {
		c.TypingLimit = DefaultTypingLimit
	}
	if c.TypingInterval <= 0 {
		c.TypingInterval = DefaultTypingInterval
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = protocol.DefaultMaxMessageBytes
	}
	if c.Clock == nil {
		start := time.Now()
		c.Clock = func() int64 { return int64(time.Since(start)) }
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
