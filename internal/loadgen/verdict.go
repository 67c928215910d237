package loadgen

import (
	"fmt"
	"io"
	"time"
)

// Outcomes of a run, the values of Result.Outcome.
const (
	OutcomePass       = "pass"       // every threshold held
	OutcomeFail       = "fail"       // a threshold failed
	OutcomeIncomplete = "incomplete" // the run was interrupted: no verdict
)

// Thresholds decide whether a run passes. Zero values disable MaxP99 and
// MinConnected; MaxLossPercent and MaxDisconnects are checked at zero (no
// loss, no lost connection allowed), set them negative to disable them.
type Thresholds struct {
	// MaxLossPercent is the highest acceptable lost/expected, in percent.
	MaxLossPercent float64
	// MaxP99 is the highest acceptable p99 end-to-end latency.
	MaxP99 time.Duration
	// MinConnected is the lowest acceptable number of clients connected.
	MinConnected int
	// MaxDisconnects is the most connections the run may lose while their
	// clients meant to stay (server closes, resets, hang-ups), counted over
	// the whole run.
	MaxDisconnects int64
}

// ThresholdResult is one threshold as judged: the flag that set it, the
// measured value, the limit and the verdict ("pass", "fail", or "off" when
// the threshold is disabled).
type ThresholdResult struct {
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	Limit   float64 `json:"limit"`
	Unit    string  `json:"unit"`
	Verdict string  `json:"verdict"`
	// Reason says in words why a threshold failed.
	Reason string `json:"reason,omitempty"`
}

// Pass reports whether the threshold held or was not checked.
func (t ThresholdResult) Pass() bool { return t.Verdict != OutcomeFail }

// evaluate judges every threshold of t against r.
func (r Result) evaluate(t Thresholds) []ThresholdResult {
	judge := func(name, unit string, value, limit float64, off, fail bool, reason string) ThresholdResult {
		tr := ThresholdResult{Name: name, Value: value, Limit: limit, Unit: unit, Verdict: OutcomePass}
		switch {
		case off:
			tr.Verdict = "off"
		case fail:
			tr.Verdict, tr.Reason = OutcomeFail, reason
		}
		return tr
	}
	limitP99 := float64(t.MaxP99) / float64(time.Millisecond)
	p99Reason := fmt.Sprintf("p99 latency %.3fms is over -max-p99 %v", r.Latency.P99, t.MaxP99)
	if r.Latency.Count == 0 {
		p99Reason = fmt.Sprintf("no message was received, so p99 latency cannot be under -max-p99 %v", t.MaxP99)
	}
	return []ThresholdResult{
		judge("max-loss", "percent", r.LossPercent, t.MaxLossPercent, t.MaxLossPercent < 0, r.LossPercent > t.MaxLossPercent,
			fmt.Sprintf("loss %.4f%% (%d of %d) is over -max-loss %g%%", r.LossPercent, r.Lost, r.Expected, t.MaxLossPercent)),
		judge("max-p99", "ms", r.Latency.P99, limitP99, t.MaxP99 <= 0, r.Latency.Count == 0 || r.Latency.P99 > limitP99, p99Reason),
		judge("min-connected", "clients", float64(r.Connected), float64(t.MinConnected), t.MinConnected <= 0, r.Connected < t.MinConnected,
			fmt.Sprintf("connected %d is under -min-connected %d", r.Connected, t.MinConnected)),
		judge("max-disconnects", "connections", float64(r.Disconnects), float64(t.MaxDisconnects), t.MaxDisconnects < 0, r.Disconnects > t.MaxDisconnects,
			fmt.Sprintf("%d connections were lost during the run (server closes, resets, hang-ups), over -max-disconnects %d", r.Disconnects, t.MaxDisconnects)),
	}
}

// Check returns one line per threshold r fails; none means r passes.
func (r Result) Check(t Thresholds) []string {
	var fails []string
	for _, tr := range r.evaluate(t) {
		if !tr.Pass() {
			fails = append(fails, tr.Reason)
		}
	}
	return fails
}

// Judge records in r every threshold of t with its verdict, and the
// outcome: incomplete when the run was interrupted (whatever the
// thresholds say: what did not run cannot pass), fail when a threshold
// failed, pass otherwise.
func (r *Result) Judge(t Thresholds) {
	r.Thresholds = r.evaluate(t)
	r.Outcome = OutcomePass
	for _, tr := range r.Thresholds {
		if !tr.Pass() {
			r.Outcome = OutcomeFail
		}
	}
	if r.Interrupted {
		r.Outcome = OutcomeIncomplete
	}
}

// WriteVerdict writes the judged thresholds and the outcome for people:
// a FAIL line per failed threshold, then PASS, FAIL or INCOMPLETE.
func (r Result) WriteVerdict(w io.Writer) error {
	fmt.Fprintln(w, "thresholds")
	for _, tr := range r.Thresholds {
		if tr.Verdict == "off" {
			fmt.Fprintf(w, "  -%-16s off\n", tr.Name)
			continue
		}
		fmt.Fprintf(w, "  -%-16s %-5s %s, limit %s\n", tr.Name, tr.Verdict, formatValue(tr.Value, tr.Unit), formatValue(tr.Limit, tr.Unit))
	}
	failed := false
	for _, tr := range r.Thresholds {
		if !tr.Pass() {
			failed = true
			fmt.Fprintf(w, "FAIL %s\n", tr.Reason)
		}
	}
	var err error
	switch {
	case r.Outcome == OutcomeIncomplete:
		_, err = fmt.Fprintln(w, "INCOMPLETE the run was interrupted before it ended: no verdict")
	case failed:
	default:
		_, err = fmt.Fprintln(w, "PASS every threshold holds")
	}
	return err
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "percent":
		return fmt.Sprintf("%.4g%%", v)
	case "ms":
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}
