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
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/loadgen/series"
	"github.com/chatplatform/chat/internal/loadgen/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Exit codes.
const (
	exitPass       = 0 // every threshold held
	exitFail       = 1 // a threshold failed
	exitNoRun      = 2 // bad flags, or the run could not start
	exitIncomplete = 3 // interrupted (Ctrl-C, SIGTERM): no verdict
	exitBroken     = 4 // the run broke off: a worker process failed, or the -json file could not be written
)

// hiddenFlags are for testing and are left out of the usage text.
var hiddenFlags = map[string]bool{"clients-per-process": true}

// options are the parsed flags.
type options struct {
	cfg          loadgen.Config
	thresholds   loadgen.Thresholds
	minConnected string
	sourceIPs    string
	stages       string
	roomRates    string
	jsonFile     string
	outFile      string
	metricsAddr  string
	cpuProfile   string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	// Errors are reported once, by Run, without the whole usage text;
	// -h prints the usage.
	fs.SetOutput(io.Discard)
	c := &o.cfg
	c.Duration, c.Settle, c.DialTimeout, c.Backoff = loadgen.DefaultDuration, loadgen.DefaultSettle, loadgen.DefaultDialTimeout, loadgen.DefaultBackoff
	fs.Var(listFlag{&c.URLs}, "url", "server base `URL`, ws://host:port (clients connect to URL/ws/{id}?room=...); repeat it or give a comma-separated list to spread clients over several servers round-robin (default "+loadgen.DefaultURL+")")
	fs.IntVar(&c.Clients, "clients", loadgen.DefaultClients, "number of simulated clients (with -stages: the largest target unless given)")
	fs.Float64Var(&c.Ramp, "ramp", loadgen.DefaultRamp, "connections opened per second during the ramp-up")
	fs.StringVar(&o.stages, "stages", "", "load shape instead of -ramp and -duration: comma-separated `DURATION:TARGET` steps, each moving the connected clients linearly to TARGET, e.g. 30s:1000,1m:1000,20s:0")
	fs.StringVar(&c.TokenSecretFile, "token-secret-file", "", "the server's -auth-secret-file: each client sends a token minted from it for its client id and room (empty: no tokens)")
	fs.StringVar(&c.Protocol, "protocol", loadgen.ProtocolChat, "what the server speaks, a `protocol`: chat (this platform's JSON events on /ws/{client_id}) or raw (one room on /ws, raw text frames, as gorilla/websocket's chat example)")
	fs.StringVar(&c.Room, "room", loadgen.DefaultRoom, "room to join, or the prefix of the room names with -rooms > 1")
	fs.IntVar(&c.Rooms, "rooms", loadgen.DefaultRooms, "spread clients over `K` rooms named ROOM-0 .. ROOM-(K-1)")
	fs.IntVar(&c.Senders, "senders", loadgen.DefaultSenders, "number of clients that send messages (capped at -clients unless given; 0 = connect only); sender i is in room i % K")
	fs.Float64Var(&c.Rate, "rate", loadgen.DefaultRate, "messages per second per sender, gaps jittered by ±50% (the server's default limit is 20 per connection, bursts of 40; more gets rate_limited errors)")
	fs.StringVar(&o.roomRates, "room-rates", "", "per-room sender `rates` instead of -rate, one per room, comma-separated; 0 makes an idle room, e.g. -rooms 3 -room-rates 10,1,0")
	fs.IntVar(&c.Size, "size", loadgen.DefaultSize, "message text size in `bytes`, at least "+strconv.Itoa(wire.MinPayload)+" (the measurement payload)")
	fs.Var(durationFlag{&c.Duration}, "duration", "how long senders send after the ramp-up, a `duration` such as 30s or 5m")
	fs.Var(durationFlag{&c.Settle}, "settle", "`time` allowed for in-flight deliveries after the last send (and after a leaving client decides to leave)")
	fs.Float64Var(&c.Churn, "churn", 0, "non-sending clients per second that disconnect and come back during the sending phase")
	fs.StringVar(&c.ChurnMode, "churn-mode", loadgen.ChurnLeave, "how churning clients go, a `mode`: leave (close frame, then a fresh join) or cut (drop the TCP connection, then resume with since and epoch)")
	fs.BoolVar(&c.Reconnect, "reconnect", false, "clients whose connection is lost reconnect with exponential backoff and resume (since and epoch), trying the next -url; senders send with ids and, resumed, send again what did not come back to them")
	fs.Var(durationFlag{&c.Backoff}, "backoff", "first `wait` of a reconnecting client; it doubles per failed attempt up to 5s, jittered ±50%")
	fs.Var(durationFlag{&c.DialTimeout}, "dial-timeout", "`limit` on TCP connect plus WebSocket handshake per client")
	fs.StringVar(&o.sourceIPs, "source-ips", "", "comma-separated local `addresses` to connect from (default: automatic, 127.0.0.x when one address has too few ports)")
	fs.IntVar(&c.ClientsPerProcess, "clients-per-process", 0, "cap on clients per process (default: file-descriptor limit minus headroom)")
	fs.StringVar(&o.jsonFile, "json", "", "write the summary as JSON to `FILE`")
	fs.StringVar(&o.outFile, "out", "", "write one row per progress interval to `FILE`: CSV if it ends in .csv, JSON lines otherwise (go run ./cmd/loadplot turns it into an SVG)")
	o.thresholds.MaxLossPercent = 0
	fs.Var(percentFlag{&o.thresholds.MaxLossPercent}, "max-loss", "highest acceptable loss, `percent` of expected deliveries (5 and 5% are the same)")
	fs.Var(durationFlag{&o.thresholds.MaxP99}, "max-p99", "highest acceptable p99 end-to-end `latency`, e.g. 200ms (default: no limit)")
	fs.StringVar(&o.minConnected, "min-connected", "100%", "lowest acceptable number of clients that connected, a `count` (950) or a percentage of -clients (95%)")
	fs.Int64Var(&o.thresholds.MaxDisconnects, "max-disconnects", 0, "most connections (`N`) the run may lose while their clients meant to stay (server closes, resets, hang-ups), over the whole run; -1: no limit")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (not of worker processes) to `FILE`, for go tool pprof")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve loadgen_ Prometheus metrics on this `address` while running (default: off); grafana/prometheus.yml scrapes 127.0.0.1:9101")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stderr)
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (all settings are flags; see -h)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.stages != "" {
		if given["ramp"] || given["duration"] {
			return o, errors.New("-stages sets the ramp and the duration; leave out -ramp and -duration")
		}
		st, err := loadgen.ParseStages(o.stages)
		if err != nil {
			return o, fmt.Errorf("-stages: %w", err)
		}
		c.Stages = st
		if !given["clients"] {
			c.Clients = 0 // the largest target
			for _, s := range st {
				c.Clients = max(c.Clients, s.Target)
			}
		}
	}
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
	for _, f := range []struct {
		name string
		bad  bool
	}{{"ramp", c.Ramp <= 0}, {"rooms", c.Rooms <= 0}, {"rate", c.Rate <= 0}, {"duration", c.Duration <= 0}, {"settle", c.Settle <= 0}, {"dial-timeout", c.DialTimeout <= 0}, {"backoff", c.Backoff <= 0}} {
		if f.bad {
			return o, fmt.Errorf("-%s must be positive, got %s", f.name, fs.Lookup(f.name).Value)
		}
	}
	if o.roomRates != "" {
		rates, err := parseRates(o.roomRates)
		if err != nil {
			return o, fmt.Errorf("-room-rates: %w", err)
		}
		c.RoomRates = rates
	}
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
	for _, f := range []struct{ flag, path string }{{"json", o.jsonFile}, {"out", o.outFile}, {"cpuprofile", o.cpuProfile}} {
		if f.path == "" {
			continue
		}
		if err := checkWritable(f.path); err != nil {
			return o, fmt.Errorf("-%s: %w", f.flag, err)
		}
	}
	if err := c.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// usage prints the flags, without the hidden ones.
