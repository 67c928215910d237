// Command server runs the chat server: the web client at /, WebSockets at
// /ws/{client_id}, /healthz, /readyz and Prometheus metrics at /metrics, on
// one listener; with -metrics-addr, /metrics moves to a listener of its own.
//
// Every flag can also be set by an environment variable: CHAT_ followed by
// the flag's name in upper case with dashes as underscores (-addr is
// CHAT_ADDR). A flag on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on -debug-addr
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/broker"
	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/realip"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
)

// defaultShutdownTimeout bounds the graceful shutdown.
const defaultShutdownTimeout = 10 * time.Second

// defaultGCPercent trades a little collector work for memory: the server's
// heap is mostly long-lived connection state and fan-out allocates almost
// nothing per message, so collections stay rare while the heap, and with
// it the memory per connection, stays closer to what is live.
const defaultGCPercent = 50

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// options are the parsed flags.
type options struct {
	addr            string
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	origins         string
	peers           string
	debugAddr       string
	metricsAddr     string
	secretFile      string
	publicKeyFile   string
	trustedProxies  string
	gcPercent       int
	nats            broker.Config         // cluster mode when nats.URLs or embedded.StoreDir is set
	embedded        broker.EmbeddedConfig // a NATS server in this process when StoreDir is set
	cfg             server.Config
}

