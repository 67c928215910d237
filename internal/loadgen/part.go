package loadgen

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// part is what one process measured. Parts of worker processes travel to
// the parent as JSON and merge into one Result.
type part struct {
	Clients         int               `json:"clients"`
	Connected       int               `json:"connected"`
	ConnectFailures int               `json:"connect_failures"`
	Reconnects      int64             `json:"reconnects"`
	Disconnects     int64             `json:"disconnects"`
	Resumes         int64             `json:"resumes"`
	ResumeGaps      int64             `json:"resume_gaps"`
	Resent          int64             `json:"resent"`
	URLConnects     []int64           `json:"url_connects"` // by index in Config.URLs
	Sent            int64             `json:"sent"`
	Received        int64             `json:"received"`
	Duplicates      int64             `json:"duplicates"`
	Reordered       int64             `json:"reordered"`
	Extra           int64             `json:"extra"`
	Foreign         int64             `json:"foreign"`
	Errors          map[string]int64  `json:"errors"`
	Latency         *hist             `json:"latency"`
	Connect         *hist             `json:"connect"`
	Reconnect       *hist             `json:"reconnect"`
	Sends           map[int32][]int64 `json:"sends"` // send times by room
	Intervals       []interval        `json:"intervals"`
	StartNanos      int64             `json:"start"`
	RampEndNanos    int64             `json:"ramp_end"`
	SendEndNanos    int64             `json:"send_end"`
	EndNanos        int64             `json:"end"`
}

// hist is an HDR histogram that encodes to JSON in its compressed form.
type hist struct{ *hdrhistogram.Histogram }

func (h *hist) MarshalJSON() ([]byte, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode histogram: %w", err)
	}
	return json.Marshal(b)
}

func (h *hist) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	d, err := hdrhistogram.Decode(b)
	if err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	h.Histogram = d
	return nil
}

// part collects what the engine measured; call it once the run is done.
func (e *engine) part(rampEnd, sendEnd time.Time) part {
	p := part{
		Clients:         len(e.slots),
		Connected:       int(e.firstConnected.Load()),
		ConnectFailures: int(e.connectFailures.Load()),
		Reconnects:      e.reconnects.Load(),
		Disconnects:     e.disconnects.Load(),
		Resumes:         e.resumes.Load(),
		ResumeGaps:      e.resumeGaps.Load(),
		Resent:          e.resent.Load(),
		Sent:            e.sent.Load(),
		Errors:          e.errors.snapshot(),
		Latency:         &hist{newHist()},
		Connect:         &hist{e.connect},
		Reconnect:       &hist{e.reconnect},
		Sends:           e.roomSends(),
		Intervals:       e.intervals,
		StartNanos:      e.start.UnixNano(),
		RampEndNanos:    rampEnd.UnixNano(),
		SendEndNanos:    sendEnd.UnixNano(),
		EndNanos:        time.Now().UnixNano(),
	}
	for i := range e.urlConnects {
		p.URLConnects = append(p.URLConnects, e.urlConnects[i].Load())
	}
	for _, l := range e.loops {
		p.Received += l.received
		p.Duplicates += l.duplicates
		p.Reordered += l.reordered
		p.Extra += l.extra
		p.Foreign += l.foreign
		p.Latency.Merge(l.latency)
	}
	return p
}

// merge adds o to p.
func (p *part) merge(o part) {
	p.Clients += o.Clients
	p.Connected += o.Connected
	p.ConnectFailures += o.ConnectFailures
	p.Reconnects += o.Reconnects
	p.Disconnects += o.Disconnects
	p.Resumes += o.Resumes
	p.ResumeGaps += o.ResumeGaps
	p.Resent += o.Resent
	for i, n := range o.URLConnects {
		if i < len(p.URLConnects) {
			p.URLConnects[i] += n
		}
	}
	p.Sent += o.Sent
	p.Received += o.Received
	p.Duplicates += o.Duplicates
	p.Reordered += o.Reordered
	p.Extra += o.Extra
	p.Foreign += o.Foreign
	p.Errors = addCounts(p.Errors, o.Errors)
	p.Latency.Merge(o.Latency.Histogram)
	p.Connect.Merge(o.Connect.Histogram)
	p.Reconnect.Merge(o.Reconnect.Histogram)
	if p.Sends == nil {
		p.Sends = map[int32][]int64{}
	}
	for r, v := range o.Sends {
		p.Sends[r] = append(p.Sends[r], v...)
	}
	p.Intervals = append(p.Intervals, o.Intervals...)
	p.StartNanos = minNonZero(p.StartNanos, o.StartNanos)
	p.RampEndNanos = max(p.RampEndNanos, o.RampEndNanos)
	p.SendEndNanos = max(p.SendEndNanos, o.SendEndNanos)
	p.EndNanos = max(p.EndNanos, o.EndNanos)
}

