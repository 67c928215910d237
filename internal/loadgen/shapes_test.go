package loadgen_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/loadgen/chattest"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
	"github.com/chatplatform/chat/internal/testkit"
	"go.uber.org/zap/zaptest"
)

// checkNoLoss asserts that a run lost nothing, silently or across gaps,
// and saw no duplicate, reordering or error.
func checkNoLoss(t *testing.T, r loadgen.Result) {
	t.Helper()
	if r.Sent == 0 || r.Expected == 0 || r.Lost != 0 || r.GapMissed != 0 || r.Duplicates != 0 || r.Reordered != 0 || len(r.Errors) != 0 {
		t.Errorf("sent %d expected %d received %d lost %d gap_missed %d duplicates %d reordered %d errors %v",
			r.Sent, r.Expected, r.Received, r.Lost, r.GapMissed, r.Duplicates, r.Reordered, r.Errors)
	}
}

// runWithGaps runs cfg and checks the accounting identity of a run with
// gaps: received = expected - lost - gap_missed + duplicates + extra.
func runWithGaps(t *testing.T, cfg loadgen.Config) loadgen.Result {
	t.Helper()
	cfg.Logger = zaptest.NewLogger(t)
	r, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d expected %d received %d lost %d gap_missed %d dup %d extra %d resumes %d gaps %d",
		r.Sent, r.Expected, r.Received, r.Lost, r.GapMissed, r.Duplicates, r.Extra, r.Resumes, r.ResumeGaps)
	if got := r.Expected - r.Lost - r.GapMissed + r.Duplicates + r.Extra; got != r.Received {
		t.Errorf("received %d != expected - lost - gap_missed + duplicates + extra = %d", r.Received, got)
	}
	return r
}

// TestRealServerStages ramps 40 clients up over a second, holds them and
// ramps them down to none while senders send throughout: clients joining
// and leaving mid-send must not fake a loss, and none counts as lost
// connection.
func TestRealServerStages(t *testing.T) {
	s := startRealServer(t)
	r := run(t, loadgen.Config{URL: s.URL, Rooms: 2, Senders: 4, Rate: 10, Settle: 500 * time.Millisecond,
		Stages: []loadgen.Stage{{Duration: time.Second, Target: 40}, {Duration: time.Second, Target: 40}, {Duration: time.Second, Target: 0}}})
	checkNoLoss(t, r)
	if r.Clients != 40 || r.Connected != 40 || r.ConnectFailures != 0 || r.Disconnects != 0 {
		t.Errorf("clients %d connected %d failures %d disconnects %d, want 40 connected and none lost", r.Clients, r.Connected, r.ConnectFailures, r.Disconnects)
	}
	if got := s.metric(t, "chat_messages_received_total"); got != float64(r.Sent) {
		t.Errorf("server received %v messages, loadgen sent %d", got, r.Sent)
	}
	// The server takes the closes in its own time (it lingers on them).
	testkit.WaitFor(t, "the server to have no connection left after the ramp down to 0", func() bool {
		return s.Metric(t, "chat_connections") == 0
	})
	if len(r.Settings.Stages) != 3 || r.Settings.Stages[0] != "1s:40" || r.Settings.Duration != 3 {
		t.Errorf("settings %+v", r.Settings)
	}
}

// TestRealServerCutClientsResume has listeners drop their TCP connection
// without a close frame and come back with since: the server replays what
// they missed, so nothing is lost, duplicated or reordered, and the
// deliberate cuts are not lost connections.
func TestRealServerCutClientsResume(t *testing.T) {
	s := startRealServer(t)
	r := run(t, loadgen.Config{URL: s.URL, Clients: 30, Senders: 3, Rate: 10, Churn: 10, ChurnMode: loadgen.ChurnCut,
		Backoff: 50 * time.Millisecond, Duration: 2 * time.Second, Settle: 2 * time.Second})
	checkNoLoss(t, r)
	if r.Resumes == 0 || r.Reconnects != r.Resumes || r.ResumeGaps != 0 || r.Disconnects != 0 {
		t.Errorf("reconnects %d resumes %d gaps %d disconnects %d: want resumes without gaps and no lost connection", r.Reconnects, r.Resumes, r.ResumeGaps, r.Disconnects)
	}
	if r.ReconnectTime.Count != r.Resumes || r.ReconnectTime.P50 <= 0 || r.ReconnectTime.P50 > r.ReconnectTime.Max {
		t.Errorf("reconnect time %+v for %d resumes", r.ReconnectTime, r.Resumes)
	}
	if got := s.Metric(t, "chat_connections_closed_total", "reason", "peer_gone"); got < float64(r.Resumes) {
		t.Errorf("server saw %v connections end without a close frame, want at least the %d cuts", got, r.Resumes)
	}
}

// TestRealServerResumeGapReported cuts clients of a server that keeps one
// message per room: their resumes come back with gap:true, and what they
// missed is reported as gap_missed, not as silent loss.
func TestRealServerResumeGapReported(t *testing.T) {
	srv := servertest.Start(t, "127.0.0.1:0", server.Config{Rooms: rooms.Config{History: 1}})
	r := runWithGaps(t, loadgen.Config{URL: srv.URL(), Clients: 20, Senders: 3, Rate: 20, Churn: 5, ChurnMode: loadgen.ChurnCut,
		Backoff: 300 * time.Millisecond, Duration: 2 * time.Second, Settle: 2 * time.Second})
	if r.ResumeGaps == 0 || r.GapMissed == 0 {
		t.Fatalf("resumes %d, gaps %d, gap_missed %d: want gaps reported", r.Resumes, r.ResumeGaps, r.GapMissed)
	}
	if r.Lost != 0 || r.Duplicates != 0 {
		t.Errorf("lost %d duplicates %d: a reported gap is not silent loss", r.Lost, r.Duplicates)
	}
}

