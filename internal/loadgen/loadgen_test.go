package loadgen_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/loadgen/chattest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
)

// checkConsistent asserts the accounting identities of a Result.
func checkConsistent(t *testing.T, r loadgen.Result) {
	t.Helper()
	if got := r.Expected - r.Lost + r.Duplicates + r.Extra; got != r.Received {
		t.Errorf("received %d != expected %d - lost %d + duplicates %d + extra %d", r.Received, r.Expected, r.Lost, r.Duplicates, r.Extra)
	}
	if r.Connected+r.ConnectFailures != r.Clients {
		t.Errorf("connected %d + failures %d != clients %d", r.Connected, r.ConnectFailures, r.Clients)
	}
}

func run(t *testing.T, cfg loadgen.Config) loadgen.Result {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	r, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clients %d connected %d sent %d expected %d received %d lost %d dup %d reord %d extra %d reconnects %d errors %v p99 %.2fms",
		r.Clients, r.Connected, r.Sent, r.Expected, r.Received, r.Lost, r.Duplicates, r.Reordered, r.Extra, r.Reconnects, r.Errors, r.Latency.P99)
	checkConsistent(t, r)
	return r
}

func TestEveryMessageAccountedFor(t *testing.T) {
	s := chattest.Start(t, nil)
	reg := prometheus.NewRegistry()
	r := run(t, loadgen.Config{URL: s.URL, Clients: 40, Rooms: 3, Senders: 6, Rate: 20, Duration: time.Second, Settle: 10 * time.Second, Registerer: reg})
	if r.Connected != 40 || r.Lost != 0 || r.Expected == 0 || r.Received != r.Expected || r.Sent != s.Messages() {
		t.Fatalf("want 40 connected, %d sent, every delivery received; got %+v", s.Messages(), r)
	}
	if fails := r.Check(loadgen.Thresholds{MinConnected: 40}); len(fails) != 0 {
		t.Fatalf("thresholds failed: %v", fails)
	}
	for name, want := range map[string]float64{
		"loadgen_messages_sent_total":     float64(r.Sent),
		"loadgen_messages_received_total": float64(r.Received),
		"loadgen_connects_total":          40,
		"loadgen_messages_lost_total":     0,
	} {
		got, err := gathered(reg, name)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
		}
	}
	n, err := testutil.GatherAndCount(reg, "loadgen_latency_seconds", "loadgen_connect_duration_seconds", "loadgen_clients_connected")
	if err != nil || n != 3 {
		t.Errorf("histograms and gauge: %d series, %v", n, err)
	}
}

// gathered reads one unlabelled counter or gauge from reg.
func gathered(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), nil
		}
		return m.GetGauge().GetValue(), nil
	}
	return 0, errors.New("not found")
}

func TestDroppedDeliveriesAreLost(t *testing.T) {
	s := chattest.Start(t, func(s *chattest.Server) { s.DropEvery = 4 })
	r := run(t, loadgen.Config{URL: s.URL, Clients: 20, Rooms: 2, Senders: 4, Rate: 20, Duration: time.Second, Settle: 2 * time.Second})
	if s.Dropped() == 0 || r.Lost != s.Dropped() {
		t.Fatalf("lost %d, server dropped %d", r.Lost, s.Dropped())
	}
	fails := r.Check(loadgen.Thresholds{MaxLossPercent: 0})
	if len(fails) != 1 || !strings.Contains(fails[0], "loss") {
		t.Fatalf("want the loss threshold to fail, got %v", fails)
	}
	if fails := r.Check(loadgen.Thresholds{MaxLossPercent: 100}); len(fails) != 0 {
		t.Fatalf("a 100%% loss budget failed: %v", fails)
	}
}

func TestDelayedDeliveriesFailP99(t *testing.T) {
	const delay = 40 * time.Millisecond
	s := chattest.Start(t, func(s *chattest.Server) { s.Delay = delay })
	r := run(t, loadgen.Config{URL: s.URL, Clients: 6, Senders: 2, Rate: 5, Duration: time.Second, Settle: 5 * time.Second})
	if r.Lost != 0 || r.Latency.P50 < float64(delay/time.Millisecond) {
		t.Fatalf("want no loss and p50 >= %v, got lost %d p50 %.2fms", delay, r.Lost, r.Latency.P50)
	}
	fails := r.Check(loadgen.Thresholds{MaxP99: delay / 2})
	if len(fails) != 1 || !strings.Contains(fails[0], "p99") {
		t.Fatalf("want the p99 threshold to fail, got %v", fails)
	}
}

