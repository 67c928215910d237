package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/loadgen/series"
)

// progress prints one line per snapshot with what happened since the one
// before (rates, p50 and p99 of the messages received in that interval,
// loss seen as sequence holes): rewritten in place on a terminal, one line
// each otherwise. With an -out file it also writes each interval as a row.
type progress struct {
	// Static after construction.
	w    io.Writer
	tty  bool
	rows *series.Writer // nil without -out

	mu      sync.Mutex
	printed bool             // guarded by mu
	prev    loadgen.Snapshot // guarded by mu; the snapshot before
}

func newProgress(w io.Writer, rows *series.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w), rows: rows}
}

func (p *progress) print(s loadgen.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	iv := loadgen.NewInterval(p.prev, s)
	p.prev = s
	if p.rows != nil {
		_ = p.rows.Write(series.RowOf(iv))
	}
	lat := "p50 -  p99 -"
	if iv.LatencyCount > 0 {
		lat = fmt.Sprintf("p50 %s  p99 %s", ms(iv.P50), ms(iv.P99))
	}
	target := ""
	if s.Target != int64(s.Clients) {
		target = fmt.Sprintf(" (target %d)", s.Target)
	}
	line := fmt.Sprintf("%6.1fs %-7s connected %d/%d%s  out %.0f/s  in %.0f/s  %s  loss %.2f%%  disconnects %d  errors %d",
		s.Elapsed.Seconds(), s.Phase, s.Connected, s.Clients, target, iv.SentPerSec, iv.ReceivedPerSec, lat, iv.LossPercent, s.Disconnects, s.ErrorCount())
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\033[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.printed = true
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// end finishes the in-place line so that what follows starts on its own.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
	}
}
