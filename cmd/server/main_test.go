package main

import (
	"bytes"
	"context"
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
