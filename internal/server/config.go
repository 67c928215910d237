package server

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
)

// Defaults of Config.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultMaxHandshakes    = 256
	DefaultMaxPageConns     = 64
	DefaultPageIdleTimeout  = 30 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultRateLimit        = 20.0 // frames per second per connection
	DefaultRateBurst        = 40
	// DefaultFDReserve is how many descriptors the default connection cap
	// leaves, besides handshakes and page connections, for listeners,
	// pollers, logs and the like.
	DefaultFDReserve = 64
	// maxRateStrikes is how many frames in a row a connection may have
	// refused by the rate limit (each text message answered by an error
	// event) before it is closed with 1008.
	maxRateStrikes = 10
	// readBufferSize is the size of the buffers workers read into: two
	// maximal default messages with their headers.
	readBufferSize = 2 * (protocol.DefaultMaxMessageBytes + 14)
	// maxReadsPerEvent bounds the reads of one readiness report, so that a
	// flooding client cannot hold a worker; what is left is reported again.
	maxReadsPerEvent = 4
	// lingerTimeout is how long a connection whose close frame is written
	// is read and discarded while waiting for the peer to close, so that
	// the peer reads everything queued before the close instead of a
	// reset (as net/http and gorilla/websocket do).
	lingerTimeout = time.Second
	// DefaultReplaceWait is how long an anonymous connection probed with a
	// ping, because a newcomer asked for its client_id, may stay silent
	// before a newcomer takes its place (see identities). It is much
	// longer than a round trip of a live client and much shorter than the
	// idle timeout, which is what finds a dead peer otherwise.
	DefaultReplaceWait = time.Second
	// pageWriteTimeout bounds writing one page response.
	pageWriteTimeout = 30 * time.Second
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Logger receives the server's logs; nil means none.
	Logger *zap.Logger
	// Registry receives the metrics and serves /metrics; nil means a new one.
	Registry *prometheus.Registry
	// Metrics are the collectors, registered on Registry by metrics.New,
	// for a caller that needs them before the server (a rooms.Broker); nil
	// means the server registers its own.
	Metrics *metrics.Metrics

	// MaxConnections caps open WebSocket connections; beyond it upgrades
	// get HTTP 503. Zero means MaxDescriptors minus MaxHandshakes,
	// MaxPageConns and DefaultFDReserve, so that every descriptor the
	// server may use is accounted for.
	MaxConnections int
	// MaxHandshakes is the number of accepted connections whose request
	// head is still being read that is always available. More may be read
	// at once while descriptors are free (MaxDescriptors less WebSocket and
	// page connections); past that the oldest is dropped, so accepting
	// never stops for silent peers.
	MaxHandshakes int
	// MaxDescriptors is the number of descriptors the server may use;
	// zero means the file-descriptor limit.
	MaxDescriptors int
	// HandshakeTimeout bounds reading a request head.
	HandshakeTimeout time.Duration
	// MaxPageConns caps the page server's connections (page, health,
	// metrics); past it the longest idle one is closed, or the new one gets
	// 503 when none is idle.
	MaxPageConns int
	// PageIdleTimeout closes a page connection idle this long between
	// requests.
	PageIdleTimeout time.Duration
	// IdleTimeout closes a client that sent no frame for this long; a
	// client silent for half of it is pinged.
	IdleTimeout time.Duration
	// MaxMessageBytes is the largest message a client may send (close 1009
	// beyond it).
	MaxMessageBytes int
	// RateLimit is the frames per second (messages and pings) a connection
	// may send, with bursts of RateBurst.
	RateLimit float64
	RateBurst int
	// AllowedOrigins lists Origin header values that may open a WebSocket
	// besides the server's own origin (exact match, e.g.
	// "https://chat.example.com"); "*" allows any. A browser Origin must
	// otherwise match the request's Host; requests without Origin
	// (non-browser clients) are allowed.
	AllowedOrigins []string
	// Peers are the public base URLs of the cluster's other nodes
	// (http://host:port, https://, ws:// or wss://; see ParsePeers): the
	// web client learns them from GET /peers and reconnects to them when
	// this node is gone, and the pages they serve may open WebSockets here.
	Peers []string
	// Auth verifies the signed tokens connections must carry; nil means
	// anonymous (the client_id in the path is the name). With tokens,
	// several connections of one client_id in a room are one member;
	// anonymous, a client_id already connected in a room is refused (see
	// identities).
	Auth *auth.Verifier
	// TrustedProxies are the proxies whose X-Forwarded-For is read, from
	// the right, to find the client address that logs show (see package
	// realip); none means the peer address is the client's.
	TrustedProxies []netip.Prefix
	// SeparateMetrics takes /metrics off the chat listener (404 there), for
	// a caller that serves MetricsHandler on a listener of its own.
	SeparateMetrics bool
	// ReplaceWait is how long a probed anonymous connection may stay
	// silent before a newcomer with its client_id replaces it.
	ReplaceWait time.Duration
	// ReadWorkers is the number of goroutines reading ready connections;
	// zero means netpoll.DefaultWorkers().
	ReadWorkers int

	// Outbound tunes queues and writers; its Metrics, Logger and MaxConns
	// are set by the server.
	Outbound outbound.Config
	// Rooms tunes rooms, history and presence; its Metrics, Clock,
	// MaxMessageBytes and (when zero) ReplayBytes are set by the server.
	Rooms rooms.Config
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = DefaultMaxHandshakes
	}
	if c.MaxPageConns <= 0 {
		c.MaxPageConns = DefaultMaxPageConns
	}
	if c.MaxDescriptors <= 0 {
		c.MaxDescriptors = fdLimit()
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = max(c.MaxDescriptors-c.MaxHandshakes-c.MaxPageConns-DefaultFDReserve, 1)
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.PageIdleTimeout <= 0 {
		c.PageIdleTimeout = DefaultPageIdleTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = protocol.DefaultMaxMessageBytes
	}
	if c.ReplaceWait <= 0 {
		c.ReplaceWait = DefaultReplaceWait
	}
	if c.RateLimit <= 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.Rooms.ReplayBytes <= 0 {
		// Half the queue: a replay never makes its client a slow consumer.
		queue := c.Outbound.MaxQueueBytes
		if queue <= 0 {
			queue = outbound.DefaultMaxQueueBytes
		}
		c.Rooms.ReplayBytes = queue / 2
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
	return int(rl.Cur)
}
