package loadgen

import (
	"maps"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: microseconds from 1 µs to 5 minutes, 3 significant
// digits. Latency and connect time share it.
const (
	histMinMicros = 1
	histMaxMicros = int64(5 * time.Minute / time.Microsecond)
	histDigits    = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histDigits)
}

// recordMicros records d (clamped into the histogram's range) in h.
func recordMicros(h *hdrhistogram.Histogram, d time.Duration) {
	us := int64(d / time.Microsecond)
	_ = h.RecordValue(min(max(us, histMinMicros), histMaxMicros))
}

// Snapshot is the state of a run so far, as the progress line and the
// metrics show it. Counters are totals since the start.
type Snapshot struct {
	Elapsed         time.Duration
	Phase           Phase
	Clients         int   // clients to simulate
	Target          int64 // clients the load shape wants connected now
	Connected       int64 // connections open now
	Connects        int64 // connections established, reconnects included
	ConnectFailures int64
	Reconnects      int64
	Disconnects     int64 // connections lost while their client meant to stay
	Sent            int64
	Received        int64
	// Holes counts the sequence numbers receivers saw skipped in a
	// sender's messages and not filled since: the loss receivers can tell
	// on the spot, before the exact count of Result.Lost at the end.
	Holes   int64
	Lost    int64 // known once the run has settled; 0 before
	Errors  map[string]int64
	Latency *hdrhistogram.Histogram // end to end, microseconds
	Connect *hdrhistogram.Histogram // dial plus handshake, microseconds
}

// ErrorCount is the sum of s.Errors.
func (s Snapshot) ErrorCount() int64 {
	var n int64
	for _, v := range s.Errors {
		n += v
	}
	return n
}

// addCounts adds the counts of src to dst, which it makes if nil, and
// returns dst.
func addCounts(dst, src map[string]int64) map[string]int64 {
	if dst == nil {
		dst = map[string]int64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// add merges o into s, for the snapshots of worker processes.
func (s *Snapshot) add(o Snapshot) {
	s.Target += o.Target
	s.Connected += o.Connected
	s.Connects += o.Connects
	s.ConnectFailures += o.ConnectFailures
	s.Reconnects += o.Reconnects
	s.Disconnects += o.Disconnects
	s.Sent += o.Sent
	s.Received += o.Received
	s.Holes += o.Holes
	s.Lost += o.Lost
	s.Errors = addCounts(s.Errors, o.Errors)
	if o.Latency != nil {
		s.Latency.Merge(o.Latency)
	}
	if o.Connect != nil {
		s.Connect.Merge(o.Connect)
	}
}

// Phase is the stage a run is in.
type Phase string

// The phases of a run, in order.
const (
	PhaseRamp    Phase = "ramp"
	PhaseSend    Phase = "send"
	PhaseSettle  Phase = "settle"
	PhaseClosing Phase = "closing"
	PhaseDone    Phase = "done"
)

// errorCounts counts errors by kind. Kinds are a bounded set of short
// strings (see the Err constants and the closed_/handshake_ families).
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int64 // guarded by mu
}

func (e *errorCounts) add(kind string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[kind]++
	e.mu.Unlock()
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.m)
}
