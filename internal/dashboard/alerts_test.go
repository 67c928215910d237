package dashboard

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEveryAlertHasForRunbookAndTests checks the rule file's conventions
// that promtool does not: every alert waits with a for:, carries a
// runbook annotation, uses only metrics of the contract, and is tested by
// the unit-test file, and the Prometheus configuration loads the file.
func TestEveryAlertHasForRunbookAndTests(t *testing.T) {
	rules, err := os.ReadFile(repoFile(rulesPath))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(repoFile(rulesTestPath))
	if err != nil {
		t.Fatal(err)
	}
	// Split the file at each "- alert:" line; each part is one rule.
	parts := regexp.MustCompile(`(?m)^\s*- alert: (\w+)\s*$`).FindAllSubmatchIndex(rules, -1)
	if len(parts) == 0 {
		t.Fatal("no alerts found")
	}
	metric := regexp.MustCompile(`\b(?:chat|loadgen|process)_[a-z_]+\b`)
	for i, p := range parts {
		end := len(rules)
		if i+1 < len(parts) {
			end = parts[i+1][0]
		}
		name, body := string(rules[p[2]:p[3]]), string(rules[p[0]:end])
		for _, want := range []string{"\n        for: ", "\n          runbook: ", "\n          summary: ", "\n          severity: "} {
			if !strings.Contains(body, want) {
				t.Errorf("alert %s lacks %q", name, strings.TrimSpace(want))
			}
		}
		expr := body[strings.Index(body, "expr:"):strings.Index(body, "for:")]
		for _, m := range metric.FindAllString(expr, -1) {
			if !metricAllowed(m) {
				t.Errorf("alert %s uses %s, not in the metrics contract", name, m)
			}
		}
		// Tested firing (an exp_alerts list with labels) and not firing
		// (an empty exp_alerts) at least once each.
		blocks := regexp.MustCompile(`alertname: `+name+`\n\s+exp_alerts:(.*)`).FindAllStringSubmatch(string(tests), -1)
		fires := slices.ContainsFunc(blocks, func(m []string) bool { return strings.TrimSpace(m[1]) == "" })
		quiet := slices.ContainsFunc(blocks, func(m []string) bool { return strings.TrimSpace(m[1]) == "[]" })
		if !fires || !quiet {
			t.Errorf("alert %s: tested firing %v, not firing %v; want both in %s", name, fires, quiet, rulesTestPath)
		}
	}
	cfg, err := os.ReadFile(repoFile("grafana/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "rule_files:\n  - \"alerts/chat.rules.yml\"") {
		t.Errorf("grafana/prometheus.yml does not load %s", rulesPath)
	}
}
