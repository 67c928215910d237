package outbound

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/testkit"
)

func newTestPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	cfg.Metrics = metrics.New(prometheus.NewRegistry())
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// recorder is an Owner that counts what it is told and tears down as the
// server's session would.
type recorder struct {
	conn                net.Conn
	raw                 syscall.RawConn
	out                 *Conn
	closeWritten, fails atomic.Int32
}

func (r *recorder) Descriptor() syscall.RawConn { return r.raw }
func (r *recorder) CloseWritten()               { r.closeWritten.Add(1); r.out.Finish(); r.conn.Close() }
func (r *recorder) WriteFailed()                { r.fails.Add(1); r.out.Finish(); r.conn.Close() }

// pair returns an outbound conn on the server side of a loopback TCP
// connection and the client side, whose receive buffer is small so that
// the server's writes back up quickly when it does not read.
func pair(t *testing.T, p *Pool) (*Conn, *recorder, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	client, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server.(*net.TCPConn).SetWriteBuffer(4096)
	raw, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{conn: server, raw: raw}
	r.out = p.NewConn(r)
	t.Cleanup(func() { client.Close(); server.Close() })
	return r.out, r, client
}

func textFrame(b byte, n int) []byte { return protocol.Frame(ws.OpText, bytes.Repeat([]byte{b}, n)) }

// A peer that stops reading fills its socket: the rest waits for
// writability without holding a writer, and every frame arrives whole and
// in order once it reads again.
func TestPartialWritesResumeOnWritability(t *testing.T) {
	p := newTestPool(t, Config{Writers: 1, MaxQueueBytes: 8 << 20, MaxCoalesce: -1})
	c, _, client := pair(t, p)
	c.Start()
	const frames, size = 400, 3000 // 1.2 MB, far more than both socket buffers
	for i := range frames {
		if !c.Send(textFrame(byte('a'+i%26), size), p.Clock()) {
			t.Fatalf("frame %d refused", i)
		}
	}
	// The single writer is free while c waits: another connection is
	// written meanwhile.
	other, _, otherClient := pair(t, p)
	other.Start()
	other.Send(textFrame('z', 10), p.Clock())
	otherClient.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, err := testkit.ReadFrame(otherClient); err != nil || string(f.Payload) != "zzzzzzzzzz" {
		t.Fatalf("the other connection got %q, %v while the first was backed up", f.Payload, err)
	}
	if !c.everArmed.Load() {
		t.Fatal("the backed-up connection never waited for writability")
	}
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range frames {
		f, err := testkit.ReadFrame(client)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(f.Payload) != size || f.Payload[0] != byte('a'+i%26) || f.Payload[size-1] != byte('a'+i%26) {
			t.Fatalf("frame %d: %d bytes starting %q", i, len(f.Payload), f.Payload[:1])
		}
	}
	testkit.WaitFor(t, "queue drained", func() bool { return c.Queued() == 0 })
}

// Over the queue bound a connection is closed as a slow consumer: its
// queue is dropped, but the greeting it has not been written yet is kept,
// so the client gets its handshake answer before the 4001.
func TestSlowConsumerKeepsGreetingAndGets4001(t *testing.T) {
	p := newTestPool(t, Config{MaxQueueBytes: 4096})
	c, r, client := pair(t, p)
	greeting := []byte("HTTP/1.1 101 Switching Protocols\r\n\r\n")
	c.SendGreeting(greeting)
	for i := 0; c.Send(textFrame('x', 1000), p.Clock()); i++ {
		if i > 10 {
			t.Fatal("the bound never closed the connection")
		}
	}
	if !c.Closing() || c.Reason() != protocol.CloseSlowConsumer.Label {
		t.Fatalf("closing %v with %q, want slow consumer", c.Closing(), c.Reason())
	}
	c.Start()
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(greeting))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, greeting) {
		t.Fatalf("got %q, %v; want the greeting first", got, err)
	}
	f, err := testkit.ReadFrame(client)
	if err != nil || f.Header.OpCode != ws.OpClose {
		t.Fatalf("got %v, %v; want the close frame right after the greeting", f.Header.OpCode, err)
	}
	if code, _ := ws.ParseCloseFrameData(f.Payload); code != protocol.CodeSlowConsumer {
		t.Fatalf("close %d, want %d", code, protocol.CodeSlowConsumer)
	}
	testkit.WaitFor(t, "owner told", func() bool { return r.closeWritten.Load() == 1 })
}

// A connection with bytes queued that the kernel does not take counts as
// stalled after the write timeout, and only then.
func TestStalledAfterWriteTimeout(t *testing.T) {
	p := newTestPool(t, Config{WriteTimeout: 50 * time.Millisecond, MaxQueueBytes: 8 << 20})
	c, _, _ := pair(t, p)
	c.Start()
	for range 1000 {
		c.Send(textFrame('s', 3000), p.Clock())
	}
	if c.Stalled(p.Clock()) {
		t.Fatal("stalled before the write timeout passed")
	}
	testkit.WaitFor(t, "stalled", func() bool { return c.Stalled(p.Clock()) })
}

// A failed write is reported to the owner once.
func TestWriteFailureIsReported(t *testing.T) {
	p := newTestPool(t, Config{})
	c, r, client := pair(t, p)
	c.Start()
	client.(*net.TCPConn).SetLinger(0)
	client.Close() // a reset: writes fail
	testkit.WaitFor(t, "write failure reported", func() bool {
		c.Send(textFrame('f', 100), p.Clock())
		return r.fails.Load() == 1
	})
	if c.Reason() != protocol.CloseWriteError.Label {
		t.Fatalf("reason %q, want write error", c.Reason())
	}
	if got := testutil.ToFloat64(p.cfg.Metrics.Panics); got != 0 {
		t.Fatalf("%v panics", got)
	}
}

// The write that takes the greeting (the connect burst: handshake answer,
// welcome, join notice) releases the queue's arrays, so that a connection
// that then only listens holds none; a later frame is still delivered.
func TestGreetingWriteReleasesBuffers(t *testing.T) {
	p := newTestPool(t, Config{Writers: 1, MaxCoalesce: -1})
	c, _, client := pair(t, p)
	c.SendGreeting([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
	for i := range 3 {
		c.Send(textFrame(byte('a'+i), 10), p.Clock())
	}
	c.Start()
	held := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.scheduled || c.queue != nil || c.pending != nil
	}
	testkit.WaitFor(t, "the burst written and its buffers released", func() bool { return !held() })
	c.Send(textFrame('z', 10), p.Clock())
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := make([]byte, len("HTTP/1.1 101 Switching Protocols\r\n\r\n"))
	if _, err := io.ReadFull(client, head); err != nil {
		t.Fatal(err)
	}
	for _, want := range []byte("abcz") {
		f, err := testkit.ReadFrame(client)
		if err != nil || len(f.Payload) != 10 || f.Payload[0] != want {
			t.Fatalf("got %q, %v; want ten %q", f.Payload, err, want)
		}
	}
}
