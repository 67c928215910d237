package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/web"
)

// contentSecurityPolicy allows the page only its own scripts, styles and
// WebSocket, so that text a user manages to inject cannot run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webServer serves every request that is not a WebSocket upgrade: the
// page, its assets, health checks and metrics.
type webServer struct {
	srv  *http.Server
	done sync.WaitGroup
}

func newWebServer(s *Server) *webServer {
	mux := http.NewServeMux()
	files := http.FileServerFS(web.Files)
	mux.Handle("GET /{$}", withPageHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web.Files, "index.html")
	})))
	mux.Handle("GET /static/", withPageHeaders(http.StripPrefix("/static/", files)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("draining\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(s.log.Named("metrics")),
	}))
	return &webServer{srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}}
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

func (w *webServer) shutdown(ctx context.Context) error {
	err := w.srv.Shutdown(ctx)
	w.done.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
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
