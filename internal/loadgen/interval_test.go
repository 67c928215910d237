package loadgen

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestNewIntervalIsOnlyTheInterval(t *testing.T) {
	prev := Snapshot{Elapsed: time.Second, Latency: newHist(), Connects: 10, Sent: 100, Received: 1000, Holes: 2, Disconnects: 1, Errors: map[string]int64{"reset": 1}}
	for range 1000 {
		recordMicros(prev.Latency, 500*time.Millisecond) // a slow start
	}
	cur := prev
	cur.Latency = hdrhistogram.Import(prev.Latency.Export()) // cumulative, as snapshots are
	cur.Elapsed, cur.Connects, cur.Sent, cur.Received, cur.Holes, cur.Disconnects = 3*time.Second, 30, 300, 1990, 12, 4
	cur.Errors = map[string]int64{"reset": 3, "refused": 1}
	for range 990 {
		recordMicros(cur.Latency, 2*time.Millisecond)
	}
	iv := NewInterval(prev, cur)
	if iv.LatencyCount != 990 || iv.P99 > 3*time.Millisecond || iv.P50 < time.Millisecond {
		t.Errorf("interval latency count %d p50 %v p99 %v, want 990 at about 2ms (not the cumulative 500ms)", iv.LatencyCount, iv.P50, iv.P99)
	}
	if iv.ConnectsPerSec != 10 || iv.SentPerSec != 100 || iv.ReceivedPerSec != 495 {
		t.Errorf("rates %v %v %v", iv.ConnectsPerSec, iv.SentPerSec, iv.ReceivedPerSec)
	}
	if iv.Holes != 10 || iv.LossPercent != 1 || iv.Disconnects != 3 || iv.Errors != 3 {
		t.Errorf("holes %d loss %v%% disconnects %d errors %d", iv.Holes, iv.LossPercent, iv.Disconnects, iv.Errors)
	}
	empty := NewInterval(cur, cur)
	if empty.LatencyCount != 0 || empty.P99 != 0 || empty.LossPercent != 0 {
		t.Errorf("an interval without receipts: %+v", empty)
	}
}
