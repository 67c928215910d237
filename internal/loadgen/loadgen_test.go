package loadgen

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// checkConsistent asserts the accounting identity of a Result.
func checkConsistent(t *testing.T, r Result) {
	t.Helper()
	if got := r.Expected - r.Lost + r.Duplicates + r.Extra; got != r.Received {
		t.Errorf("received %d != expected %d - lost %d + duplicates %d + extra %d", r.Received, r.Expected, r.Lost, r.Duplicates, r.Extra)
	}
	if r.Connected+r.ConnectFailures != r.Clients {
		t.Errorf("connected %d + failures %d != clients %d", r.Connected, r.ConnectFailures, r.Clients)
	}
}

func TestFakeServerAllDelivered(t *testing.T) {
	s := startFakeServer(t, nil)
	cfg := Config{URL: s.URL, Clients: 40, Rooms: 3, Senders: 6, Rate: 20, Duration: time.Second, Settle: 5 * time.Second, Logger: zaptest.NewLogger(t)}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	checkConsistent(t, r)
	if r.Connected != 40 || r.Lost != 0 || r.Expected == 0 || r.Received != r.Expected || r.Sent == 0 {
		t.Fatalf("want all 40 connected and every delivery received, got %+v", r)
	}
}
