package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the summary of a run. Its JSON form is the -json file; the
// fields of DESIGN.md's load generator contract come first.
//
// The counts satisfy received = expected - lost + duplicates + extra, where
// extra counts first receipts outside a receiver's window (see doc.go).
type Result struct {
	Clients         int              `json:"clients"`
	Connected       int              `json:"connected"`
	ConnectFailures int              `json:"connect_failures"`
	Sent            int64            `json:"sent"`
	Expected        int64            `json:"expected"`
	Received        int64            `json:"received"`
	Lost            int64            `json:"lost"`
	Duplicates      int64            `json:"duplicates"`
	Reordered       int64            `json:"reordered"`
	Latency         Latency          `json:"latency_ms"`
	ConnectTime     ConnectTime      `json:"connect_ms"`
	Errors          map[string]int64 `json:"errors"`
	Duration        float64          `json:"duration_s"`

	Extra               int64   `json:"extra"`   // receipts outside the window
	Foreign             int64   `json:"foreign"` // messages not sent by this run
	Reconnects          int64   `json:"reconnects"`
	LossPercent         float64 `json:"loss_percent"`
	ConnectRate         float64 `json:"connect_rate_per_s"`
	DeliveriesPerSecond float64 `json:"deliveries_per_s"`
	RampSeconds         float64 `json:"ramp_s"`
	SendSeconds         float64 `json:"send_s"`
	Processes           int     `json:"processes"`
	Rooms               int     `json:"rooms"`
	Senders             int     `json:"senders"`
	Interrupted         bool    `json:"interrupted"`
}

// Latency is end-to-end message latency in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// ConnectTime is TCP connect plus WebSocket handshake, in milliseconds.
type ConnectTime struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Thresholds decide whether a run passes. Zero values disable a check,
// except MaxLossPercent, where 0 means no loss at all is allowed; set it
// negative to disable it.
type Thresholds struct {
	// MaxLossPercent is the highest acceptable lost/expected, in percent.
	MaxLossPercent float64
	// MaxP99 is the highest acceptable p99 end-to-end latency.
	MaxP99 time.Duration
	// MinConnected is the lowest acceptable number of clients connected.
	MinConnected int
}

// Check returns one line per threshold r fails; none means r passes.
func (r Result) Check(t Thresholds) []string {
	var fails []string
	if t.MaxLossPercent >= 0 && r.LossPercent > t.MaxLossPercent {
		fails = append(fails, fmt.Sprintf("loss %.4f%% (%d of %d) is over -max-loss %g%%", r.LossPercent, r.Lost, r.Expected, t.MaxLossPercent))
	}
	if t.MaxP99 > 0 && r.Latency.P99 > float64(t.MaxP99)/float64(time.Millisecond) {
		fails = append(fails, fmt.Sprintf("p99 latency %.3fms is over -max-p99 %v", r.Latency.P99, t.MaxP99))
	}
	if r.Connected < t.MinConnected {
		fails = append(fails, fmt.Sprintf("connected %d is under -min-connected %d", r.Connected, t.MinConnected))
	}
	return fails
}

// WriteSummary writes r as a table for people.
func (r Result) WriteSummary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, args...)...)
	}
	fmt.Fprintf(tw, "loadgen summary")
	if r.Interrupted {
		fmt.Fprintf(tw, " (interrupted)")
	}
	fmt.Fprintln(tw)
	row("clients", "%d connected of %d, %d failed, %d reconnects", r.Connected, r.Clients, r.ConnectFailures, r.Reconnects)
	row("connect", "p50 %.2fms  p99 %.2fms  max %.2fms  (%.0f/s over %.1fs)", r.ConnectTime.P50, r.ConnectTime.P99, r.ConnectTime.Max, r.ConnectRate, r.RampSeconds)
	row("messages", "%d sent by %s in %s over %.1fs", r.Sent, plural(r.Senders, "sender"), plural(r.Rooms, "room"), r.SendSeconds)
	row("deliveries", "%d expected, %d received (%.0f/s)", r.Expected, r.Received, r.DeliveriesPerSecond)
	row("lost", "%d (%.4f%%)", r.Lost, r.LossPercent)
	row("duplicates", "%d", r.Duplicates)
	row("reordered", "%d", r.Reordered)
	row("outside window", "%d received, not expected (joined or left around the send)", r.Extra)
	if r.Foreign > 0 {
		row("foreign", "%d messages from others in the room", r.Foreign)
	}
	row("latency", "p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max)
	if len(r.Errors) == 0 {
		row("errors", "none")
	} else {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.Errors[k]))
		}
		row("errors", "%s", strings.Join(parts, " "))
	}
	row("duration", "%.1fs (%s)", r.Duration, plural(r.Processes, "process"))
	return tw.Flush()
}

// plural formats n things, e.g. "1 room", "4 rooms", "2 processes".
func plural(n int, thing string) string {
	switch {
	case n == 1:
		return "1 " + thing
	case strings.HasSuffix(thing, "s"):
		return fmt.Sprintf("%d %ses", n, thing)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
