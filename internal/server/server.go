package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/hub"
	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/netpoll"
	"github.com/chatplatform/chat/internal/protocol"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Server is the chat server.
type Server struct {
	// Static after construction.
	cfg     Config
	log     *zap.Logger
	metrics *metrics.Metrics
	hub     *hub.Hub
	poller  *netpoll.Poller
	web     *webServer
	origins map[string]bool

	draining   atomic.Bool
	conns      atomic.Int64  // WebSocket connections reserved or open
	handshakes chan struct{} // semaphore of handshakes in progress
	inFlight   sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]struct{} // guarded by mu
	shutdown  sync.Once
	stopErr   error
}

// New builds a server from cfg and registers its metrics.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	m := metrics.New(cfg.Registry)
	m.ConnectionLimit.Set(float64(cfg.MaxConnections))
	p, err := netpoll.New(netpoll.Config{Workers: cfg.ReadWorkers})
	if err != nil {
		return nil, fmt.Errorf("start poller: %w", err)
	}
	hc := cfg.Hub
	hc.Metrics = m
	hc.Logger = cfg.Logger.Named("hub")
	hc.MaxClients = cfg.MaxConnections
	hc.MaxMessageBytes = cfg.MaxMessageBytes
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		metrics:    m,
		hub:        hub.New(hc),
		poller:     p,
		handshakes: make(chan struct{}, cfg.MaxHandshakes),
		listeners:  make(map[net.Listener]struct{}),
	}
	if len(cfg.AllowedOrigins) > 0 {
		s.origins = make(map[string]bool, len(cfg.AllowedOrigins))
		for _, o := range cfg.AllowedOrigins {
			s.origins[o] = true
		}
	}
	s.web = newWebServer(s)
	return s, nil
}

// Serve accepts connections on ln until Shutdown, and returns
// ErrServerClosed then. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	webLn := s.web.listen(ln.Addr())
	defer webLn.Close()
	var backoff time.Duration
	for {
		// Take a handshake slot first: while all are busy, stop accepting.
		s.handshakes <- struct{}{}
		conn, err := ln.Accept()
		if err != nil {
			<-s.handshakes
			if s.draining.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors or a transient error: back off as
				// net/http does rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("backoff", backoff))
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		s.inFlight.Add(1)
		go s.handshake(conn, webLn)
	}
}

// Shutdown stops accepting, turns /readyz to 503, sends close 1001 to every
// client and waits, until ctx ends, for their queues to be flushed; then it
// stops the poller and the page server. It returns ctx's error if the
// deadline cut the flush short. Shutdown is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown.Do(func() {
		s.draining.Store(true)
		s.mu.Lock()
		for ln := range s.listeners {
			ln.Close()
		}
		s.mu.Unlock()
		s.log.Info("shutting down", zap.Int("clients", s.hub.Clients()))

		// Handshakes in progress end within HandshakeTimeout, refused.
		done := make(chan struct{})
		go func() { s.inFlight.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
		}
		errs := []error{s.hub.Shutdown(ctx)}
		errs = append(errs, s.poller.Close(), s.web.shutdown(ctx))
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Ready reports whether the server accepts new connections.
func (s *Server) Ready() bool { return !s.draining.Load() }

// handshake reads the request head from conn and either upgrades it to a
// WebSocket or hands it to the page server.
func (s *Server) handshake(conn net.Conn, webLn *chanListener) {
	defer s.inFlight.Done()
	defer func() { <-s.handshakes }()
	defer func() {
		if v := recover(); v != nil {
			s.metrics.Panics.Inc()
			s.log.Error("panic in handshake", zap.Any("panic", v), zap.Stack("stack"))
			conn.Close()
		}
	}()

	conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	bp := headBuffers.Get().(*[]byte)
	defer headBuffers.Put(bp)
	buf := *bp
	head, n, err := readHead(conn, buf)
	if !isWebSocketRequest(buf[:n]) {
		if n == 0 {
			conn.Close() // nothing was asked
			return
		}
		conn.SetDeadline(time.Time{})
		webLn.hand(&prefixConn{Conn: conn, prefix: bytes.Clone(buf[:n])})
		return
	}
	if err != nil {
		reason := metrics.UpgradeBadHandshake
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			reason = metrics.UpgradeHandshakeTimeout
		} else if errors.Is(err, errHeadTooLarge) {
			io.WriteString(conn, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 25\r\n\r\nrequest head is too large")
		}
		s.metrics.UpgradeFailures.WithLabelValues(string(reason)).Inc()
		conn.Close()
		return
	}
	s.upgrade(conn, buf[:head], buf[head:n])
}

// headLimit bounds the head of a request read by the accept path; a larger
// WebSocket request head gets 431.
const headLimit = 8 << 10

var errHeadTooLarge = errors.New("request head too large")

// headBuffers holds buffers of headLimit bytes for reading request heads.
var headBuffers = sync.Pool{New: func() any { b := make([]byte, headLimit); return &b }}

