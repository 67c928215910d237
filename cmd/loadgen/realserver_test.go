package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// startRealServer runs the chat server (internal/server with its defaults)
// on a loopback port and returns its base WebSocket URL.
func startRealServer(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, "127.0.0.1:0", server.Config{}).URL()
}

func TestRealServerPasses(t *testing.T) {
	url := startRealServer(t)
	file := filepath.Join(t.TempDir(), "r.json")
	code, stdout, _ := runCmd(t, "-url", url, "-clients", "200", "-rooms", "4", "-senders", "8", "-rate", "10", "-duration", "2s", "-settle", "10s", "-json", file, "-max-p99", "10s")
	if code != 0 || !strings.Contains(stdout, "PASS") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	r, b := readResult(t, file)
	if r.Clients != 200 || r.Connected != 200 || r.ConnectFailures != 0 || r.Rooms != 4 || r.Senders != 8 {
		t.Errorf("summary %s", b)
	}
	if r.Sent == 0 || r.Expected != 50*r.Sent || r.Received != r.Expected || r.Lost != 0 || r.Duplicates != 0 || r.Reordered != 0 || len(r.Errors) != 0 {
		t.Errorf("want every message delivered once to its room's 50 members, got %s", b)
	}
	if r.LossPercent != 0 || r.DeliveriesPerSecond <= 0 || r.ConnectRate <= 0 || r.Duration < r.RampSeconds+r.SendSeconds {
		t.Errorf("derived fields inconsistent: %s", b)
	}
}

// TestDefaultsSuitTheServer runs the command with its defaults (only the
// URL and a short duration given) against the server with its defaults:
// the default rate stays under the server's per-connection rate limit and
// the default room is not the one people chat in.
func TestDefaultsSuitTheServer(t *testing.T) {
	if loadgen.DefaultRate > server.DefaultRateLimit {
		t.Fatalf("default -rate %g exceeds the server's default rate limit %g", loadgen.DefaultRate, server.DefaultRateLimit)
	}
	if loadgen.DefaultRoom == "general" {
		t.Fatal("the default room is the server's default room")
	}
	url := startRealServer(t)
	file := filepath.Join(t.TempDir(), "r.json")
	code, stdout, _ := runCmd(t, "-url", url, "-duration", "3s", "-json", file)
	if code != 0 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	r, b := readResult(t, file)
	if r.Connected != loadgen.DefaultClients || r.Senders != loadgen.DefaultSenders || r.Sent == 0 || r.Lost != 0 || r.Received != r.Expected || len(r.Errors) != 0 {
		t.Errorf("summary %s", b)
	}
}
