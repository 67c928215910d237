package server_test

import (
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/server"
)

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSlowConsumerIsClosedWhileOthersGetEverything(t *testing.T) {
	const maxQueue = 64 << 10
	ts := startServer(t, server.Config{RateLimit: 1e6, RateBurst: 1e6,
		Outbound: outbound.Config{MaxQueueBytes: maxQueue, WriteTimeout: time.Second}})
	fast := ts.dial(t, "fast", "")
	fast.expect(protocol.TypeConnection)

	// The slow client upgrades, then never reads again.
	conn, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, _, err := ws.DefaultDialer.Upgrade(conn, mustURL(t, "ws://"+ts.Addr+"/ws/slow")); err != nil {
		t.Fatal(err)
	}
	fast.expect(protocol.TypeConnection)

	sender := ts.dial(t, "sender", "")
	sender.expect(protocol.TypeConnection)
	fast.expect(protocol.TypeConnection)

	// 6 MB: more than the slow client's socket buffers (up to 4 MiB here)
	// and its queue hold. The sender keeps a window of 8 messages ahead of
	// the slower of the two readers, so that only the silent client falls
	// behind.
	const count, window = 1500, 8
	msg := strings.Repeat("m", 4000)
	var received [2]atomic.Int64
	readers := make(chan error, 2)
	for i, c := range []*client{fast, sender} {
		go func() {
			for received[i].Load() < count {
				ev := c.next()
				if ev.Type == protocol.TypeMessage {
					received[i].Add(1)
				}
			}
			readers <- nil
		}()
	}
	var maxQueued int64
	for i := range int64(count) {
		for i-min(received[0].Load(), received[1].Load()) >= window {
			if q := int64(ts.QueuedBytesForTest()); q > maxQueued {
				maxQueued = q
			}
			time.Sleep(50 * time.Microsecond)
		}
		sender.send(msg)
	}
	<-readers
	<-readers
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "slow_consumer")
	// Three clients, each bounded by maxQueue (plus one frame in flight).
	if bound := int64(3 * (maxQueue + 4100)); maxQueued > bound {
		t.Fatalf("up to %d bytes were queued, more than %d", maxQueued, bound)
	}
	t.Logf("largest queue total seen: %d bytes", maxQueued)
}