func usage(fs *flag.FlagSet, stderr io.Writer) {
	fmt.Fprintf(stderr, "Usage: loadgen [flags]\n\nSimulates WebSocket chat clients against a server and reports latency and loss.\n"+
		"Exit status: 0 every threshold holds, 1 a threshold failed, 2 bad flags or the run could not start,\n"+
		"3 interrupted (no verdict), 4 the run broke off (a worker process failed, or -json could not be written).\n\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		if hiddenFlags[f.Name] {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(stderr, "  -%s %s\n    \t%s", f.Name, name, usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" && f.DefValue != "0%" {
			fmt.Fprintf(stderr, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(stderr)
	})
}

// Run runs the load generator with command-line args and returns the exit
// status. Progress goes to stderr, the summary to stdout.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v (loadgen -h lists the flags)\n", err)
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
	var rows *series.Writer
	if o.outFile != "" {
		if rows, err = series.Create(o.outFile); err != nil {
			fmt.Fprintf(stderr, "loadgen: -out: %v\n", err)
			return exitNoRun
		}
	}
	pr := newProgress(stderr, rows)
	cfg.Progress = pr.print
	res, err := loadgen.Run(ctx, cfg)
	pr.end()
	if rows != nil {
		if err := rows.Close(); err != nil {
			fmt.Fprintf(stderr, "loadgen: -out: %v\n", err)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		if errors.Is(err, loadgen.ErrConfig) || errors.Is(err, loadgen.ErrUnreachable) {
			return exitNoRun
		}
		return exitBroken
	}
	res.Judge(o.thresholds)
	_ = res.WriteSummary(stdout)
	_ = res.WriteVerdict(stdout)
	code := exitPass
	switch res.Outcome {
	case loadgen.OutcomeFail:
		code = exitFail
	case loadgen.OutcomeIncomplete:
		code = exitIncomplete
	}
	if o.jsonFile != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(o.jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			// Checked writable at the start; failing now is the machine's
			// doing (disk full, directory removed), not the server's.
			fmt.Fprintf(stderr, "loadgen: -json: %v\n", err)
			return exitBroken
		}
	}
	return code
}

func newLogger(w io.Writer) *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zap.WarnLevel))
}