// TestRealServerRestartReconnects stops the server under connected
// clients and starts another on the same address: every client counts as
// a lost connection, reconnects with backoff and resumes.
func TestRealServerRestartReconnects(t *testing.T) {
	first := servertest.Start(t, "127.0.0.1:0", server.Config{})
	addr := first.Addr
	var once sync.Once
	connected := make(chan struct{})
	type outcome struct {
		r   loadgen.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: first.URL(), Clients: 20, Senders: loadgen.NoSenders, Reconnect: true, Backoff: 50 * time.Millisecond,
			Duration: 3 * time.Second, Logger: zaptest.NewLogger(t),
			Progress: func(sn loadgen.Snapshot) {
				if sn.Phase == loadgen.PhaseSend && sn.Connected == 20 {
					once.Do(func() { close(connected) })
				}
			},
		})
		done <- outcome{r, err}
	}()
	select {
	case <-connected:
	case o := <-done:
		t.Fatalf("the run ended before its 20 clients were connected while sending: %+v, %v", o.r, o.err)
	}
	first.Stop()
	second := servertest.Start(t, addr, server.Config{})
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	r := o.r
	checkConsistent(t, r)
	if r.Disconnects != 20 || r.Reconnects < 20 || r.Resumes < 20 || r.ReconnectTime.Count < 20 {
		t.Errorf("disconnects %d reconnects %d resumes %d reconnect times %d: want every client lost and back", r.Disconnects, r.Reconnects, r.Resumes, r.ReconnectTime.Count)
	}
	if got := second.Metric(t, "chat_connections_opened_total"); got < 20 {
		t.Errorf("the restarted server saw %v connections", got)
	}
	if r.Lost != 0 {
		t.Errorf("lost %d in a connect-only run", r.Lost)
	}
	// The restarted server's rooms have a new epoch: every resume sent
	// the old one back and must be told of the gap (DESIGN.md).
	if r.ResumeGaps != r.Resumes {
		t.Errorf("%d of %d resumes answered with a gap, want all (the epoch changed)", r.ResumeGaps, r.Resumes)
	}
	if fails := r.Check(loadgen.Thresholds{MaxDisconnects: 0}); len(fails) != 1 {
		t.Errorf("want the disconnect threshold to fail, got %v", fails)
	}
}

// TestSeveralURLs spreads clients over two servers and, when one stops,
// reconnects its clients to the other.
func TestSeveralURLs(t *testing.T) {
	a := servertest.Start(t, "127.0.0.1:0", server.Config{})
	b := servertest.Start(t, "127.0.0.1:0", server.Config{})
	var stop sync.Once
	r, err := loadgen.Run(context.Background(), loadgen.Config{
		URLs: []string{a.URL(), b.URL()}, Clients: 20, Senders: loadgen.NoSenders, Reconnect: true, Backoff: 50 * time.Millisecond,
		Duration: 3 * time.Second, Logger: zaptest.NewLogger(t),
		Progress: func(sn loadgen.Snapshot) {
			if sn.Phase == loadgen.PhaseSend && sn.Connected == 20 {
				stop.Do(func() { go a.Stop() })
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ConnectsPerURL[a.URL()] != 10 || r.ConnectsPerURL[b.URL()] != 20 {
		t.Errorf("connects per URL %v: want 10 on the first, 10 + the 10 that moved on the second", r.ConnectsPerURL)
	}
	if r.Disconnects != 10 || r.Resumes != 10 {
		t.Errorf("disconnects %d resumes %d, want 10 each", r.Disconnects, r.Resumes)
	}
	if len(r.Settings.URLs) != 2 {
		t.Errorf("settings URLs %v", r.Settings.URLs)
	}
}

// TestRoomRates runs an active, a quiet and an idle room in one run.
func TestRoomRates(t *testing.T) {
	s := startRealServer(t)
	r := run(t, loadgen.Config{URL: s.URL, Clients: 30, Rooms: 3, Senders: 6, RoomRates: []float64{10, 2, 0}, Duration: 2 * time.Second, Settle: 2 * time.Second})
	checkNoLoss(t, r)
	busy, quiet, idle := r.SentPerRoom["loadgen-0"], r.SentPerRoom["loadgen-1"], r.SentPerRoom["loadgen-2"]
	if busy <= quiet || quiet == 0 || idle != 0 {
		t.Errorf("sent per room %v: want loadgen-0 > loadgen-1 > 0 and nothing in loadgen-2", r.SentPerRoom)
	}
	if r.Expected != 10*r.Sent {
		t.Errorf("expected %d, want the 10 members of each room x %d sent", r.Expected, r.Sent)
	}
}

// TestWorkerProcessesFollowStages runs stages over three processes: each
// follows its share of the targets from a common start.
func TestWorkerProcessesFollowStages(t *testing.T) {
	s := chattest.Start(t, nil)
	r := run(t, loadgen.Config{URL: s.URL, Senders: 3, Rate: 10, Settle: time.Second, ClientsPerProcess: 10,
		Stages: []loadgen.Stage{{Duration: time.Second, Target: 24}, {Duration: time.Second, Target: 24}, {Duration: 500 * time.Millisecond, Target: 0}}})
	if r.Processes != 3 || r.Connected != 24 || r.Disconnects != 0 || r.Sent != s.Messages() {
		t.Errorf("processes %d connected %d disconnects %d sent %d (server got %d)", r.Processes, r.Connected, r.Disconnects, r.Sent, s.Messages())
	}
	checkNoLoss(t, r)
}
