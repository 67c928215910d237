package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestNATSUnreachableExits1 starts the server with -nats on a port nothing
// listens on: it exits 1 rather than serve without its cluster.
func TestNATSUnreachableExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + ln.Addr().String()
	ln.Close()
	if code := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-log-level", "error", "-nats", url,
		"-nats-connect-timeout", "500ms"}, &bytes.Buffer{}); code != 1 {
		t.Fatalf("exit %d with NATS unreachable, want 1", code)
	}
}

// TestClusterFlags runs the command with CHAT_NATS and the stream flags
// against a NATS server: the node is ready, reports its broker connected,
// and the stream is made as the flags say.
func TestClusterFlags(t *testing.T) {
	ns := startTestNATS(t)
	t.Setenv("CHAT_NATS", ns.ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan int)
	go func() {
		done <- runWith(ctx, []string{"-addr", "127.0.0.1:0", "-log-level", "warn", "-nats-stream", "ROOMS",
			"-nats-storage", "memory", "-history", "7", "-nats-max-age", "1h"}, &bytes.Buffer{},
			func(chat, _ net.Addr) { addrs <- chat })
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d", code)
		}
	}()
	a := <-addrs
	get := func(path string) (int, string) {
		t.Helper()
		r, err := http.Get("http://" + a.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	if _, m := get("/metrics"); !strings.Contains(m, "\nchat_broker_connected 1\n") {
		t.Fatal("chat_broker_connected is not 1")
	}
	c := streamInfo(t, ns.ClientURL(), "ROOMS").Config
	if c.Storage != jetstream.MemoryStorage || c.MaxMsgsPerSubject != 7 || c.MaxAge != time.Hour {
		t.Fatalf("stream config: storage %v, per subject %d, max age %v", c.Storage, c.MaxMsgsPerSubject, c.MaxAge)
	}
}

// streamInfo returns the info of the JetStream stream name on the NATS
// server at url.
func streamInfo(t *testing.T, url, name string) *jetstream.StreamInfo {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return st.CachedInfo()
}
