package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/loadgen/chattest"
)

// TestMain lets the test binary serve as a worker process of a
// multi-process run, as the real binary does.
func TestMain(m *testing.M) {
	if os.Getenv(loadgen.WorkerEnv) != "" {
		os.Exit(runWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, &out, &errOut)
	t.Logf("loadgen %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-clients", "-5"}, "-clients must be positive"},
		{[]string{"-url", "http://127.0.0.1:8080"}, "must be ws://host:port"},
		{[]string{"-clients", "3", "-senders", "4"}, "-senders 4 is more than -clients 3"},
		{[]string{"-senders", "-1"}, "-senders must not be negative"},
		{[]string{"-rate", "0"}, "-rate must be positive"},
		{[]string{"-duration", "-1s"}, "-duration must be positive"},
		{[]string{"-max-loss", "101"}, "-max-loss"},
		{[]string{"-min-connected", "many"}, "-min-connected"},
		{[]string{"-clients", "10", "-min-connected", "11"}, "more than -clients"},
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestHelpHidesTestFlags(t *testing.T) {
	code, _, stderr := runCmd(t, "-h")
	if code != 0 || !strings.Contains(stderr, "-clients") || strings.Contains(stderr, "clients-per-process") {
		t.Fatalf("exit %d, usage %q", code, stderr)
	}
}

func TestUnreachableIsPlain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, stderr := runCmd(t, "-url", "ws://"+addr, "-clients", "5")
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "server unreachable: cannot connect to "+addr+": connect: connection refused") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestPassWritesJSON(t *testing.T) {
	s := chattest.Start(t, nil)
	file := filepath.Join(t.TempDir(), "r.json")
	code, stdout, _ := runCmd(t, "-url", s.URL, "-clients", "20", "-rooms", "2", "-senders", "4", "-rate", "10", "-duration", "1s", "-settle", "5s", "-json", file, "-max-p99", "10s")
	if code != 0 || !strings.Contains(stdout, "PASS") || !strings.Contains(stdout, "latency") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"clients", "connected", "connect_failures", "sent", "expected", "received", "lost", "duplicates", "reordered", "latency_ms", "connect_ms", "errors", "duration_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON summary lacks %q", k)
		}
	}
	for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
		if _, ok := m["latency_ms"].(map[string]any)[k]; !ok {
			t.Errorf("latency_ms lacks %q", k)
		}
	}
	if m["clients"] != 20.0 || m["connected"] != 20.0 || m["lost"] != 0.0 || m["received"] != m["expected"] {
		t.Errorf("summary %s", b)
	}
}

// readResult reads the -json summary in file, decoded and as written.
func readResult(t *testing.T, file string) (loadgen.Result, []byte) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r loadgen.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r, b
}

func TestLossFailsWithExit1(t *testing.T) {
	s := chattest.Start(t, func(s *chattest.Server) { s.DropEvery = 2 })
	file := filepath.Join(t.TempDir(), "r.json")
	code, stdout, _ := runCmd(t, "-url", s.URL, "-clients", "10", "-senders", "2", "-rate", "10", "-duration", "1s", "-settle", "2s", "-json", file, "-clients-per-process", "4")
	if code != 1 || !strings.Contains(stdout, "FAIL loss") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	r, _ := readResult(t, file)
	if r.Processes != 3 || r.Lost != s.Dropped() || r.Lost == 0 {
		t.Fatalf("processes %d, lost %d, server dropped %d", r.Processes, r.Lost, s.Dropped())
	}
}
