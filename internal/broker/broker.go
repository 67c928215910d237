package broker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/rooms"
)

// Defaults of Config, one constant each so that documentation cannot drift.
const (
	DefaultStream   = "CHAT"
	DefaultReplicas = 1
	DefaultStorage  = "file"
	// DefaultMaxAge is how long the stream keeps a message.
	DefaultMaxAge = 24 * time.Hour
	// DefaultMaxBytes bounds the stream's bytes over all rooms.
	DefaultMaxBytes = 1 << 30
	// DefaultConnectTimeout bounds connecting and creating the stream at
	// start.
	DefaultConnectTimeout = 5 * time.Second
	// reconnectWait is the pause between reconnect attempts to one server
	// (nats.go adds jitter); reconnects go on for ever.
	reconnectWait = 500 * time.Millisecond
	// requestTimeout bounds one JetStream request: a publish acknowledgement,
	// a look-up, a consumer creation.
	requestTimeout = 2 * time.Second
	// openTimeout bounds Open's wait for a room's kept messages.
	openTimeout = 5 * time.Second
	// maxAttempts bounds the publishes of one message that lose the race
	// for the room's next seq to another node's (then it is refused).
	maxAttempts = 32
	// minRetryWait and maxRetryWait bound the pause before trying again
	// when the race was lost to a message still being replicated: it
	// starts at minRetryWait and doubles, jittered by ±50%, so that
	// maxAttempts cover about a second of such contention.
	minRetryWait = time.Millisecond
	maxRetryWait = 64 * time.Millisecond
	// queueLength is how many messages of one room may wait on one node
	// for their turn to be published; past it they are refused.
	queueLength = 1024
)

// Config configures a Broker. Zero values mean the defaults above.
type Config struct {
	// URLs are the NATS servers, comma-separated (nats://host:4222,...).
	URLs string
	// Creds is a NATS credentials file (JWT and nkey seed); empty: none.
	Creds string
	// Name is the connection name NATS monitoring shows.
	Name string
	// Stream is the JetStream stream holding every room's messages, on
	// subjects Stream.room.<base64url(room)>; created if missing, its
	// limits updated otherwise.
	Stream string
	// Replicas is the stream's replica count (1 or, on a NATS cluster, 3).
	Replicas int
	// Storage is "file" (history survives a NATS restart) or "memory".
	Storage string
	// History, MaxBytes and MaxAge bound what the stream keeps: messages
	// per room (MaxMsgsPerSubject), bytes over all rooms (MaxBytes) and
	// age (MaxAge); the oldest go first.
	History  int
	MaxBytes int64
	MaxAge   time.Duration
	// ConnectTimeout bounds connecting and creating the stream.
	ConnectTimeout time.Duration
	// Heartbeat is the period of the node's heartbeat (default 3 s); a
	// node not heard for three of them is gone, and its members are
	// dropped from every room within a third of a beat more (10 s after
	// its last beat by default).
	Heartbeat time.Duration

	Logger  *zap.Logger      // nil: none
	Metrics *metrics.Metrics // required
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas <= 0 {
		c.Replicas = DefaultReplicas
	}
	if c.Storage == "" {
		c.Storage = DefaultStorage
	}
	if c.History <= 0 {
		c.History = rooms.DefaultHistory
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = defaultHeartbeat
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Broker is a rooms.Broker on NATS JetStream.
type Broker struct {
	// Static after Connect.
	cfg    Config
	log    *zap.Logger
	m      *metrics.Metrics
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	sc     jetstream.StreamConfig
	pres   *presence
	once   sync.Once     // Close
	closed chan struct{} // closed by the connection's closed handler, its last callback; never reopened

	// ready is set once the stream is known to exist on the connection
	// (at Connect, and after each reconnect), cleared on a disconnect.
	ready atomic.Bool

	remakeMu sync.Mutex
	created  time.Time     // the stream's creation time as last seen; guarded by remakeMu
	remade   chan struct{} // closed and replaced when gen grows; guarded by remakeMu
	// gen counts the times the stream was found made again: written
	// under remakeMu, before remade is closed; read without it by every
	// room's publisher before each publish.
	gen atomic.Uint64
}

var _ rooms.Broker = (*Broker)(nil)

// Connect connects to NATS and creates the stream if missing (or updates
// its limits). It fails, without waiting for NATS to come, when no server
// answers within cfg.ConnectTimeout. Once connected, the Broker reconnects
// for ever after a loss; meanwhile Ready is false and publishes fail.
func Connect(ctx context.Context, cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	var storage jetstream.StorageType
	switch cfg.Storage {
	case "file":
		storage = jetstream.FileStorage
	case "memory":
		storage = jetstream.MemoryStorage
	default:
		return nil, fmt.Errorf("nats storage %q: want file or memory", cfg.Storage)
	}
	if strings.ContainsAny(cfg.Stream, ".*> \t") {
		return nil, fmt.Errorf("nats stream name %q: no dots, wildcards or spaces", cfg.Stream)
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, remade: make(chan struct{}), closed: make(chan struct{})}
	b.pres = newPresence(b)
	b.sc = jetstream.StreamConfig{
		Name:              cfg.Stream,
		Description:       "chat rooms' messages, one subject per room",
		Subjects:          []string{cfg.Stream + ".room.*"},
		Storage:           storage,
		Replicas:          cfg.Replicas,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: int64(cfg.History),
		MaxBytes:          cfg.MaxBytes,
		MaxAge:            cfg.MaxAge,
		// Direct gets may be answered by a replica that lags the leader:
		// the look-up after a lost race must see the latest message, so
		// a replicated stream answers them from its leader only.
		AllowDirect: cfg.Replicas == 1,
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.ready.Store(false)
			b.m.BrokerConnected.Set(0)
			b.log.Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats reconnected", zap.String("server", nc.ConnectedUrlRedacted()))
			// A NATS server that lost its store (memory storage) has no
			// stream: make it again before saying ready.
			go b.reconnected()
			b.pres.reconnected()
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			b.m.BrokerConnected.Set(0)
			close(b.closed)
		}),
	}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	nc, err := nats.Connect(cfg.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", cfg.URLs, err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := b.ensureStream(cctx); err != nil {
		nc.Close()
		return nil, err
	}
	if err := b.pres.start(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("presence: %w", err)
	}
	b.ready.Store(true)
	b.m.BrokerConnected.Set(1)
	b.log.Info("nats connected", zap.String("server", nc.ConnectedUrlRedacted()), zap.String("stream", cfg.Stream),
		zap.String("storage", cfg.Storage), zap.Int("replicas", cfg.Replicas))
	return b, nil
}

