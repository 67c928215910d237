package outbound

import (
	"testing"
	"time"
)

// Coalescing follows the load: none under the write budget, however many
// connections there are; at the budget a connection waits conns/budget
// between writes, capped; and it stays on until the rate falls well under
// the budget.
func TestIntervalFollowsLoad(t *testing.T) {
	cfg := Config{WriteBudget: 100_000, MaxCoalesce: 50 * time.Millisecond}.withDefaults()
	off := Config{WriteBudget: 100_000, MaxCoalesce: -1}.withDefaults()
	for _, tc := range []struct {
		name   string
		cfg    Config
		rate   float64
		was    bool
		conns  int64
		want   time.Duration
		wantOn bool
	}{
		{"idle", cfg, 0, false, 1000, 0, false},
		{"under the budget, many connections", cfg, 80_000, false, 60_000, 0, false},
		{"at the budget", cfg, 96_000, false, 1000, 10 * time.Millisecond, true},
		{"over the budget, capped", cfg, 300_000, false, 10_000, 50 * time.Millisecond, true},
		{"on, still near the budget", cfg, 80_000, true, 1000, 10 * time.Millisecond, true},
		{"on, load gone", cfg, 60_000, true, 1000, 0, false},
		{"coalescing disabled", off, 300_000, true, 10_000, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, on := nextInterval(tc.rate, tc.was, tc.conns, tc.cfg)
			if got != tc.want || on != tc.wantOn {
				t.Errorf("nextInterval(%v, %v, %d) = %v, %v; want %v, %v", tc.rate, tc.was, tc.conns, got, on, tc.want, tc.wantOn)
			}
		})
	}
}