// readHead reads from conn into buf until it holds a complete request head
// (ending in an empty line). It returns the head's length and the number of
// bytes read, which may include bytes after the head.
func readHead(conn net.Conn, buf []byte) (head, n int, err error) {
	for {
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			return i + 4, n, nil
		}
		if n == len(buf) {
			return 0, n, errHeadTooLarge
		}
		// Once the request line is known not to be a WebSocket request,
		// the page server reads the rest.
		if bytes.IndexByte(buf[:n], '\n') >= 0 && !isWebSocketRequest(buf[:n]) {
			return 0, n, nil
		}
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil {
			return 0, n, err
		}
	}
}

// wsPrefix starts the request line of a WebSocket request.
const wsPrefix = "GET /ws/"

// isWebSocketRequest reports whether the bytes start like a WebSocket
// request (or could still, if fewer than the prefix arrived).
func isWebSocketRequest(b []byte) bool {
	if len(b) < len(wsPrefix) {
		return len(b) > 0 && bytes.HasPrefix([]byte(wsPrefix), b)
	}
	return bytes.HasPrefix(b, []byte(wsPrefix))
}

// upgrade completes the WebSocket handshake of conn, whose request head is
// head; rest holds bytes the client sent after it.
func (s *Server) upgrade(conn net.Conn, head, rest []byte) {
	var (
		req      wsRequest
		reason   = metrics.UpgradeBadHandshake
		reserved bool
	)
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			var err error
			req, reason, err = parseRequest(uri)
			return err
		},
		OnHeader: func(key, value []byte) error {
			if s.origins != nil && strings.EqualFold(string(key), "Origin") && !s.origins[string(value)] {
				reason = metrics.UpgradeForbiddenOrigin
				return ws.RejectConnectionError(ws.RejectionStatus(403), ws.RejectionReason("origin not allowed"))
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if s.draining.Load() {
				reason = metrics.UpgradeDraining
				return nil, ws.RejectConnectionError(ws.RejectionStatus(503), ws.RejectionReason("server shutting down"))
			}
			if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
				s.conns.Add(-1)
				reason = metrics.UpgradeServerFull
				return nil, ws.RejectConnectionError(ws.RejectionStatus(503),
					ws.RejectionReason(fmt.Sprintf("server full: %d connections", s.cfg.MaxConnections)))
			}
			reserved = true
			return nil, nil
		},
	}
	// The response is kept and written by the hub together with the
	// client's first frames: one system call instead of two.
	var response bytes.Buffer
	_, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), &response})
	if err != nil {
		conn.Write(response.Bytes()) // the refusal, with its reason
		if reserved {
			s.conns.Add(-1)
		}
		s.metrics.UpgradeFailures.WithLabelValues(string(reason)).Inc()
		s.log.Debug("upgrade refused", zap.String("reason", string(reason)), zap.Error(err))
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	if err := s.attach(conn, req, response.Bytes(), rest); err != nil {
		s.log.Warn("attach connection", zap.Error(err))
	}
}

// wsRequest is what a WebSocket request asks for.
type wsRequest struct {
	clientID string
	room     string
	since    int64
}

// parseRequest reads client id, room and since from a request URI, and on
// failure names the upgrade failure and the HTTP 400 to answer.
func parseRequest(uri []byte) (wsRequest, metrics.UpgradeFailure, error) {
	req := wsRequest{room: protocol.DefaultRoom, since: hub.NoResume}
	path, rawQuery, _ := strings.Cut(string(uri), "?")
	id, err := url.PathUnescape(strings.TrimPrefix(path, "/ws/"))
	if err == nil && strings.Contains(id, "/") {
		err = errors.New("contains a slash")
	}
	if err == nil {
		err = protocol.ValidateName(id)
	}
	if err != nil {
		return req, metrics.UpgradeBadClientID, badRequest("bad client_id: " + strings.TrimPrefix(err.Error(), protocol.ErrBadName.Error()+": "))
	}
	req.clientID = id
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return req, metrics.UpgradeBadHandshake, badRequest("bad query string")
	}
	if q.Has("room") {
		if err := protocol.ValidateName(q.Get("room")); err != nil {
			return req, metrics.UpgradeBadRoom, badRequest("bad room: " + strings.TrimPrefix(err.Error(), protocol.ErrBadName.Error()+": "))
		}
		req.room = q.Get("room")
	}
	if q.Has("since") {
		since, err := strconv.ParseInt(q.Get("since"), 10, 64)
		if err != nil || since < 0 {
			return req, metrics.UpgradeBadHandshake, badRequest("bad since: want a message seq, 0 or more")
		}
		req.since = since
	}
	return req, "", nil
}

func badRequest(reason string) error {
	return ws.RejectConnectionError(ws.RejectionStatus(400), ws.RejectionReason(reason))
}