// parseFlags reads flags from args, falling back to CHAT_* environment
// variables.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &o.cfg
	fs.StringVar(&o.addr, "addr", ":8080", "listen address, host:port")
	fs.StringVar(&o.logFormat, "log-format", "console", "log format: json or console")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "time allowed to flush clients on SIGINT/SIGTERM")
	fs.IntVar(&o.gcPercent, "gc-percent", defaultGCPercent, "heap growth between garbage collections, in percent; overrides GOGC (Go's default is 100)")
	fs.StringVar(&o.debugAddr, "debug-addr", "", "serve net/http/pprof profiles on this separate address, e.g. 127.0.0.1:6060 (empty: off)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics on this separate address instead of the chat listener (404 there), e.g. 127.0.0.1:9100; the same address as -debug-addr serves pprof too (empty: /metrics on the chat listener)")
	fs.StringVar(&o.secretFile, "auth-secret-file", "", "require tokens signed with HS256 over this file's bytes, less one trailing newline, at least 32 bytes (empty: anonymous)")
	fs.StringVar(&o.publicKeyFile, "auth-public-key-file", "", "require EdDSA or ES256 tokens verified with this PEM Ed25519 or P-256 public key (empty: anonymous)")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated addresses and CIDR prefixes of reverse proxies whose X-Forwarded-For gives the client address for logs (empty: none)")
	fs.StringVar(&o.peers, "peers", "", "comma-separated public base URLs of the cluster's other nodes, e.g. http://10.0.0.2:8080: the web client reconnects to them when this node is gone, and their pages may open WebSockets here (empty: none)")
	fs.StringVar(&o.origins, "allowed-origins", "", "comma-separated Origin values allowed to open WebSockets besides the server's own, e.g. https://chat.example.com; * allows any (empty: same origin only)")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "most WebSocket connections at once; beyond it upgrades get 503 (0: file-descriptor limit minus -max-handshakes, -max-page-conns and 64)")
	fs.IntVar(&c.MaxHandshakes, "max-handshakes", server.DefaultMaxHandshakes, "connections whose request head is being read that are always allowed; more while descriptors are free, past that the oldest is dropped")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "time allowed to send a request head and upgrade")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", protocol.DefaultMaxMessageBytes, "largest client message in bytes (close 1009 beyond)")
	fs.Float64Var(&c.RateLimit, "rate-limit", server.DefaultRateLimit, "messages per second one connection may send")
	fs.IntVar(&c.RateBurst, "rate-burst", server.DefaultRateBurst, "messages one connection may send in a burst above -rate-limit")
	fs.IntVar(&c.ReadWorkers, "read-workers", 0, "goroutines reading ready connections (0: two per CPU, at least four)")
	fs.IntVar(&c.MaxPageConns, "max-page-conns", server.DefaultMaxPageConns, "most page-server connections (page, health, metrics) at once; past it the longest idle one is closed")
	fs.DurationVar(&c.PageIdleTimeout, "page-idle-timeout", server.DefaultPageIdleTimeout, "close a page-server connection idle this long between requests")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close a client silent this long (no frame, no pong); it is pinged after half")
	o2 := &c.Outbound
	fs.DurationVar(&o2.WriteTimeout, "write-timeout", outbound.DefaultWriteTimeout, "close a client as a slow consumer when it has bytes queued and takes none for this long")
	fs.IntVar(&o2.MaxQueueBytes, "max-queue-bytes", outbound.DefaultMaxQueueBytes, "bytes queued for one client before it is closed as a slow consumer (close 4001)")
	fs.IntVar(&o2.WriteBudget, "write-budget", 0, "write rate (writes per second) past which each client is written at most once per clients/budget; under it every client is written at once (0: "+strconv.Itoa(outbound.DefaultWriteBudgetPerCore)+" per CPU the process may use, GOMAXPROCS)")
	fs.DurationVar(&o2.MaxCoalesce, "max-coalesce", outbound.DefaultMaxCoalesce, "cap on the coalescing interval at the write budget (negative: never wait, whatever the write rate)")
	fs.IntVar(&o2.Writers, "writers", outbound.DefaultWriters, "goroutines writing to clients (writes never block)")
	r := &c.Rooms
	fs.IntVar(&r.NoticeLimit, "notice-limit", rooms.DefaultNoticeLimit, "largest room whose members all get join and leave notices; larger rooms get presence counts (negative: no limit)")
	fs.DurationVar(&r.PresenceInterval, "presence-interval", rooms.DefaultPresenceInterval, "least time between presence events of a room over -notice-limit, multiplied by members/1000 in rooms over 1,000 members")
	fs.IntVar(&r.TypingLimit, "typing-limit", rooms.DefaultTypingLimit, "largest room, in members, whose chat.v1 members get typing events (negative: none)")
	fs.DurationVar(&r.TypingInterval, "typing-interval", rooms.DefaultTypingInterval, "least time between two typing events forwarded for one connection; those in between are dropped")
	fs.IntVar(&r.History, "history", rooms.DefaultHistory, "recent messages a room keeps for clients that resume")
	fs.IntVar(&r.HistoryRoomBytes, "history-room-bytes", rooms.DefaultHistoryRoomBytes, "bytes of recent messages one room keeps")
	fs.IntVar(&r.HistoryTotalBytes, "history-total-bytes", rooms.DefaultHistoryTotalBytes, "bytes of recent messages kept over all rooms; the oldest go first")
	n := &o.nats
	fs.StringVar(&n.URLs, "nats", "", "join a cluster through these NATS servers, comma-separated (nats://host:4222,...); JetStream orders and keeps every room's messages (empty: a single process, no external service)")
	fs.StringVar(&n.Creds, "nats-creds", "", "NATS credentials file (JWT and nkey seed) (empty: none)")
	fs.StringVar(&n.Stream, "nats-stream", broker.DefaultStream, "JetStream stream of the rooms' messages, created if missing; nodes of one chat share it")
	fs.IntVar(&n.Replicas, "nats-replicas", broker.DefaultReplicas, "replicas of the stream (3 on a NATS cluster of three or more)")
	fs.StringVar(&n.Storage, "nats-storage", broker.DefaultStorage, "stream storage: file (history survives a NATS restart) or memory")
	fs.Int64Var(&n.MaxBytes, "nats-max-bytes", broker.DefaultMaxBytes, "bytes the stream keeps over all rooms, the oldest messages dropped first (-history bounds the messages per room)")
	fs.DurationVar(&n.MaxAge, "nats-max-age", broker.DefaultMaxAge, "age past which the stream drops a message")
	fs.DurationVar(&n.ConnectTimeout, "nats-connect-timeout", broker.DefaultConnectTimeout, "time allowed at start to reach NATS and make the stream; past it the server exits 1")
	e := &o.embedded
	fs.StringVar(&e.StoreDir, "nats-embedded", "", "run a NATS server with JetStream in this process, storing in this directory, and join the cluster through it (-nats defaults to it) (empty: none)")
	fs.StringVar(&e.Listen, "nats-listen", broker.DefaultEmbeddedListen, "client address of the embedded NATS server, host:port")
	fs.StringVar(&e.Cluster, "nats-cluster", "", "route address of the embedded NATS server, host:port, for the other servers of a NATS cluster (empty: no cluster)")
	fs.StringVar(&e.Routes, "nats-routes", "", "route URLs of the NATS cluster's servers, comma-separated (nats://host:6222,...); this node's own may be listed")
	fs.StringVar(&e.ClusterName, "nats-cluster-name", broker.DefaultClusterName, "name of the NATS cluster, the same on every server of it")
	fs.StringVar(&e.ServerName, "nats-server-name", "", "name of the embedded NATS server, unique in its cluster (empty: host name and client port)")
	fs.DurationVar(&e.ReadyTimeout, "nats-embedded-timeout", broker.DefaultEmbeddedReadyTimeout, "time allowed at start for the embedded NATS server to be ready and, in a cluster, for JetStream to elect a leader (a majority of the servers up); past it the server exits 1")

	// The environment first, so that the command line overrides it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "CHAT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		fmt.Fprintln(stderr, envErr)
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %q", fs.Args())
		fmt.Fprintln(stderr, err)
		return nil, err
	}
	if o.trustedProxies != "" {
		var err error
		if c.TrustedProxies, err = realip.ParsePrefixes(o.trustedProxies); err != nil {
			err = fmt.Errorf("-trusted-proxies: %w", err)
			fmt.Fprintln(stderr, err)
			return nil, err
		}
	}
	if o.peers != "" {
		c.Peers = splitList(o.peers)
		if _, _, err := server.ParsePeers(c.Peers); err != nil {
			err = fmt.Errorf("-peers: %w", err)
			fmt.Fprintln(stderr, err)
			return nil, err
		}
	}
	if o.origins != "" {
		c.AllowedOrigins = splitList(o.origins)
	}
	return o, nil
}

