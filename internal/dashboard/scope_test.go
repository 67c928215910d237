package dashboard

import (
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestJobVariableIsScoped checks that the job variable lists only jobs
// exporting the platform's metrics: in a shared Prometheus, "All" must not
// pull in every job that has an up series.
func TestJobVariableIsScoped(t *testing.T) {
	v := variable(loadCommitted(t), "job")
	m := templateQuery.FindStringSubmatch(v.Query)
	if m == nil || m[1] != "label_values" {
		t.Fatalf("job variable query %q", v.Query)
	}
	sel, err := parser.NewParser(parser.Options{}).ParseMetricSelector(m[2][:len(m[2])-len(", job")])
	if err != nil {
		t.Fatalf("job variable selector: %v", err)
	}
	matches := func(name string) bool {
		for _, mt := range sel {
			if mt.Name == model.MetricNameLabel && !mt.Matches(name) {
				return false
			}
		}
		return true
	}
	for _, name := range []string{"chat_connections", "loadgen_clients_connected"} {
		if !matches(name) {
			t.Errorf("job variable %q misses jobs exporting %s", v.Query, name)
		}
	}
	for _, name := range []string{"up", "go_goroutines", "process_open_fds", "node_load1"} {
		if matches(name) {
			t.Errorf("job variable %q takes every job with %s", v.Query, name)
		}
	}
}

// TestRangeBaselineRule checks the one exception to
// target-rate-interval-rule: an aggregation over time may span $__range.
func TestRangeBaselineRule(t *testing.T) {
	for expr, ok := range map[string]bool{
		`min_over_time(go_goroutines{job=~"$job", instance=~"$instance"}[$__range])`: true,
		`rate(go_goroutines{job=~"$job", instance=~"$instance"}[$__range])`:          false,
		`min_over_time(go_goroutines{job=~"$job", instance=~"$instance"}[1h])`:       false,
	} {
		d := Chat()
		findPanel(d, "Goroutines").Targets[0].Expr = expr
		problems := Lint(d)
		if ok != (len(problems) == 0) {
			t.Errorf("%s: %v", expr, problems)
		}
		for _, p := range problems {
			if p.Rule != "target-rate-interval-rule" {
				t.Errorf("%s: %v", expr, p)
			}
		}
	}
}
