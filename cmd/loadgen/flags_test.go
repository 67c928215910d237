package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/loadgen/chattest"
)

// TestBadFlagsSayWhatToType checks that each bad flag is refused before
// any work (the server sees no connection) with exit 2 and a message that
// says what to type.
func TestBadFlagsSayWhatToType(t *testing.T) {
	s := chattest.Start(t, nil)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-json", "/nonexistent/dir/x.json"}, "-json: directory /nonexistent/dir does not exist"},
		{[]string{"-out", "/nonexistent/dir/x.csv"}, "-out: directory /nonexistent/dir does not exist"},
		{[]string{"-json", t.TempDir()}, "is a directory; give a file name"},
		{[]string{"-size", "10"}, "use -size 58 or more"},
		{[]string{"-duration", "30"}, `add one, e.g. "30s"`},
		{[]string{"-settle", "2"}, `add one, e.g. "2s"`},
		{[]string{"-max-p99", "200"}, `add one, e.g. "200s" for seconds or "200ms"`},
		{[]string{"-max-loss", "5x"}, "not a percentage from 0 to 100 (write 5 or 5%)"},
		{[]string{"-max-loss", "101%"}, "not a percentage"},
		{[]string{"-min-connected", "lots"}, "neither a count nor a percentage (write 950 or 95%)"},
		{[]string{"-source-ips", "10.9.9.9"}, "10.9.9.9 is not a loopback address, and the server"},
		{[]string{"-stages", "30:100"}, `-stages: stage 1 "30:100": "30" has no unit`},
		{[]string{"-stages", "1s:10", "-duration", "5s"}, "leave out -ramp and -duration"},
		{[]string{"-stages", "1s:10", "-clients", "5"}, "-stages reach 10 clients, more than -clients 5"},
		{[]string{"-room-rates", "1,x"}, `"x" is not a rate`},
		{[]string{"-rooms", "2", "-room-rates", "1,2,3"}, "one rate per room"},
		{[]string{"-churn-mode", "drop"}, "-churn-mode must be leave or cut"},
		{[]string{"-url", "ws://127.0.0.1:1,http://x"}, `-url "http://x" must be ws://host:port`},
	} {
		args := append([]string{"-url", s.URL}, tc.args...)
		code, _, stderr := runCmd(t, args...)
		if code != exitNoRun || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if n := s.Upgrades(); n != 0 {
		t.Errorf("bad flags let %d clients connect", n)
	}
}

// TestPercentWithOrWithoutSign checks that -max-loss and -min-connected
// read "5" and "5%" the way their help says.
func TestPercentWithOrWithoutSign(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		loss         float64
		minConnected int
	}{
		{[]string{"-max-loss", "5"}, 5, 100},
		{[]string{"-max-loss", "5%"}, 5, 100},
		{[]string{"-max-loss", "0.5%", "-min-connected", "95%"}, 0.5, 95},
		{[]string{"-min-connected", "95"}, 0, 95},
		{[]string{"-clients", "10", "-min-connected", "55%"}, 0, 6},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil || o.thresholds.MaxLossPercent != tc.loss || o.thresholds.MinConnected != tc.minConnected {
			t.Errorf("%v: loss %v min-connected %d (%v), want %v and %d", tc.args, o.thresholds.MaxLossPercent, o.thresholds.MinConnected, err, tc.loss, tc.minConnected)
		}
	}
	o, err := parseFlags([]string{"-stages", "10s:50,20s:200,5s:0", "-url", "ws://127.0.0.1:1", "-url", "ws://127.0.0.1:2,ws://127.0.0.1:3"}, io.Discard)
	if err != nil || o.cfg.Clients != 200 || len(o.cfg.Stages) != 3 || o.cfg.Stages[1].Duration != 20*time.Second || len(o.cfg.URLs) != 3 {
		t.Errorf("stages and URLs: %+v, %v", o.cfg, err)
	}
}

// TestNothingConnectedPrintsNA checks that latencies without a sample
// print as n/a, not as 0.00ms.
func TestNothingConnectedPrintsNA(t *testing.T) {
	s := chattest.Start(t, nil)
	code, stdout, _ := runCmd(t, "-url", s.URL, "-clients", "3", "-senders", "0", "-duration", "100ms")
	if code != exitPass || !strings.Contains(stdout, "latency         n/a (no message received)") || strings.Contains(stdout, "p50 0.00ms") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}
