package series

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	rows := []Row{
		{T: 1, Phase: "ramp", Target: 10, Connected: 5, ConnectsPerSec: 5},
		{T: 2.5, Phase: "send", Target: 10, Connected: 10, SentPerSec: 3, ReceivedPerSec: 30, Holes: 1, LossPercent: 3.226, LatencyCount: 30, P50: 1.5, P99: 4.25, Max: 5, Errors: 2, Disconnects: 1, Reconnects: 1},
	}
	for _, name := range []string{"r.csv", "r.jsonl"} {
		path := filepath.Join(t.TempDir(), name)
		w, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Read(f, strings.HasSuffix(name, ".csv"))
		f.Close()
		if err != nil || len(got) != len(rows) {
			t.Fatalf("%s: %v, %v", name, got, err)
		}
		for i := range rows {
			if got[i] != rows[i] {
				t.Errorf("%s row %d: %+v, want %+v", name, i, got[i], rows[i])
			}
		}
	}
	if _, err := Read(strings.NewReader("t_s,phase\n1,send\n"), true); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("a CSV without the columns: %v", err)
	}
}
