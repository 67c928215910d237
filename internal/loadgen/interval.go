package loadgen

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Interval is what happened between two snapshots: the rates, latencies
// and loss of that stretch only, for the live line and the -out file.
// Latencies are 0 with LatencyCount 0 when nothing arrived in it.
type Interval struct {
	Elapsed        time.Duration // end of the interval, since the start of the run
	Phase          Phase
	Target         int64 // clients the load shape wants connected
	Connected      int64 // connections open at the end
	ConnectsPerSec float64
	Disconnects    int64 // connections lost in the interval
	Reconnects     int64 // reconnections in the interval
	SentPerSec     float64
	ReceivedPerSec float64
	// Holes are the sequence numbers receivers saw skipped in the
	// interval (net of late arrivals that filled earlier ones), and
	// LossPercent is Holes against Holes plus receipts.
	Holes        int64
	LossPercent  float64
	LatencyCount int64
	P50, P99     time.Duration // end to end, of the messages received in the interval
	Max          time.Duration
	Errors       int64 // errors in the interval
}

// NewInterval compares prev with cur, a later snapshot of the same run
// (prev may be the zero Snapshot for the first interval).
func NewInterval(prev, cur Snapshot) Interval {
	iv := Interval{
		Elapsed:     cur.Elapsed,
		Phase:       cur.Phase,
		Target:      cur.Target,
		Connected:   cur.Connected,
		Disconnects: cur.Disconnects - prev.Disconnects,
		Reconnects:  cur.Reconnects - prev.Reconnects,
		Holes:       cur.Holes - prev.Holes,
		Errors:      cur.ErrorCount() - prev.ErrorCount(),
	}
	if dt := (cur.Elapsed - prev.Elapsed).Seconds(); dt > 0 {
		iv.ConnectsPerSec = float64(cur.Connects-prev.Connects) / dt
		iv.SentPerSec = float64(cur.Sent-prev.Sent) / dt
		iv.ReceivedPerSec = float64(cur.Received-prev.Received) / dt
	}
	if got := cur.Received - prev.Received; iv.Holes > 0 {
		iv.LossPercent = 100 * float64(iv.Holes) / float64(iv.Holes+max(got, 0))
	}
	if h := histDelta(prev.Latency, cur.Latency); h != nil && h.TotalCount() > 0 {
		iv.LatencyCount = h.TotalCount()
		iv.P50 = time.Duration(h.ValueAtQuantile(50)) * time.Microsecond
		iv.P99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		iv.Max = time.Duration(h.Max()) * time.Microsecond
	}
	return iv
}

// histDelta returns the observations of cur that prev does not hold; cur
// must be a later state of the same cumulative histogram. A nil prev is
// an empty one.
func histDelta(prev, cur *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if cur == nil {
		return nil
	}
	if prev == nil {
		return cur
	}
	a, b := prev.Export(), cur.Export()
	if len(a.Counts) != len(b.Counts) {
		return cur
	}
	for i := range b.Counts {
		b.Counts[i] = max(b.Counts[i]-a.Counts[i], 0)
	}
	return hdrhistogram.Import(b)
}
