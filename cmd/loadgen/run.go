package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Exit codes.
const (
	exitPass     = 0 // every threshold held
	exitFail     = 1 // a threshold failed
	exitNoRun    = 2 // bad flags, or the run could not start
	exitWorkerKO = 3 // a worker process failed
)

// hiddenFlags are for testing and are left out of the usage text.
var hiddenFlags = map[string]bool{"clients-per-process": true}

// options are the parsed flags.
type options struct {
	cfg          loadgen.Config
	thresholds   loadgen.Thresholds
	minConnected string
	maxLoss      float64
	sourceIPs    string
	jsonFile     string
	metricsAddr  string
	cpuProfile   string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &o.cfg
	fs.StringVar(&c.URL, "url", loadgen.DefaultURL, "server base `URL`, ws://host:port (clients connect to URL/ws/{id}?room=...)")
	fs.IntVar(&c.Clients, "clients", loadgen.DefaultClients, "number of simulated clients")
	fs.Float64Var(&c.Ramp, "ramp", loadgen.DefaultRamp, "connections opened per second during the ramp-up")
	fs.StringVar(&c.TokenSecretFile, "token-secret-file", "", "the server's -auth-secret-file: each client sends a token minted from it for its client id and room (empty: no tokens)")
	fs.StringVar(&c.Room, "room", loadgen.DefaultRoom, "room to join, or the prefix of the room names with -rooms > 1")
	fs.IntVar(&c.Rooms, "rooms", loadgen.DefaultRooms, "spread clients over `K` rooms named ROOM-0 .. ROOM-(K-1)")
	fs.IntVar(&c.Senders, "senders", loadgen.DefaultSenders, "number of clients that send messages (capped at -clients unless given; 0 = connect only)")
	fs.Float64Var(&c.Rate, "rate", loadgen.DefaultRate, "messages per second per sender, gaps jittered by ±50% (the server's default limit is 20 per connection, bursts of 40; more gets rate_limited errors)")
	fs.IntVar(&c.Size, "size", loadgen.DefaultSize, "message text size in `bytes` (at least 57: the measurement payload)")
	fs.DurationVar(&c.Duration, "duration", loadgen.DefaultDuration, "how long senders send, after the ramp-up")
	fs.DurationVar(&c.Settle, "settle", loadgen.DefaultSettle, "time allowed for in-flight deliveries after the last send (and after a churning client decides to leave)")
	fs.Float64Var(&c.Churn, "churn", 0, "non-sending clients per second that disconnect and reconnect during the sending phase")
	fs.DurationVar(&c.DialTimeout, "dial-timeout", loadgen.DefaultDialTimeout, "limit on TCP connect plus WebSocket handshake per client")
	fs.StringVar(&o.sourceIPs, "source-ips", "", "comma-separated local `addresses` to connect from (default: automatic, 127.0.0.x when one address has too few ports)")
	fs.IntVar(&c.ClientsPerProcess, "clients-per-process", 0, "cap on clients per process (default: file-descriptor limit minus headroom)")
	fs.StringVar(&o.jsonFile, "json", "", "write the summary as JSON to `FILE`")
	fs.Float64Var(&o.maxLoss, "max-loss", 0, "highest acceptable loss, in `percent` of expected deliveries")
	fs.DurationVar(&o.thresholds.MaxP99, "max-p99", 0, "highest acceptable p99 end-to-end latency (0 = no limit)")
	fs.StringVar(&o.minConnected, "min-connected", "100%", "lowest acceptable number of connected clients, a count or a percentage of -clients")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (not of worker processes) to `FILE`, for go tool pprof")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve loadgen_ Prometheus metrics on this `address` while running (default: off); grafana/prometheus.yml scrapes 127.0.0.1:9101")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: loadgen [flags]\n\nSimulates WebSocket chat clients against a server and reports latency and loss.\nExit status: 0 all thresholds hold, 1 a threshold failed, 2 bad flags or the run could not start.\n\nFlags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			if hiddenFlags[f.Name] {
				return
			}
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(stderr, "  -%s %s\n    \t%s", f.Name, name, usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (all settings are flags; see -h)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if c.Clients <= 0 {
		return o, fmt.Errorf("-clients must be positive, got %d", c.Clients)
	}
	switch {
	case !given["senders"]:
		c.Senders = min(c.Senders, c.Clients)
	case c.Senders == 0:
		c.Senders = loadgen.NoSenders
	case c.Senders < 0:
		return o, fmt.Errorf("-senders must not be negative, got %d", c.Senders)
	}
	if c.Ramp <= 0 || c.Rooms <= 0 || c.Rate <= 0 || c.Size <= 0 || c.Duration <= 0 || c.Settle <= 0 || c.DialTimeout <= 0 {
		for _, f := range []struct {
			name string
			bad  bool
		}{{"ramp", c.Ramp <= 0}, {"rooms", c.Rooms <= 0}, {"rate", c.Rate <= 0}, {"size", c.Size <= 0}, {"duration", c.Duration <= 0}, {"settle", c.Settle <= 0}, {"dial-timeout", c.DialTimeout <= 0}} {
			if f.bad {
				return o, fmt.Errorf("-%s must be positive, got %s", f.name, fs.Lookup(f.name).Value)
			}
		}
	}
	if o.maxLoss < 0 || o.maxLoss > 100 {
		return o, fmt.Errorf("-max-loss must be a percentage from 0 to 100, got %g", o.maxLoss)
	}
	o.thresholds.MaxLossPercent = o.maxLoss
	if o.thresholds.MaxP99 < 0 {
		return o, fmt.Errorf("-max-p99 must not be negative, got %v", o.thresholds.MaxP99)
	}
	n, err := parseCount(o.minConnected, c.Clients)
	if err != nil {
		return o, fmt.Errorf("-min-connected: %w", err)
	}
	o.thresholds.MinConnected = n
	if o.sourceIPs != "" {
		for _, ip := range strings.Split(o.sourceIPs, ",") {
			c.SourceIPs = append(c.SourceIPs, strings.TrimSpace(ip))
		}
	}
	if err := c.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// parseCount parses "N" or "P%" (of total).
func parseCount(s string, total int) (int, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 {
			return 0, fmt.Errorf("%q is not a percentage from 0%% to 100%%", s)
		}
		return int(float64(total)*f/100 + 0.999999), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is neither a count nor a percentage", s)
	}
	if n > total {
		return 0, fmt.Errorf("%d is more than -clients %d", n, total)
	}
	return n, nil
}