func minNonZero(a, b int64) int64 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	return min(a, b)
}

// expectedIn counts the send times t in sorted with join < t <= leave.
func expectedIn(sorted []int64, join, leave int64) int64 {
	lo := sort.Search(len(sorted), func(i int) bool { return sorted[i] > join })
	hi := sort.Search(len(sorted), func(i int) bool { return sorted[i] > leave })
	return int64(max(hi-lo, 0))
}

// result turns the merged measurements into the summary.
func (p part) result(cfg Config, procs int) Result {
	for _, v := range p.Sends {
		slices.Sort(v)
	}
	r := Result{
		Clients:         cfg.Clients,
		Connected:       p.Connected,
		ConnectFailures: p.ConnectFailures,
		Reconnects:      p.Reconnects,
		Disconnects:     p.Disconnects,
		Resumes:         p.Resumes,
		ResumeGaps:      p.ResumeGaps,
		Resent:          p.Resent,
		ConnectsPerURL:  map[string]int64{},
		SentPerRoom:     map[string]int64{},
		Sent:            p.Sent,
		Received:        p.Received,
		Duplicates:      p.Duplicates,
		Reordered:       p.Reordered,
		Extra:           p.Extra,
		Foreign:         p.Foreign,
		Errors:          p.Errors,
		Latency:         latencyOf(p.Latency.Histogram),
		ConnectTime:     connectOf(p.Connect.Histogram),
		ReconnectTime:   connectOf(p.Reconnect.Histogram),
		Duration:        float64(p.EndNanos-p.StartNanos) / 1e9,
		RampSeconds:     float64(p.RampEndNanos-p.StartNanos) / 1e9,
		SendSeconds:     float64(p.SendEndNanos-p.RampEndNanos) / 1e9,
		Processes:       procs,
		Rooms:           cfg.Rooms,
		Senders:         cfg.Senders,
	}
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}
	for _, iv := range p.Intervals {
		exp := expectedIn(p.Sends[iv.Room], iv.Join, iv.Leave)
		r.Expected += exp
		if iv.Gaps > 0 {
			r.GapMissed += max(exp-iv.Got, 0)
		} else {
			r.Lost += max(exp-iv.Got, 0)
		}
	}
	for i, n := range p.URLConnects {
		r.ConnectsPerURL[cfg.URLs[i]] += n
	}
	for room, v := range p.Sends {
		r.SentPerRoom[roomName(cfg.Room, cfg.Rooms, int(room))] += int64(len(v))
	}
	if r.RampSeconds > 0 && len(cfg.Stages) == 0 {
		r.ConnectRate = float64(p.Connected) / r.RampSeconds
	}
	if r.SendSeconds > 0 {
		r.DeliveriesPerSecond = float64(p.Received) / r.SendSeconds
	}
	if r.Expected > 0 {
		r.LossPercent = 100 * float64(r.Lost) / float64(r.Expected)
	}
	r.Errors = maps.Clone(r.Errors)
	return r
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{P50: ms(50), P90: ms(90), P99: ms(99), P999: ms(99.9), Max: float64(h.Max()) / 1000, Count: h.TotalCount()}
}

func connectOf(h *hdrhistogram.Histogram) ConnectTime {
	if h.TotalCount() == 0 {
		return ConnectTime{}
	}
	return ConnectTime{
		P50:   float64(h.ValueAtQuantile(50)) / 1000,
		P99:   float64(h.ValueAtQuantile(99)) / 1000,
		Max:   float64(h.Max()) / 1000,
		Count: h.TotalCount(),
	}
}
