package dashboard

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Problem is one broken lint rule: which rule, where, and what is wrong.
type Problem struct {
	Rule     string // rule name, as in grafana/dashboard-linter, e.g. "target-job-rule"
	Panel    string // panel title, or "" for a dashboard-level problem
	Variable string // template variable name, for template rules
	Message  string
}

// String formats p as `rule: panel "title": message`.
func (p Problem) String() string {
	where := "dashboard"
	switch {
	case p.Panel != "":
		where = fmt.Sprintf("panel %q", p.Panel)
	case p.Variable != "":
		where = fmt.Sprintf("variable %q", p.Variable)
	}
	return fmt.Sprintf("%s: %s: %s", p.Rule, where, p.Message)
}

// Placeholder values substituted for the variables before a query is parsed.
// The rate interval gets an unusual duration so that a range written by hand
// can be told apart from one that uses $__rate_interval.
const (
	lintRateInterval = 7*time.Hour + 13*time.Minute + 17*time.Second
	lintRange        = 3*time.Hour + 7*time.Minute + 11*time.Second
	lintJob          = "lint_job_placeholder"
	lintInstance     = "lint_instance_placeholder"
)

// lintVars are the substitutions used while linting: Grafana's global
// interval variables and the dashboard's own job and instance variables.
var lintVars = map[string]string{
	"__rate_interval": "7h13m17s", // lintRateInterval
	"__interval":      "1m",
	"__range":         "3h7m11s", // lintRange
	"job":             lintJob,
	"instance":        lintInstance,
}

// queryPanelTypes are the panel types that show query results and so need
// targets, a unit, a title and a description.
var queryPanelTypes = []string{"stat", "singlestat", "graph", "table", "timeseries", "gauge", "bargauge", "heatmap"}

// validUnits are Grafana unit ids (packages/grafana-data valueFormats)
// in the categories a service dashboard uses: misc, data, data rate, time,
// throughput.
var validUnits = []string{
	"none", "string", "short", "percent", "percentunit", "sci", "locale",
	"bytes", "decbytes", "bits", "decbits", "kbytes", "deckbytes", "mbytes", "decmbytes", "gbytes", "decgbytes",
	"pps", "binBps", "Bps", "binbps", "bps", "KiBs", "KBs", "MiBs", "MBs", "GiBs", "GBs",
	"hertz", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms", "clockms", "clocks",
	"cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm",
	"bool", "bool_yes_no", "bool_on_off",
}

// templateQuery splits a Prometheus variable query into its function and
// argument, e.g. label_values(up{job=~"$job"}, instance).
var templateQuery = regexp.MustCompile(`^\s*(label_names|label_values|metrics|query_result)\((.*)\)\s*$`)

// labelName is the syntax of a Prometheus label name.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Lint checks d against the rules of grafana/dashboard-linter (where an
// aggregation over time, min_over_time and the like, may also span
// $__range, the dashboard's time range, for a baseline), plus
// contract-metrics-rule: every metric a query reads is one of
// [ContractMetrics] (histogram and summary series included). It returns
// every problem found, in dashboard order; none means d passes.
func Lint(d *Dashboard) []Problem {
	l := &linter{d: d}
	l.templates()
	for _, p := range d.Visualisations() {
		l.panel(p)
	}
	return l.problems
}

// linter accumulates problems while the rules run.
type linter struct {
	d        *Dashboard
	problems []Problem
}

func (l *linter) add(rule, panel, variable, format string, args ...any) {
	l.problems = append(l.problems, Problem{Rule: rule, Panel: panel, Variable: variable, Message: fmt.Sprintf(format, args...)})
}