// Run runs the load generator with command-line args and returns the exit
// status. Progress goes to stderr, the summary to stdout.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return exitNoRun
	}
	cfg := o.cfg
	cfg.Logger = newLogger(stderr)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	if o.metricsAddr != "" {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		ln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: -metrics-addr: %v\n", err)
			return exitNoRun
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: -cpuprofile: %v\n", err)
			return exitNoRun
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	pr := newProgress(stderr)
	cfg.Progress = pr.print
	res, err := loadgen.Run(ctx, cfg)
	pr.end()
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		if errors.Is(err, loadgen.ErrConfig) || errors.Is(err, loadgen.ErrUnreachable) {
			return exitNoRun
		}
		return exitWorkerKO
	}
	_ = res.WriteSummary(stdout)
	if o.jsonFile != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(o.jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: -json: %v\n", err)
			return exitFail
		}
	}
	if fails := res.Check(o.thresholds); len(fails) > 0 {
		for _, f := range fails {
			fmt.Fprintf(stdout, "FAIL %s\n", f)
		}
		return exitFail
	}
	fmt.Fprintln(stdout, "PASS every threshold holds")
	return exitPass
}

func newLogger(w io.Writer) *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zap.WarnLevel))
}

// progress prints one line per snapshot: rewritten in place on a terminal,
// one line each otherwise.
type progress struct {
	w   io.Writer
	tty bool

	mu       sync.Mutex
	printed  bool          // guarded by mu
	lastSent int64         // guarded by mu
	lastRecv int64         // guarded by mu
	lastAt   time.Duration // guarded by mu
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

func (p *progress) print(s loadgen.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	dt := (s.Elapsed - p.lastAt).Seconds()
	var out, in float64
	if dt > 0 {
		out = float64(s.Sent-p.lastSent) / dt
		in = float64(s.Received-p.lastRecv) / dt
	}
	p.lastSent, p.lastRecv, p.lastAt = s.Sent, s.Received, s.Elapsed
	p99 := "-"
	if s.Latency != nil && s.Latency.TotalCount() > 0 {
		p99 = fmt.Sprintf("%.2fms", float64(s.Latency.ValueAtQuantile(99))/1000)
	}
	line := fmt.Sprintf("%6.1fs %-7s connected %d/%d  out %.0f/s  in %.0f/s  p99 %s  errors %d",
		s.Elapsed.Seconds(), s.Phase, s.Connected, s.Clients, out, in, p99, s.ErrorCount())
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\033[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.printed = true
}

// end finishes the in-place line so that what follows starts on its own.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
	}
}
