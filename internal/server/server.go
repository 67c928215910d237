package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/netpoll"
	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/realip"
	"github.com/chatplatform/chat/internal/rooms"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Server is the chat server.
//
// Lock order, across packages: session.readMu, then Server.mu or
// sessions.mu or handshakes.mu (never two of these at once), then
// rooms.Registry.mu, then a room's lock, then the history lock, then an
// outbound.Conn's lock (a room's broker feed locks come before the room's
// lock, never with Registry.mu; see package rooms); handshake.mu before handshakes.mu; identities.mu
// before an outbound.Conn's lock (a probe ping), and never held while
// another of these is taken; pageConns.mu is a leaf.
type Server struct {
	// Static after construction.
	cfg        Config
	log        *zap.Logger
	metrics    *metrics.Metrics
	poller     *netpoll.Poller // readability of handshakes and sessions
	pool       *outbound.Pool
	rooms      *rooms.Registry
	web        *webServer
	origins    map[string]bool
	peers      []string // WebSocket base URLs of the other nodes, from Config.Peers
	anyOrigin  bool
	sessions   *sessions
	handshakes *handshakes
	identities *identities // nil with tokens (Config.Auth)
	realip     *realip.Resolver

	draining atomic.Bool
	stop     chan struct{} // closed by Shutdown once the sweepers must end; never reopened
	sweepers sync.WaitGroup

	mu        sync.Mutex
	listeners map[*listener]struct{} // guarded by mu
	shutdown  sync.Once
	stopErr   error

	// testHook, when set by a test before serving, runs at the named points
	// of the read path.
	testHook func(point string, payload []byte)
}

// New builds a server from cfg and registers its metrics.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	peers, peerOrigins, err := ParsePeers(cfg.Peers)
	if err != nil {
		return nil, err
	}
	m := cfg.Metrics
	if m == nil {
		m = metrics.New(cfg.Registry)
	}
	m.ConnectionLimit.Set(float64(cfg.MaxConnections))
	p, err := netpoll.New(netpoll.Config{Workers: cfg.ReadWorkers})
	if err != nil {
		return nil, fmt.Errorf("start poller: %w", err)
	}
	oc := cfg.Outbound
	oc.Metrics = m
	oc.Logger = cfg.Logger.Named("outbound")
	oc.MaxConns = cfg.MaxConnections
	pool, err := outbound.New(oc)
	if err != nil {
		p.Close()
		return nil, err
	}
	rc := cfg.Rooms
	rc.Metrics = m
	rc.Clock = pool.Clock
	rc.MaxMessageBytes = cfg.MaxMessageBytes
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		metrics:   m,
		poller:    p,
		pool:      pool,
		rooms:     rooms.New(rc),
		realip:    realip.New(cfg.TrustedProxies),
		stop:      make(chan struct{}),
		listeners: make(map[*listener]struct{}),
	}
	s.sessions = newSessions(s)
	s.handshakes = newHandshakes(s)
	if cfg.Auth == nil {
		s.identities = newIdentities(s)
	}
	s.peers = peers
	for _, o := range append(cfg.AllowedOrigins, peerOrigins...) {
		if o == "*" {
			s.anyOrigin = true
		}
		if s.origins == nil {
			s.origins = make(map[string]bool, len(cfg.AllowedOrigins))
		}
		s.origins[o] = true
	}
	s.web = newWebServer(s)
	s.sweepers.Add(2)
	go s.sessions.sweep()
	go s.handshakes.sweep()
	return s, nil
}

// Serve accepts connections on ln, which must be a *net.TCPListener,
// until Shutdown, and returns ErrServerClosed then. Serve takes over ln's
// socket and closes ln: the server's own poller accepts.
func (s *Server) Serve(ln net.Listener) error {
	l, err := s.takeListener(ln)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		l.close(nil)
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.close(nil)
	}()

	l.web = s.web.listen(l.addr)
	defer l.web.Close()
	if err := l.start(); err != nil {
		return fmt.Errorf("poll listener: %w", err)
	}
	<-l.done
	if l.err == nil || s.draining.Load() {
		return ErrServerClosed
	}
	return l.err
}

// Shutdown stops accepting, turns /readyz to 503, refuses new upgrades,
// sends close 1001 to every client and waits, until ctx ends, for their
// queues to be flushed and the clients to close; then it tears down every
// connection still open, stops the pollers, writers and the page server,
// and returns. It returns ctx's error if the deadline cut the flush short.
// Shutdown is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Do(func() {
		s.draining.Store(true)
		s.mu.Lock()
		for l := range s.listeners {
			l.close(nil)
		}
		s.mu.Unlock()
		s.log.Info("shutting down", zap.Int("clients", s.sessions.count()))

		err := s.sessions.shutdown(ctx)
		s.handshakes.closeAll()
		errs := []error{err, s.poller.Close()}
		// Sessions attached by a handshake that was being handled when the
		// poller stopped are the last ones.
		s.sessions.finishAll()
		close(s.stop)
		s.sweepers.Wait()
		s.rooms.Close()
		errs = append(errs, s.pool.Close(), s.web.shutdown(ctx))
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Ready reports whether the server accepts new connections: it is not
// draining, and its rooms' broker can order messages (in a cluster, NATS
// is reachable).
func (s *Server) Ready() bool { return !s.draining.Load() && s.rooms.Ready() }

func (s *Server) hook(point string, payload []byte) {
	if s.testHook != nil {
		s.testHook(point, payload)
	}
}
