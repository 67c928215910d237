package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFlagsFromEnvironmentAndCommandLine(t *testing.T) {
	t.Setenv("CHAT_ADDR", "127.0.0.1:9999")
	t.Setenv("CHAT_RATE_LIMIT", "5")
	t.Setenv("CHAT_IDLE_TIMEOUT", "30s")
	o, err := parseFlags([]string{"-rate-limit", "7", "-allowed-origins", "https://a.example, https://b.example"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:9999" {
		t.Errorf("addr %q, want the environment's", o.addr)
	}
	if o.cfg.RateLimit != 7 {
		t.Errorf("rate limit %v, want the command line's 7", o.cfg.RateLimit)
	}
	if o.cfg.IdleTimeout != 30*time.Second {
		t.Errorf("idle timeout %v", o.cfg.IdleTimeout)
	}
	if got := strings.Join(o.cfg.AllowedOrigins, "|"); got != "https://a.example|https://b.example" {
		t.Errorf("origins %q", got)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-log-format", "xml"}, {"-idle-timeout", "soon"}, {"extra"}} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if stderr.Len() == 0 {
			t.Errorf("%v: no message", args)
		}
	}
	t.Setenv("CHAT_RATE_BURST", "many")
	var stderr bytes.Buffer
	if code := run(context.Background(), nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "CHAT_RATE_BURST") {
		t.Errorf("bad environment: exit %d, %q", code, stderr.String())
	}
}

func TestRunStopsCleanlyOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-log-level", "warn"}, &bytes.Buffer{}) }()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after the signal")
	}
}

// TestMetricsAddrAndTokens runs the command with -metrics-addr and
// -auth-secret-file: /metrics answers on its own listener and 404 on the
// chat port, and a WebSocket needs a token.
func TestMetricsAddrAndTokens(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "chat.secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan int)
	go func() {
		done <- runWith(ctx, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0", "-log-level", "warn",
			"-auth-secret-file", secret, "-trusted-proxies", "127.0.0.1"}, &bytes.Buffer{},
			func(chat, metrics net.Addr) { addrs <- [2]net.Addr{chat, metrics} })
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d", code)
		}
	}()
	a := <-addrs
	get := func(url string) int {
		t.Helper()
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if code := get("http://" + a[1].String() + "/metrics"); code != 200 {
		t.Fatalf("metrics listener: %d", code)
	}
	if code := get("http://" + a[0].String() + "/metrics"); code != 404 {
		t.Fatalf("/metrics on the chat port: %d, want 404", code)
	}
	if code := get("http://" + a[0].String() + "/ws/ana"); code != 401 {
		t.Fatalf("WebSocket URL without a token: %d, want 401", code)
	}
}

func TestBadAuthAndProxyFlags(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-trusted-proxies", "not-an-address"}, &stderr); code != 2 {
		t.Errorf("bad -trusted-proxies: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-auth-secret-file", filepath.Join(t.TempDir(), "missing")}, &stderr); code != 1 {
		t.Errorf("missing secret file: exit %d, want 1", code)
	}
}
