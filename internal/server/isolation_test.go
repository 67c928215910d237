package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/testkit"
)

// TestNonReadersCostNobodyElse floods a room holding 200 clients that never
// read, 5 that do and the sender; a bystander chats in another room. Every
// non-reader is closed as a slow consumer on its own; every reader gets
// every message in order and stays connected.
func TestNonReadersCostNobodyElse(t *testing.T) {
	const nonReaders, readers = 200, 5
	// NoticeLimit 1: no join notices in the busy room, only messages.
	ts := startServer(t, server.Config{RateLimit: 1e6, RateBurst: 1e6,
		Outbound: outbound.Config{MaxQueueBytes: 32 << 10},
		Rooms:    rooms.Config{NoticeLimit: 1}})
	bystander := ts.dial(t, "bystander", "quiet")
	bystander.expect(protocol.TypeConnection)
	var rs []*client
	for i := range readers {
		c := ts.dial(t, fmt.Sprint("reader", i), "busy")
		c.expect(protocol.TypeConnection)
		rs = append(rs, c)
	}
	sender := ts.dial(t, "sender", "busy")
	sender.expect(protocol.TypeConnection)
	rs = append(rs, sender)
	for i := range nonReaders {
		nonReader(t, ts.Addr, fmt.Sprint("nr", i), "busy")
	}
	ts.waitCounter(t, nonReaders+readers+2, "chat_connections")

	// Each reader checks seq and text of every message in order.
	const maxMessages, window = 3000, 4
	text := func(i int) string { return fmt.Sprintf("%05d-%s", i, strings.Repeat("m", 2000)) }
	var received [readers + 1]atomic.Int64
	var sent atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, len(rs))
	for i, c := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var first uint64
			for !stop.Load() || received[i].Load() < sent.Load() {
				c.conn.SetReadDeadline(time.Now().Add(hangDetector))
				_, data, err := c.conn.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("%s after %d messages: %w", c.id, received[i].Load(), err)
					return
				}
				ev := decodeEvent(data)
				if ev.Type != protocol.TypeMessage {
					continue
				}
				n := received[i].Load()
				if first == 0 {
					first = ev.Seq - uint64(n)
				}
				if ev.Seq != first+uint64(n) || ev.Message != text(int(n)) {
					errs <- fmt.Errorf("%s: message %d has seq %d and text %.10q", c.id, n, ev.Seq, ev.Message)
					return
				}
				received[i].Add(1)
			}
		}()
	}
	slowest := func() int64 {
		m := received[0].Load()
		for i := range received {
			m = min(m, received[i].Load())
		}
		return m
	}
	// logStates says where each reader's outbound side stands, for one
	// that stopped receiving.
	logStates := func() {
		states := ts.OutboundStatesForTest()
		for _, c := range rs {
			t.Logf("%s: %s", c.id, states[c.id])
		}
	}
	for i := 0; i < maxMessages && ts.counter(t, "chat_connections_closed_total", "reason", "slow_consumer") < nonReaders; i++ {
		deadline := time.Now().Add(hangDetector)
		for int64(i)-slowest() >= window && len(errs) == 0 {
			if time.Now().After(deadline) {
				logStates()
				t.Fatalf("readers stuck at %d of %d messages", slowest(), i)
			}
			time.Sleep(50 * time.Microsecond)
		}
		if len(errs) > 0 {
			break
		}
		sender.send(text(i))
		sent.Add(1)
		if i == 50 {
			bystander.roundTrip("still here")
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		logStates()
		t.FailNow()
	}
	ts.waitCounter(t, nonReaders, "chat_connections_closed_total", "reason", "slow_consumer")
	bystander.roundTrip("after the flood")
	ts.waitCounter(t, readers+2, "chat_connections")
	if got := ts.counter(t, "chat_connections_closed_total"); got != nonReaders {
		t.Fatalf("%v connections closed, want only the %d non-readers", got, nonReaders)
	}
	t.Logf("%d messages sent", sent.Load())
}

