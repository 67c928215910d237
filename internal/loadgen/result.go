package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Result is the summary of a run. Its JSON form is the -json file; the
// fields of DESIGN.md's load generator contract come first.
//
// The counts satisfy
//
//	received = expected - lost - gap_missed + duplicates + extra
//
// where extra counts first receipts outside a receiver's window and
// gap_missed the deliveries missing from sessions whose resume the server
// answered with gap:true (see doc.go and session).
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

	// Outcome is OutcomePass, OutcomeFail or OutcomeIncomplete; set by
	// Judge, empty before.
	Outcome string `json:"outcome"`
	// Settings are the run's configuration.
	Settings Settings `json:"settings"`
	// Thresholds are the checks Judge made, each with value, limit and
	// verdict.
	Thresholds []ThresholdResult `json:"thresholds"`

	Extra               int64            `json:"extra"`   // receipts outside the window
	Foreign             int64            `json:"foreign"` // messages not sent by this run
	Reconnects          int64            `json:"reconnects"`
	Disconnects         int64            `json:"disconnects"` // connections lost while their client meant to stay
	Resumes             int64            `json:"resumes"`     // reconnections that resumed a session
	ResumeGaps          int64            `json:"resume_gaps"` // of which the server answered gap:true
	GapMissed           int64            `json:"gap_missed"`  // deliveries missing from sessions with a gap
	Resent              int64            `json:"resent"`      // messages senders sent again after a reconnect (with -reconnect)
	ReconnectTime       ConnectTime      `json:"reconnect_ms"`
	ConnectsPerURL      map[string]int64 `json:"connects_per_url"`
	SentPerRoom         map[string]int64 `json:"sent_per_room"`
	LossPercent         float64          `json:"loss_percent"`
	ConnectRate         float64          `json:"connect_rate_per_s"`
	DeliveriesPerSecond float64          `json:"deliveries_per_s"`
	RampSeconds         float64          `json:"ramp_s"`
	SendSeconds         float64          `json:"send_s"`
	Processes           int              `json:"processes"`
	Rooms               int              `json:"rooms"`
	Senders             int              `json:"senders"`
	Interrupted         bool             `json:"interrupted"`
}

// Latency is end-to-end message latency in milliseconds. Count is the
// number of messages measured; with none, the percentiles are 0 and mean
// nothing.
type Latency struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

// ConnectTime is TCP connect plus WebSocket handshake (or, for
// reconnects, the time from losing a connection to the welcome of the one
// that resumes it), in milliseconds, over Count connections.
type ConnectTime struct {
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

// WriteSummary writes r as a table for people. Measurements without a
// sample print as n/a.
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
	row("clients", "%d connected of %d, %d failed, %d reconnects, %d disconnects", r.Connected, r.Clients, r.ConnectFailures, r.Reconnects, r.Disconnects)
	switch {
	case r.ConnectTime.Count == 0:
		row("connect", "n/a (no connection)")
	case len(r.Settings.Stages) > 0:
		row("connect", "p50 %.2fms  p99 %.2fms  max %.2fms  (%d connections over the stages %s)", r.ConnectTime.P50, r.ConnectTime.P99, r.ConnectTime.Max, r.ConnectTime.Count, strings.Join(r.Settings.Stages, ","))
	default:
		row("connect", "p50 %.2fms  p99 %.2fms  max %.2fms  (%.0f/s over %.1fs)", r.ConnectTime.P50, r.ConnectTime.P99, r.ConnectTime.Max, r.ConnectRate, r.RampSeconds)
	}
	if len(r.ConnectsPerURL) > 1 {
		var parts []string
		for _, u := range slices.Sorted(maps.Keys(r.ConnectsPerURL)) {
			parts = append(parts, fmt.Sprintf("%s %d", u, r.ConnectsPerURL[u]))
		}
		row("per URL", "%s", strings.Join(parts, ", "))
	}
	if r.Reconnects > 0 || r.Resumes > 0 {
		t := r.ReconnectTime
		if t.Count == 0 {
			row("reconnect", "%d reconnects, none resumed", r.Reconnects)
		} else {
			row("reconnect", "p50 %.2fms  p99 %.2fms  max %.2fms  (loss to welcome; %d resumed, %d answered gap; %d messages resent)", t.P50, t.P99, t.Max, r.Resumes, r.ResumeGaps, r.Resent)
		}
	}
	row("messages", "%d sent by %s in %s over %.1fs", r.Sent, plural(r.Senders, "sender"), plural(r.Rooms, "room"), r.SendSeconds)
	row("deliveries", "%d expected, %d received (%.0f/s)", r.Expected, r.Received, r.DeliveriesPerSecond)
	row("lost", "%d (%.4f%%)", r.Lost, r.LossPercent)
	if r.ResumeGaps > 0 || r.GapMissed > 0 {
		row("gap", "%d missed in sessions whose resume the server answered gap:true (%d resumes); not counted as lost", r.GapMissed, r.ResumeGaps)
	}
	row("duplicates", "%d", r.Duplicates)
	row("reordered", "%d", r.Reordered)
	row("outside window", "%d received, not expected (joined or left around the send)", r.Extra)
	if r.Foreign > 0 {
		row("foreign", "%d messages from others in the room", r.Foreign)
	}
	if l := r.Latency; l.Count == 0 {
		row("latency", "n/a (no message received)")
	} else {
		row("latency", "p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms", l.P50, l.P90, l.P99, l.P999, l.Max)
	}
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
