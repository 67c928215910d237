package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/hub"
	"github.com/chatplatform/chat/internal/protocol"
)

// Defaults of Config.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultMaxHandshakes    = 1024
	DefaultRateLimit        = 20.0 // messages per second per connection
	DefaultRateBurst        = 40
	// DefaultFDReserve is how many descriptors the default connection cap
	// leaves for listeners, page requests, logs and the like.
	DefaultFDReserve = 256
	// maxRateStrikes is how many messages in a row a connection may have
	// rejected by the rate limit (each answered by an error event) before
	// it is closed with 1008.
	maxRateStrikes = 10
	// readBufferSize is the size of the buffers workers read into: two
	// maximal default messages with their headers.
	readBufferSize = 2 * (protocol.DefaultMaxMessageBytes + 14)
	// maxReadsPerEvent bounds the reads of one readiness report, so that a
	// flooding client cannot hold a worker; what is left is reported again.
	maxReadsPerEvent = 4
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Logger receives the server's logs; nil means none.
	Logger *zap.Logger
	// Registry receives the metrics and serves /metrics; nil means a new one.
	Registry *prometheus.Registry

	// MaxConnections caps open WebSocket connections; beyond it upgrades
	// get HTTP 503. Zero means the file-descriptor limit minus
	// DefaultFDReserve.
	MaxConnections int
	// MaxHandshakes caps handshakes in progress; while it is reached the
	// server stops accepting.
	MaxHandshakes int
	// HandshakeTimeout bounds reading a request head and upgrading.
	HandshakeTimeout time.Duration
	// MaxMessageBytes is the largest message a client may send (close 1009
	// beyond it).
	MaxMessageBytes int
	// RateLimit is the messages per second a connection may send, with
	// bursts of RateBurst.
	RateLimit float64
	RateBurst int
	// AllowedOrigins, when not empty, lists the Origin header values that
	// may open a WebSocket (exact match, e.g. "https://chat.example.com");
	// others get HTTP 403. Requests without an Origin header (non-browser
	// clients) are allowed.
	AllowedOrigins []string
	// ReadWorkers is the number of goroutines reading ready connections;
	// zero means netpoll.DefaultWorkers().
	ReadWorkers int

	// Hub tunes rooms and delivery; its Metrics, Logger, MaxClients and
	// MaxMessageBytes are set by the server.
	Hub hub.Config
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = fdLimit() - DefaultFDReserve
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = DefaultMaxHandshakes
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = protocol.DefaultMaxMessageBytes
	}
	if c.RateLimit <= 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	return c
}

// fdLimit returns the soft limit on open files (the Go runtime raises it to
// the hard limit at start-up).
func fdLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 20
	}
	return max(int(rl.Cur), 2*DefaultFDReserve)
}