// TestStalledWriterIsClosedAfterWriteTimeout has a client that reads
// nothing hold a queue far under the bound: it is closed as a slow consumer
// once it has made no write progress for -write-timeout, and nobody else
// is.
func TestStalledWriterIsClosedAfterWriteTimeout(t *testing.T) {
	ts := startServer(t, server.Config{RateLimit: 1e6, RateBurst: 1e6,
		Outbound: outbound.Config{MaxQueueBytes: 1 << 20, WriteTimeout: 300 * time.Millisecond}})
	reader := ts.dial(t, "reader", "r")
	reader.expect(protocol.TypeConnection)
	bystander := ts.dial(t, "bystander", "other")
	bystander.expect(protocol.TypeConnection)
	stalled := nonReader(t, ts.Addr, "stalled", "r")
	reader.expect(protocol.TypeConnection)
	// Fill the stalled client's socket buffers until bytes stay queued for
	// it (the reader has read everything, so what is queued is the stalled
	// client's), then stop: the queue stays far under its bound, so only
	// the write timeout can close the client. If the kernel takes the bytes
	// after all, go on.
	msg := strings.Repeat("s", 2000)
	closed := func() bool { return ts.counter(t, "chat_connections_closed_total", "reason", "slow_consumer") == 1 }
	for i := 0; !closed(); i++ {
		if i == 5000 {
			t.Fatal("nothing stayed queued after 5000 messages")
		}
		reader.roundTrip(msg)
		if q := ts.QueuedBytesForTest(); q > 8<<10 {
			if q > 512<<10 {
				t.Fatalf("%d bytes queued: the test meant to stay under the bound", q)
			}
			testkit.WaitFor(t, "the stalled client to be closed or to take its bytes", func() bool {
				return closed() || ts.QueuedBytesForTest() < 8<<10
			})
		}
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "slow_consumer")
	if !readsEnd(stalled) {
		t.Fatal("the stalled client is still open")
	}
	reader.roundTrip("reader still here")
	bystander.roundTrip("bystander still here")
	ts.waitCounter(t, 2, "chat_connections")
	if got := ts.counter(t, "chat_connections_closed_total"); got != 1 {
		t.Fatalf("%v connections closed, want 1", got)
	}
}

// TestSilentSocketsNeverStopAccepting holds 1,000 TCP connections that
// send nothing, reopening those the server drops, while /healthz is probed
// and clients upgrade: every probe and upgrade is answered. With the
// default descriptor budget the silent sockets just wait for their
// timeout, reopened at once; with fewer descriptors than they need, the
// oldest are evicted to make room.
func TestSilentSocketsNeverStopAccepting(t *testing.T) {
	t.Run("descriptors to spare", func(t *testing.T) {
		silentSockets(t, startServer(t, server.Config{HandshakeTimeout: time.Second}), 0, false)
	})
	t.Run("descriptors short", func(t *testing.T) {
		// Reopened after a pause: reopened at once, the 1,000 sockets churn
		// the few slots left at 13,000-15,000 evictions a second on two
		// shared cores, faster than a client's head is read.
		silentSockets(t, startServer(t, server.Config{MaxDescriptors: 1000}), 500*time.Millisecond, true)
	})
}

