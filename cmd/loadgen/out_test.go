package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatplatform/chat/internal/loadgen/chattest"
	"github.com/chatplatform/chat/internal/loadgen/series"
)

// TestIntervalFileRows runs with -out as CSV and as JSON lines and reads
// the rows back: one per progress interval, in time order, their
// latencies those of the interval and their counts adding up to at most
// the summary's.
func TestIntervalFileRows(t *testing.T) {
	s := chattest.Start(t, nil)
	dir := t.TempDir()
	for _, name := range []string{"rows.csv", "rows.jsonl"} {
		t.Run(name, func(t *testing.T) {
			out, js := filepath.Join(dir, name), filepath.Join(dir, name+".json")
			code, _, _ := runCmd(t, "-url", s.URL, "-clients", "10", "-senders", "2", "-rate", "20", "-duration", "3s", "-settle", "2s", "-out", out, "-json", js)
			if code != exitPass {
				t.Fatalf("exit %d", code)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := series.Read(f, strings.HasSuffix(name, ".csv"))
			if err != nil {
				t.Fatal(err)
			}
			r, _ := readResult(t, js)
			if len(rows) < 3 {
				t.Fatalf("%d rows for a run of over 3s", len(rows))
			}
			var measured int64
			for i, row := range rows {
				if i > 0 && row.T <= rows[i-1].T {
					t.Errorf("row %d at %.3fs after %.3fs", i, row.T, rows[i-1].T)
				}
				if row.Phase == "" || row.Connected > 10 || row.Target != 10 {
					t.Errorf("row %d: %+v", i, row)
				}
				if row.LatencyCount > 0 && (row.P50 <= 0 || row.P50 > row.P99 || row.P99 > row.Max) {
					t.Errorf("row %d latencies out of order: %+v", i, row)
				}
				measured += row.LatencyCount
			}
			if measured == 0 || measured > r.Latency.Count {
				t.Errorf("rows measured %d latencies, the run %d", measured, r.Latency.Count)
			}
			if !slices.ContainsFunc(rows, func(row series.Row) bool { return row.Phase == "send" && row.SentPerSec > 0 && row.ReceivedPerSec > 0 }) {
				t.Errorf("no send row with traffic: %+v", rows)
			}
		})
	}
}