// splitList returns the comma-separated items of a flag's value, trimmed.
func splitList(s string) []string {
	items := strings.Split(s, ",")
	for i, item := range items {
		items[i] = strings.TrimSpace(item)
	}
	return items
}

func newLogger(format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("unknown log format %q: want json or console", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}

// run starts the server and serves until ctx is cancelled, then shuts it
// down. It returns the process exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	return runWith(ctx, args, stderr, nil)
}

// runWith is run; listening, when not nil, is called with the chat and
// metrics listeners' addresses (metrics nil without -metrics-addr) once
// they listen.
func runWith(ctx context.Context, args []string, stderr io.Writer, listening func(chat, metrics net.Addr)) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	log, err := newLogger(o.logFormat, o.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "logger:", err)
		return 2
	}
	defer log.Sync()

	debug.SetGCPercent(o.gcPercent)
	if o.cfg.Auth, err = auth.LoadVerifier(o.secretFile, o.publicKeyFile); err != nil {
		log.Error("auth", zap.Error(err))
		return 1
	}
	reg := prometheus.NewRegistry()
	o.cfg.Logger = log
	o.cfg.Registry = reg
	if o.embedded.StoreDir != "" {
		o.embedded.Logger = log.Named("nats")
		e, err := broker.StartEmbedded(ctx, o.embedded)
		if err != nil {
			log.Error("cluster: embedded NATS server", zap.Error(err))
			return 1
		}
		defer e.Shutdown()
		log.Info("embedded NATS server", zap.String("name", e.Name()), zap.String("url", e.ClientURL()),
			zap.String("cluster", o.embedded.Cluster))
		if o.nats.URLs == "" {
			o.nats.URLs = e.ClientURL()
		}
	}
	if o.nats.URLs != "" {
		o.cfg.Metrics = metrics.New(reg)
		o.nats.History = o.cfg.Rooms.History
		o.nats.Metrics = o.cfg.Metrics
		o.nats.Logger = log.Named("broker")
		if o.nats.Name == "" {
			o.nats.Name = "chat " + o.addr
		}
		b, err := broker.Connect(ctx, o.nats)
		if err != nil {
			log.Error("cluster: cannot join through NATS", zap.Error(err))
			return 1
		}
		defer b.Close()
		o.cfg.Rooms.Broker = b
	}
	o.cfg.SeparateMetrics = o.metricsAddr != ""
	srv, err := server.New(o.cfg)
	if err != nil {
		log.Error("start", zap.Error(err))
		return 1
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		log.Error("listen", zap.Error(err))
		return 1
	}
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("page", "http://"+displayAddr(ln.Addr())+"/"),
		zap.Bool("tokens", o.cfg.Auth != nil))

	var metricsAddr net.Addr
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			log.Error("metrics listener", zap.Error(err))
			ln.Close()
			return 1
		}
		metricsAddr = mln.Addr()
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		if o.debugAddr == o.metricsAddr {
			mux.Handle("/debug/pprof/", http.DefaultServeMux) // net/http/pprof's handlers
			o.debugAddr = ""
		}
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: server.DefaultHandshakeTimeout}
		defer ms.Close()
		go func() {
			if err := ms.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", zap.Error(err))
			}
		}()
		log.Info("metrics", zap.String("addr", metricsAddr.String()))
	}
	if listening != nil {
		listening(ln.Addr(), metricsAddr)
	}
	if o.debugAddr != "" {
		go func() {
			// DefaultServeMux carries net/http/pprof's handlers only.
			if err := http.ListenAndServe(o.debugAddr, nil); err != nil {
				log.Error("debug listener", zap.Error(err))
			}
		}()
	}
	// SIGHUP (a closed terminal, or a reload by habit) must not kill the
	// server: there is nothing to reload, so it is logged and ignored.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP ignored: the server has no configuration to reload")
			case <-ctx.Done():
				return
			}
		}
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Error("serve", zap.Error(err))
		return 1
	case <-ctx.Done():
	}
	log.Info("signal received; draining", zap.Duration("timeout", o.shutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown cut short", zap.Error(err))
	}
	<-served
	log.Info("stopped")
	return 0
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
