package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/web"
)

// contentSecurityPolicy allows the page only its own scripts, styles and
// WebSocket, so that text a user manages to inject cannot run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webServer serves every request that is not a WebSocket upgrade in the
// fast path: the page, its assets, health checks, metrics, and WebSocket
// requests that need net/http's parsing. Its connections are capped.
type webServer struct {
	// Static after construction.
	srv   *http.Server
	conns *pageConns
	done  sync.WaitGroup
}

func newWebServer(s *Server) *webServer {
	mux := http.NewServeMux()
	files := http.FileServerFS(web.Files)
	mux.Handle("GET /{$}", withPageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web.Files, "index.html")
	})))
	mux.Handle("GET /static/", withPageHeaders(http.StripPrefix("/static/", files)))
	mux.HandleFunc("GET /ws/", s.serveWebSocketHTTP)
	mux.HandleFunc("GET /peers", s.servePeers)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			if s.draining.Load() {
				w.Write([]byte("draining\n"))
			} else {
				w.Write([]byte("broker unavailable\n"))
			}
			return
		}
		w.Write([]byte("ready\n"))
	})
	if !s.cfg.SeparateMetrics {
		mux.Handle("GET /metrics", s.MetricsHandler())
	}
	pc := &pageConns{max: s.cfg.MaxPageConns, srv: s, idle: make(map[net.Conn]int64), evicted: make(map[net.Conn]bool)}
	return &webServer{conns: pc, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ReadTimeout:       pageWriteTimeout,
		WriteTimeout:      pageWriteTimeout,
		IdleTimeout:       s.cfg.PageIdleTimeout,
		ConnState:         pc.track,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}}
}

// MetricsHandler serves the server's registry in the Prometheus text
// format: on the chat listener at /metrics unless Config.SeparateMetrics,
// and wherever the caller mounts it.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(s.log.Named("metrics"))})
}

func withPageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// listen starts serving connections handed over by the accept loop of a
// listener with address addr.
func (w *webServer) listen(addr net.Addr) *chanListener {
	ln := &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		w.srv.Serve(ln)
	}()
	return ln
}

// hand gives conn to the page server through ln if a page connection slot
// is free (closing the longest idle page connection if need be), and
// answers 503 otherwise.
func (w *webServer) hand(ln *chanListener, conn net.Conn) {
	if !w.conns.admit() {
		w.conns.srv.metrics.PageRefused.Inc()
		const body = "server busy: too many page connections\n"
		fmt.Fprintf(conn, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"+
			"Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		conn.Close()
		return
	}
	ln.hand(conn)
}

func (w *webServer) shutdown(ctx context.Context) error {
	err := w.srv.Shutdown(ctx)
	if err != nil {
		w.srv.Close()
	}
	w.done.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// pageConns counts the page server's connections against
// Config.MaxPageConns and knows which are idle, so that a new one can take
// the slot of the longest idle.
type pageConns struct {
	// Static after construction.
	max int
	srv *Server

	mu      sync.Mutex
	count   int                // admitted and not closed or hijacked; guarded by mu
	idle    map[net.Conn]int64 // idle connections and since when (pool clock); guarded by mu
	evicted map[net.Conn]bool  // closed by admit, their slot already given away; guarded by mu
}

// admit takes a slot for a new connection, closing the longest idle one
// when every slot is taken; it reports false when all are busy.
func (p *pageConns) admit() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count >= p.max {
		var oldest net.Conn
		var since int64
		for c, t := range p.idle {
			if oldest == nil || t < since {
				oldest, since = c, t
			}
		}
		if oldest == nil {
			return false
		}
		delete(p.idle, oldest)
		p.evicted[oldest] = true
		oldest.Close() // this connection takes its slot now
		p.count--
	}
	p.count++
	p.srv.metrics.PageConnections.Set(float64(p.count))
	return true
}

// open returns the page connections admitted and not closed.
func (p *pageConns) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// track follows a page connection's state: idle ones may be closed to make
// room, closed and hijacked ones free their slot.
func (p *pageConns) track(c net.Conn, state http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch state {
	case http.StateIdle:
		p.idle[c] = p.srv.pool.Clock()
	case http.StateActive:
		delete(p.idle, c)
	case http.StateHijacked, http.StateClosed:
		if p.evicted[c] {
			delete(p.evicted, c)
			return
		}
		p.count--
		delete(p.idle, c)
		p.srv.metrics.PageConnections.Set(float64(p.count))
	}
}

// chanListener is a net.Listener whose connections come from the server's
// own accept loop.
type chanListener struct {
	addr      net.Addr
	conns     chan net.Conn
	closed    chan struct{} // closed by Close; never reopened
	closeOnce sync.Once
}

// hand gives conn to the page server, or closes it if that has stopped.
func (l *chanListener) hand(conn net.Conn) {
	select {
	case l.conns <- conn:
	case <-l.closed:
		conn.Close()
	}
}

// Accept returns the next handed connection.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept fail; handed connections are closed from then on.
func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr returns the address of the underlying listener.
func (l *chanListener) Addr() net.Addr { return l.addr }

// prefixConn replays bytes already read from a connection before reading
// more from it.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// SyscallConn returns the underlying connection's raw descriptor, for a
// page connection that is upgraded to a WebSocket after hijacking.
func (c *prefixConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("connection %T has no descriptor", c.Conn)
	}
	return sc.SyscallConn()
}
