package dashboard

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite grafana/dashboards/chat.json from Chat()")

// repoFile returns the path of a file given relative to the repository root.
func repoFile(rel string) string {
	return filepath.Join("..", "..", filepath.FromSlash(rel))
}

const committedPath = "grafana/dashboards/chat.json"

func loadCommitted(t *testing.T) *Dashboard {
	t.Helper()
	data, err := os.ReadFile(repoFile(committedPath))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", committedPath, err)
	}
	return d
}

func TestCommittedDashboardMatchesGenerator(t *testing.T) {
	want, err := Marshal(Chat())
	if err != nil {
		t.Fatal(err)
	}
	path := repoFile(committedPath)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from Chat(); run: go test ./internal/dashboard -run TestCommittedDashboard -update", committedPath)
	}
}

func TestCommittedDashboardPassesLint(t *testing.T) {
	d := loadCommitted(t)
	for _, p := range Lint(d) {
		t.Error(p)
	}
}

func TestCommittedDashboardContent(t *testing.T) {
	d := loadCommitted(t)
	var rows []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows = append(rows, p.Title)
		}
	}
	for _, want := range []string{"Traffic", "Latency", "Errors", "Resources"} {
		if !slices.Contains(rows, want) {
			t.Errorf("no row %q; rows: %q", want, rows)
		}
	}
	// Every contract metric is charted somewhere.
	var exprs strings.Builder
	for _, p := range d.Visualisations() {
		for _, tg := range p.Targets {
			exprs.WriteString(tg.Expr + "\n")
		}
	}
	for _, m := range ContractMetrics() {
		if !strings.Contains(exprs.String(), m) {
			t.Errorf("metric %s is on no panel", m)
		}
	}
	ids := map[int]string{}
	for _, p := range d.Panels {
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
	}
}

// TestLintRules breaks one rule at a time in a valid dashboard and checks
// that Lint reports exactly that rule, naming the panel or variable.
func TestLintRules(t *testing.T) {
	const panel = "Goroutines"
	tests := []struct {
		rule  string
		where string // panel title or variable name the problem must name
		edit  func(d *Dashboard)
	}{
		{"template-datasource-rule", "", func(d *Dashboard) {
			d.Templating.List = slices.DeleteFunc(d.Templating.List, func(v Variable) bool { return v.Type == "datasource" })
		}},
		{"template-datasource-rule", "datasource", func(d *Dashboard) { variable(d, "datasource").Query = "loki" }},
		{"template-job-rule", "job", func(d *Dashboard) { variable(d, "job").Multi = false }},
		{"template-job-rule", "job", func(d *Dashboard) { variable(d, "job").AllValue = ".*" }},
		{"template-job-rule", "job", func(d *Dashboard) { variable(d, "job").Datasource = &Datasource{Type: "prometheus", UID: "prometheus"} }},
		{"template-instance-rule", "instance", func(d *Dashboard) { variable(d, "instance").Label = "Host" }},
		{"template-instance-rule", "instance", func(d *Dashboard) { variable(d, "instance").Name = "host" }},
		{"template-label-promql-rule", "instance", func(d *Dashboard) {
			variable(d, "instance").Query = `label_values(up{job=~"$job", instance)`
		}},
		{"template-label-promql-rule", "job", func(d *Dashboard) { variable(d, "job").Query = `values(up, job)` }},
		{"template-on-time-change-reload-rule", "job", func(d *Dashboard) { variable(d, "job").Refresh = 1 }},
		{"panel-datasource-rule", panel, func(d *Dashboard) { findPanel(d, panel).Datasource = nil }},
		{"panel-datasource-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Datasource = &Datasource{Type: "prometheus", UID: "prometheus"}
		}},
		{"panel-title-description-rule", panel, func(d *Dashboard) { findPanel(d, panel).Description = "" }},
		{"panel-units-rule", panel, func(d *Dashboard) { findPanel(d, panel).FieldConfig.Defaults.Unit = "" }},
		{"panel-units-rule", panel, func(d *Dashboard) { findPanel(d, panel).FieldConfig.Defaults.Unit = "goroutines" }},
		{"panel-no-targets-rule", panel, func(d *Dashboard) { findPanel(d, panel).Targets = nil }},
		{"target-promql-rule", panel, func(d *Dashboard) { findPanel(d, panel).Targets[0].Expr = `go_goroutines{job=~"$job"` }},
		{"target-promql-rule", panel, func(d *Dashboard) { findPanel(d, panel).Targets[0].Expr = " " }},
		{"target-promql-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Expr = `rate(go_goroutines{job=~"$job", instance=~"$instance"}[$__unknown])`
		}},
		{"target-rate-interval-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Expr = `rate(go_goroutines{job=~"$job", instance=~"$instance"}[5m])`
		}},
		{"target-rate-interval-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Expr = `max_over_time(go_goroutines{job=~"$job", instance=~"$instance"}[1h:$__rate_interval])`
		}},
		{"target-job-rule", panel, func(d *Dashboard) { findPanel(d, panel).Targets[0].Expr = `go_goroutines{instance=~"$instance"}` }},
		{"target-job-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Expr = `go_goroutines{job="$job", instance=~"$instance"}`
		}},
		{"target-instance-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Expr = `go_goroutines{job=~"$job", instance=~"$instance"} / go_goroutines{job=~"$job"}`
		}},
		{"contract-metrics-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Expr = `chat_goroutines{job=~"$job", instance=~"$instance"}`
		}},
		{"contract-metrics-rule", panel, func(d *Dashboard) {
			findPanel(d, panel).Targets[0].Expr = `{__name__=~"go_.*", job=~"$job", instance=~"$instance"}`
		}},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			d := Chat()
			tc.edit(d)
			problems := Lint(d)
			if len(problems) == 0 {
				t.Fatalf("no problem reported, want %s", tc.rule)
			}
			for _, p := range problems {
				if p.Rule != tc.rule || (p.Panel != tc.where && p.Variable != tc.where) {
					t.Errorf("got %v, want only %s on %q", p, tc.rule, tc.where)
				}
			}
			if tc.where != "" && !strings.Contains(problems[0].String(), `"`+tc.where+`"`) {
				t.Errorf("%q does not name %q", problems[0], tc.where)
			}
		})
	}
}

func variable(d *Dashboard, name string) *Variable {
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			return &d.Templating.List[i]
		}
	}
	panic("no variable " + name)
}

func findPanel(d *Dashboard, title string) *Panel {
	for i := range d.Panels {
		if d.Panels[i].Title == title {
			return &d.Panels[i]
		}
	}
	panic("no panel " + title)
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"job": "chat", "instance": ".+", "__rate_interval": "1m"}
	tests := []struct{ in, want string }{
		{`rate(x{job=~"$job"}[$__rate_interval])`, `rate(x{job=~"chat"}[1m])`},
		{`x{job=~"${job}", instance=~"${instance:regex}"}`, `x{job=~"chat", instance=~".+"}`},
		{`x{job=~"[[job]]"}`, `x{job=~"chat"}`},
		{`x{job=~"$jobs"}`, `x{job=~"$jobs"}`},
		{`x{a="$unknown"}`, `x{a="$unknown"}`},
	}
	for _, tc := range tests {
		if got := Expand(tc.in, vars); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
