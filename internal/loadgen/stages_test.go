package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	got, err := ParseStages("30s:1000, 1m:1000,20s:0")
	want := []Stage{{30 * time.Second, 1000}, {time.Minute, 1000}, {20 * time.Second, 0}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParseStages = %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stage %d = %v, want %v", i, got[i], want[i])
		}
	}
	for in, msg := range map[string]string{
		"30:100":     `add one, e.g. "30s"`,
		"30s":        "DURATION:TARGET",
		"30s:-1":     "0 or more",
		"30s:x":      "not a number",
		"soon:10":    "not a duration",
		"1s:5,,2s:0": "stage 2",
	} {
		if _, err := ParseStages(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseStages(%q) = %v, want %q", in, err, msg)
		}
	}
}

func TestTargetAt(t *testing.T) {
	st := []Stage{{10 * time.Second, 100}, {10 * time.Second, 100}, {5 * time.Second, 0}}
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{{0, 0}, {5 * time.Second, 50}, {10 * time.Second, 100}, {15 * time.Second, 100}, {22500 * time.Millisecond, 50}, {time.Minute, 0}} {
		if got := targetAt(st, tc.at); got != tc.want {
			t.Errorf("targetAt(%v) = %d, want %d", tc.at, got, tc.want)
		}
	}
	if d := stagesDuration(st); d != 25*time.Second {
		t.Errorf("stagesDuration = %v", d)
	}
}

func TestLocalShare(t *testing.T) {
	// 10 clients over 3 processes: 0,3,6,9 | 1,4,7 | 2,5,8.
	for _, tc := range []struct{ n, proc, procs, want int }{
		{10, 0, 3, 4}, {10, 1, 3, 3}, {10, 2, 3, 3}, {1, 1, 3, 0}, {2, 1, 3, 1}, {0, 0, 1, 0}, {7, 0, 1, 7},
	} {
		if got := localShare(tc.n, tc.proc, tc.procs); got != tc.want {
			t.Errorf("localShare(%d, %d, %d) = %d, want %d", tc.n, tc.proc, tc.procs, got, tc.want)
		}
	}
}
