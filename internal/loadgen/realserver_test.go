package loadgen_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// realServer is the chat server with its defaults on a loopback port.
type realServer struct {
	*servertest.Server
	URL string
}

func startRealServer(t *testing.T) *realServer {
	t.Helper()
	s := servertest.Start(t, "127.0.0.1:0", server.Config{})
	return &realServer{Server: s, URL: s.URL()}
}

// metric reads an unlabelled counter or gauge of the server, or the sum of
// a labelled family's series.
func (s *realServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	return s.Metric(t, name)
}

// TestRealServerEveryMessageAccountedFor runs 200 clients over 4 rooms
// against the real server: each room stays under the server's notice limit,
// so every join and leave is announced to every member, and every chat
// message must arrive exactly once, in order.
func TestRealServerEveryMessageAccountedFor(t *testing.T) {
	s := startRealServer(t)
	reg := prometheus.NewRegistry()
	r := run(t, loadgen.Config{URL: s.URL, Clients: 200, Rooms: 4, Senders: 8, Rate: 10, Duration: 2 * time.Second, Settle: 10 * time.Second, Registerer: reg})
	checkExact(t, r, 200)
	if r.Processes != 1 || r.Rooms != 4 || r.Senders != 8 {
		t.Errorf("processes %d rooms %d senders %d", r.Processes, r.Rooms, r.Senders)
	}
	// Every receiver of a room is present for the whole sending phase, so
	// each message reaches the 50 members of its room.
	if r.Expected != 50*r.Sent {
		t.Errorf("expected %d, want 50 members x %d sent", r.Expected, r.Sent)
	}
	if got := s.metric(t, "chat_messages_received_total"); got != float64(r.Sent) {
		t.Errorf("server received %v messages, loadgen sent %d", got, r.Sent)
	}
	if got := s.metric(t, "chat_messages_rejected_total"); got != 0 {
		t.Errorf("server rejected %v messages", got)
	}
	if got, err := gathered(reg, "loadgen_messages_received_total"); err != nil || got != float64(r.Received) {
		t.Errorf("loadgen_messages_received_total = %v (%v), want %d", got, err, r.Received)
	}
}

// TestRealServerLargeRoom puts 150 clients in one room, past the server's
// notice limit of 100: late joiners get presence events instead of join
// notices, which must not disturb the accounting.
func TestRealServerLargeRoom(t *testing.T) {
	s := startRealServer(t)
	r := run(t, loadgen.Config{URL: s.URL, Clients: 150, Senders: 3, Rate: 10, Duration: 2 * time.Second, Settle: 10 * time.Second})
	checkExact(t, r, 150)
	if r.Expected != 150*r.Sent {
		t.Errorf("expected %d, want 150 members x %d sent", r.Expected, r.Sent)
	}
	if got := s.metric(t, "chat_messages_received_total"); got != float64(r.Sent) {
		t.Errorf("server received %v messages, loadgen sent %d", got, r.Sent)
	}
}

// TestRealServerChurn makes clients leave and reconnect while others send:
// the server announces every join and leave, and expected deliveries follow
// membership, so nothing is reported lost.
func TestRealServerChurn(t *testing.T) {
	s := startRealServer(t)
	r := run(t, loadgen.Config{URL: s.URL, Clients: 60, Rooms: 2, Senders: 4, Rate: 15, Churn: 20, Duration: 2 * time.Second, Settle: 500 * time.Millisecond})
	if r.Reconnects == 0 {
		t.Fatal("churn made no reconnects")
	}
	if r.Connected != 60 || r.Sent == 0 || r.Expected == 0 || r.Lost != 0 || r.Duplicates != 0 || r.Reordered != 0 || len(r.Errors) != 0 {
		t.Fatalf("churn against the real server: %+v", r)
	}
	if got := s.metric(t, "chat_messages_received_total"); got != float64(r.Sent) {
		t.Errorf("server received %v messages, loadgen sent %d", got, r.Sent)
	}
}

// checkExact asserts that every client connected and every message was
// delivered exactly once, in order, to every receiver that had to get it.
func checkExact(t *testing.T, r loadgen.Result, clients int) {
	t.Helper()
	if r.Clients != clients || r.Connected != clients || r.ConnectFailures != 0 {
		t.Errorf("clients %d connected %d failures %d, want %d connected", r.Clients, r.Connected, r.ConnectFailures, clients)
	}
	if r.Sent == 0 || r.Expected == 0 || r.Received != r.Expected || r.Lost != 0 || r.Duplicates != 0 || r.Reordered != 0 || r.Extra != 0 || r.Foreign != 0 {
		t.Errorf("sent %d expected %d received %d lost %d duplicates %d reordered %d extra %d foreign %d",
			r.Sent, r.Expected, r.Received, r.Lost, r.Duplicates, r.Reordered, r.Extra, r.Foreign)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors %v", r.Errors)
	}
	if r.Latency.P50 <= 0 || r.Latency.P50 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max {
		t.Errorf("latency percentiles out of order: %+v", r.Latency)
	}
	if r.ConnectTime.P50 <= 0 || r.ConnectTime.P50 > r.ConnectTime.Max {
		t.Errorf("connect times out of order: %+v", r.ConnectTime)
	}
	if fails := r.Check(loadgen.Thresholds{MinConnected: clients}); len(fails) != 0 {
		t.Errorf("thresholds failed: %v", fails)
	}
}

// TestRealServerWithTokens runs clients against a server that requires
// tokens: each client mints its own from the secret file, and all connect.
func TestRealServerWithTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "chat.secret")
	if err := os.WriteFile(file, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.LoadVerifier(file, "")
	if err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, "127.0.0.1:0", server.Config{Auth: v})
	r := run(t, loadgen.Config{URL: s.URL(), Clients: 40, Rooms: 2, Senders: 2, Rate: 5, Duration: time.Second,
		Settle: 5 * time.Second, TokenSecretFile: file, Registerer: prometheus.NewRegistry()})
	checkExact(t, r, 40)
	if got := s.Metric(t, "chat_upgrade_failures_total"); got != 0 {
		t.Errorf("server refused %v upgrades", got)
	}
}