// templates runs the template-* rules.
func (l *linter) templates() {
	var dsVars []Variable
	for _, v := range l.d.Templating.List {
		if v.Type == "datasource" {
			dsVars = append(dsVars, v)
		}
	}
	const dsRule = "template-datasource-rule"
	switch len(dsVars) {
	case 0:
		l.add(dsRule, "", "", "no data source variable")
	case 1:
		v := dsVars[0]
		if v.Query != "prometheus" {
			l.add(dsRule, "", v.Name, "data source variable selects %q data sources, want prometheus", v.Query)
		}
		if v.Name != "datasource" {
			l.add(dsRule, "", v.Name, "data source variable should be named datasource")
		}
		if v.Label != "Data source" {
			l.add(dsRule, "", v.Name, "data source variable labelled %q, want \"Data source\"", v.Label)
		}
	default:
		l.add(dsRule, "", "", "%d data source variables, want one", len(dsVars))
	}

	for _, want := range []struct{ rule, name, label string }{
		{"template-job-rule", "job", "Job"},
		{"template-instance-rule", "instance", "Instance"},
	} {
		i := slices.IndexFunc(l.d.Templating.List, func(v Variable) bool { return v.Name == want.name })
		if i < 0 {
			l.add(want.rule, "", want.name, "missing the %s variable", want.name)
			continue
		}
		v := l.d.Templating.List[i]
		if v.Datasource == nil || !isTemplatedDatasource(v.Datasource.UID) {
			l.add(want.rule, "", v.Name, "should query data source ${datasource}, uses %s", describeDatasource(v.Datasource))
		}
		if v.Type != "query" {
			l.add(want.rule, "", v.Name, "should be a Prometheus query variable, is %q", v.Type)
		}
		if v.Label != want.label {
			l.add(want.rule, "", v.Name, "labelled %q, want %q", v.Label, want.label)
		}
		if !v.Multi {
			l.add(want.rule, "", v.Name, "should allow several values (multi)")
		}
		if !v.IncludeAll || v.AllValue != ".+" {
			l.add(want.rule, "", v.Name, "should offer All with allValue \".+\", has includeAll=%v allValue %q", v.IncludeAll, v.AllValue)
		}
	}

	for _, v := range l.d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if err := checkTemplateQuery(v.Query); err != nil {
			l.add("template-label-promql-rule", "", v.Name, "query %q: %v", v.Query, err)
		}
		if v.Refresh != 2 {
			l.add("template-on-time-change-reload-rule", "", v.Name, "refresh is %d, want 2 (on time range change)", v.Refresh)
		}
	}
}

// checkTemplateQuery reports why a Prometheus variable query is invalid.
func checkTemplateQuery(q string) error {
	m := templateQuery.FindStringSubmatch(q)
	if m == nil {
		return fmt.Errorf("not one of label_names(), label_values(), metrics(), query_result()")
	}
	fn, arg := m[1], strings.TrimSpace(m[2])
	switch fn {
	case "label_values":
		selector, label := "", arg
		if i := strings.LastIndex(arg, ","); i >= 0 {
			selector, label = strings.TrimSpace(arg[:i]), strings.TrimSpace(arg[i+1:])
		}
		if !labelName.MatchString(label) {
			return fmt.Errorf("invalid label name %q", label)
		}
		if selector != "" {
			if _, err := parseQuery(selector); err != nil {
				return err
			}
		}
	case "query_result":
		if _, err := parseQuery(arg); err != nil {
			return err
		}
	case "metrics":
		if _, err := regexp.Compile(arg); err != nil {
			return fmt.Errorf("invalid regexp: %w", err)
		}
	}
	return nil
}

// parseQuery parses expr as PromQL after substituting the lint placeholders.
func parseQuery(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(Expand(expr, lintVars))
}

func isTemplatedDatasource(uid string) bool {
	return uid == "$datasource" || uid == "${datasource}"
}

func describeDatasource(ds *Datasource) string {
	if ds == nil {
		return "the dashboard default"
	}
	return fmt.Sprintf("%q", ds.UID)
}