// ensureStream creates the stream, or updates its limits, trying again
// every requestTimeout until ctx ends: a replicated stream's creation may
// hang while another node creates it at the same time, and a NATS cluster
// may be electing its JetStream leader.
func (b *Broker) ensureStream(ctx context.Context) error {
	for {
		s, err := b.createStream(ctx)
		if err == nil {
			b.stream = s
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create or update stream %s: %w", b.sc.Name, err)
		case <-time.After(reconnectWait):
		}
	}
}

// reconnected makes sure the stream exists after a reconnect, trying
// again while the connection lasts (a NATS cluster may take a moment to
// elect its JetStream leader), notes whether it was made again, then
// marks the broker ready.
func (b *Broker) reconnected() {
	for b.nc.IsConnected() {
		_, err := b.createStream(context.Background())
		if err == nil {
			b.ready.Store(true)
			b.m.BrokerConnected.Set(1)
			return
		}
		b.log.Warn("stream after reconnect", zap.Error(err))
		time.Sleep(reconnectWait)
	}
}

// createStream creates the stream or updates its limits, once, within
// requestTimeout, and notes its creation time (see noteStream).
func (b *Broker) createStream(ctx context.Context) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	s, err := b.js.CreateOrUpdateStream(ctx, b.sc)
	if err != nil {
		return nil, err
	}
	b.noteStream(s.CachedInfo().Created)
	return s, nil
}

// Ready reports whether the broker is connected to NATS and has its
// stream.
func (b *Broker) Ready() bool { return b.ready.Load() && b.nc.IsConnected() }

// Close tells the other nodes this one is gone and closes the connection
// to NATS; rooms' feeds stop receiving and presence stops. Close may be
// called more than once.
func (b *Broker) Close() { b.close(true) }

// close stops presence, saying goodbye when bye is set, and closes the
// connection, waiting for its last callback.
func (b *Broker) close(bye bool) {
	b.once.Do(func() {
		b.pres.halt(bye)
		if bye && b.nc.IsConnected() {
			b.nc.FlushTimeout(requestTimeout)
		}
		b.nc.Close()
		// The connection's callbacks (which log) run on their own
		// goroutine: Close returns once they are done, or after a bound.
		select {
		case <-b.closed:
		case <-time.After(requestTimeout):
		}
	})
}

// subject returns the subject of room's messages: room names may hold any
// character, subjects may not.
func (b *Broker) subject(room string) string {
	return b.cfg.Stream + ".room." + base64.RawURLEncoding.EncodeToString([]byte(room))
}

// isInProcess reports whether err is a publish refused because another
// message of the room is being replicated (10164, replicated streams
// only): its place is taken, but a look-up does not see it yet.
func isInProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// isWrongLastSeq reports whether err is a publish refused because another
// message took the room's next seq (10071; 10164 on replicated streams).
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