func TestChurnWithoutFalseLosses(t *testing.T) {
	s := chattest.Start(t, nil)
	r := run(t, loadgen.Config{URL: s.URL, Clients: 30, Senders: 3, Rate: 50, Churn: 20, Duration: 1500 * time.Millisecond, Settle: 500 * time.Millisecond})
	if r.Reconnects == 0 {
		t.Fatal("churn made no reconnects")
	}
	if r.Lost != 0 || r.Duplicates != 0 || len(r.Errors) != 0 {
		t.Fatalf("churn produced losses, duplicates or errors: %+v", r)
	}
}

func TestWorkerProcesses(t *testing.T) {
	s := chattest.Start(t, nil)
	r := run(t, loadgen.Config{URL: s.URL, Clients: 30, Rooms: 2, Senders: 4, Rate: 20, Duration: time.Second, Settle: 3 * time.Second, ClientsPerProcess: 12})
	if r.Processes != 3 {
		t.Fatalf("want 3 processes for 30 clients at 12 each, got %d", r.Processes)
	}
	if r.Connected != 30 || r.Lost != 0 || r.Expected == 0 || r.Received != r.Expected || r.Sent != s.Messages() {
		t.Fatalf("want every delivery accounted for across processes, got %+v", r)
	}
}

func TestWorkerProcessesSeeLoss(t *testing.T) {
	s := chattest.Start(t, func(s *chattest.Server) { s.DropEvery = 3 })
	r := run(t, loadgen.Config{URL: s.URL, Clients: 20, Senders: 3, Rate: 20, Duration: time.Second, Settle: 3 * time.Second, ClientsPerProcess: 8})
	if r.Processes != 3 || s.Dropped() == 0 || r.Lost != s.Dropped() {
		t.Fatalf("processes %d, lost %d, server dropped %d", r.Processes, r.Lost, s.Dropped())
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = loadgen.Run(context.Background(), loadgen.Config{URL: "ws://" + addr, Clients: 3})
	if !errors.Is(err, loadgen.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want ErrUnreachable with the reason, got %v", err)
	}
}

// runCancelledAtFirstSend runs cfg and cancels it as soon as something was
// sent, as Ctrl-C would, and returns the checked summary.
func runCancelledAtFirstSend(t *testing.T, cfg loadgen.Config) loadgen.Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Duration = time.Hour
	cfg.Logger = zaptest.NewLogger(t)
	cfg.Progress = func(sn loadgen.Snapshot) {
		if sn.Sent > 0 {
			cancel()
		}
	}
	r, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	return r
}

func TestCancelStillReports(t *testing.T) {
	s := chattest.Start(t, nil)
	r := runCancelledAtFirstSend(t, loadgen.Config{URL: s.URL, Clients: 10, Senders: 2, Rate: 50, Settle: 2 * time.Second})
	if !r.Interrupted || r.Sent == 0 || r.Lost != 0 || r.Received != r.Expected {
		t.Fatalf("want an interrupted run with its messages accounted for, got %+v", r)
	}
}

// TestCancelSettles makes deliveries slow, so that many are still queued at
// the server when the run is cancelled: the run must still wait for them
// (up to Settle) before closing, not close under them and report them lost.
func TestCancelSettles(t *testing.T) {
	s := chattest.Start(t, func(s *chattest.Server) { s.Delay = 100 * time.Millisecond })
	r := runCancelledAtFirstSend(t, loadgen.Config{URL: s.URL, Clients: 4, Senders: 2, Rate: 10, Settle: 20 * time.Second})
	if !r.Interrupted || r.Sent == 0 || r.Lost != 0 || r.Received != r.Expected {
		t.Fatalf("want an interrupted run that waited for its slow deliveries, got %+v", r)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  loadgen.Config
		want string
	}{
		{loadgen.Config{URL: "http://x"}, "ws://"},
		{loadgen.Config{Clients: -1}, "-clients"},
		{loadgen.Config{Clients: 3, Senders: 4}, "more than -clients"},
		{loadgen.Config{Rate: -1}, "-rate"},
		{loadgen.Config{Room: strings.Repeat("r", 33)}, "room name"},
		{loadgen.Config{SourceIPs: []string{"nope"}}, "-source-ips"},
	} {
		err := tc.cfg.Validate()
		if !errors.Is(err, loadgen.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (loadgen.Config{}).Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}