// panel runs the panel-* and target-* rules on p.
func (l *linter) panel(p Panel) {
	if !slices.Contains(queryPanelTypes, p.Type) {
		return
	}
	title := p.Title
	if title == "" {
		title = fmt.Sprintf("#%d", p.ID)
	}
	if p.Title == "" || p.Description == "" {
		l.add("panel-title-description-rule", title, "", "missing title or description")
	}
	if p.Datasource == nil || !isTemplatedDatasource(p.Datasource.UID) {
		l.add("panel-datasource-rule", title, "", "does not use the templated data source, uses %s", describeDatasource(p.Datasource))
	}
	unit := ""
	if p.FieldConfig != nil {
		unit = p.FieldConfig.Defaults.Unit
	}
	if !slices.Contains(validUnits, unit) {
		l.add("panel-units-rule", title, "", "no or invalid unit %q", unit)
	}
	if len(p.Targets) == 0 {
		l.add("panel-no-targets-rule", title, "", "has no targets")
	}
	for _, t := range p.Targets {
		l.target(title, t)
	}
}

// target runs the target-* rules on t, a target of the panel titled title.
func (l *linter) target(title string, t Target) {
	ref := "target " + t.RefID
	if t.Datasource != nil && !isTemplatedDatasource(t.Datasource.UID) {
		l.add("panel-datasource-rule", title, "", "%s does not use the templated data source, uses %q", ref, t.Datasource.UID)
	}
	if strings.TrimSpace(t.Expr) == "" {
		l.add("target-promql-rule", title, "", "%s has an empty query", ref)
		return
	}
	expr, err := parseQuery(t.Expr)
	if err != nil {
		l.add("target-promql-rule", title, "", "%s: invalid PromQL %q: %v", ref, t.Expr, err)
		return
	}

	var rangeErrs []string
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		switch n := node.(type) {
		case *parser.MatrixSelector:
			if n.Range == lintRange && overTime(path) {
				break // a baseline over the dashboard's time range
			}
			if n.Range != lintRateInterval {
				rangeErrs = append(rangeErrs, fmt.Sprintf("range [%s] on %s", n.Range, n.VectorSelector))
			}
		case *parser.SubqueryExpr:
			if n.Range != lintRateInterval {
				rangeErrs = append(rangeErrs, fmt.Sprintf("subquery range [%s]", n.Range))
			}
		}
		return nil
	})
	for _, e := range rangeErrs {
		l.add("target-rate-interval-rule", title, "", "%s: %s should be [$__rate_interval]", ref, e)
	}

	for _, m := range []struct{ rule, label, value string }{
		{"target-job-rule", "job", lintJob},
		{"target-instance-rule", "instance", lintInstance},
	} {
		for _, selector := range parser.ExtractSelectors(expr) {
			if !hasMatcher(selector, m.label, m.value) {
				l.add(m.rule, title, "", "%s: selector %s lacks %s=~\"$%s\"", ref, formatSelector(selector), m.label, m.label)
			}
		}
	}

	for _, selector := range parser.ExtractSelectors(expr) {
		for _, mt := range selector {
			if mt.Name != model.MetricNameLabel {
				continue
			}
			if mt.Type != labels.MatchEqual {
				l.add("contract-metrics-rule", title, "", "%s: metric name must be given literally, not %s", ref, mt)
			} else if !metricAllowed(mt.Value) {
				l.add("contract-metrics-rule", title, "", "%s: metric %s is not in the metrics contract", ref, mt.Value)
			}
		}
	}
}

// overTime reports whether the node at the end of path is the argument
// of an aggregation over time (min_over_time, max_over_time, ...).
func overTime(path []parser.Node) bool {
	if len(path) == 0 {
		return false
	}
	call, ok := path[len(path)-1].(*parser.Call)
	return ok && strings.HasSuffix(call.Func.Name, "_over_time")
}

// hasMatcher reports whether selector contains the matcher name=~"value".
func hasMatcher(selector []*labels.Matcher, name, value string) bool {
	return slices.ContainsFunc(selector, func(m *labels.Matcher) bool {
		return m.Name == name && m.Type == labels.MatchRegexp && m.Value == value
	})
}

func formatSelector(selector []*labels.Matcher) string {
	parts := make([]string, len(selector))
	for i, m := range selector {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// metricAllowed reports whether name is in the contract, directly or as a
// histogram or summary series (_bucket, _sum, _count) of a contract name.
func metricAllowed(name string) bool {
	allowed := ContractMetrics()
	if slices.Contains(allowed, name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(allowed, base) {
			return true
		}
	}
	return false
}