func silentSockets(t *testing.T, ts *testServer, reopenDelay time.Duration, evicting bool) {
	const silent = 1000
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	for range silent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10_000 {
				if stop.Load() {
					return
				}
				conn, err := net.Dial("tcp", ts.Addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				open[conn] = true
				mu.Unlock()
				io.Copy(io.Discard, conn) // until the server drops it, or the test ends
				mu.Lock()
				delete(open, conn)
				mu.Unlock()
				conn.Close()
				time.Sleep(reopenDelay)
			}
		}()
	}
	t.Cleanup(func() {
		stop.Store(true)
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	if evicting {
		testkit.WaitFor(t, "evictions of silent handshakes", func() bool {
			return ts.counter(t, "chat_upgrade_failures_total", "reason", "handshake_evicted") > 0
		})
	} else {
		testkit.WaitFor(t, "silent sockets held", func() bool { return ts.counter(t, "chat_handshakes") >= silent/2 })
	}
	start, ev0 := time.Now(), ts.counter(t, "chat_upgrade_failures_total", "reason", "handshake_evicted")
	t.Cleanup(func() {
		t.Logf("evictions per second: %.0f", (ts.counter(t, "chat_upgrade_failures_total", "reason", "handshake_evicted")-ev0)/time.Since(start).Seconds())
	})
	hc := &http.Client{Timeout: hangDetector, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 20 {
		resp, err := hc.Get("http://" + ts.Addr + "/healthz")
		if err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("probe %d: %d", i, resp.StatusCode)
		}
		c := dialURL(t, extendedDialer, "ws://"+ts.Addr+"/ws/"+fmt.Sprint("u", i), "u")
		if ev := c.next(); ev.Type != protocol.TypeWelcome {
			t.Fatalf("upgrade %d: first event %+v", i, ev)
		}
		c.conn.Close()
	}
	mu.Lock()
	held := len(open)
	mu.Unlock()
	t.Logf("silent sockets open at the end: %d; evicted: %v", held,
		ts.counter(t, "chat_upgrade_failures_total", "reason", "handshake_evicted"))
}

// TestTricklingHeadIsDroppedAtHandshakeTimeout sends a request head one
// byte per 100 ms: the server drops it at the handshake timeout, long
// before the head is complete.
func TestTricklingHeadIsDroppedAtHandshakeTimeout(t *testing.T) {
	ts := startServer(t, server.Config{HandshakeTimeout: 500 * time.Millisecond})
	conn, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "GET /ws/trickle HTTP/1.1\r\nHost: " + ts.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	var written atomic.Int64
	go func() {
		for i := range len(head) {
			if _, err := conn.Write([]byte{head[i]}); err != nil {
				return
			}
			written.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(time.Duration(len(head)) * 100 * time.Millisecond))
	n, err := conn.Read(make([]byte, 512))
	if n > 0 || err == nil {
		t.Fatalf("read %d bytes (%v): the trickling head was answered", n, err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection was never dropped (%d of %d bytes written)", written.Load(), len(head))
	}
	if w := written.Load(); w >= int64(len(head)) {
		t.Fatalf("dropped only after the whole head (%d bytes)", w)
	}
	ts.waitCounter(t, 1, "chat_upgrade_failures_total", "reason", "handshake_timeout")
}

// TestPageKeepAlivesAreCapped opens 40 idle keep-alive page connections to
// a server with 8 page slots: the page server never holds more than 8,
// /healthz on a new connection and upgrades are still answered, and a full
// server still answers its 503.
func TestPageKeepAlivesAreCapped(t *testing.T) {
	ts := startServer(t, server.Config{MaxPageConns: 8, MaxConnections: 1})
	for i := range 40 {
		conn, err := net.Dial("tcp", ts.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		resp := rawRequest(t, conn, bufio.NewReader(conn), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("keep-alive %d: %d (close %v)", i, resp.StatusCode, resp.Close)
		}
		if n := ts.counter(t, "chat_page_connections"); n > 8 {
			t.Fatalf("%v page connections after %d keep-alives, cap 8", n, i+1)
		}
	}
	hc := &http.Client{Timeout: hangDetector, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + ts.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	first := ts.dial(t, "first", "")
	first.expect(protocol.TypeConnection)
	_, resp, err = websocket.DefaultDialer.Dial("ws://"+ts.Addr+"/ws/second", nil)
	if err == nil || resp == nil {
		t.Fatalf("second upgrade over the cap: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.HasPrefix(string(body), "server full") {
		t.Fatalf("second upgrade: %d %q, want 503 server full", resp.StatusCode, body)
	}
	if n := ts.counter(t, "chat_page_connections"); n > 8 {
		t.Fatalf("%v page connections, cap 8", n)
	}
	first.roundTrip("still chatting")
}
