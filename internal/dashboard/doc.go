// Package dashboard builds and checks the chat platform's Grafana dashboard,
// grafana/dashboards/chat.json.
//
// [Chat] is the dashboard's source: an overview row of stats, then rows for
// traffic, latency, errors, the cluster, resources and the load generator, each panel a PromQL query filtered by
// the datasource, job and instance template variables. The committed JSON
// is its output; the package tests fail when the two differ and rewrite the
// file with -update:
//
//	go test ./internal/dashboard -run TestCommittedDashboard -update
//
// [Lint] applies the rules of grafana/dashboard-linter (templated data
// source, job and instance variables and matchers, $__rate_interval in
// every range, valid PromQL, a unit, title and description on every panel)
// and checks that every metric is part of the metrics contract:
//
//	d, err := dashboard.Parse(data)
//	if err != nil { ... }
//	for _, p := range dashboard.Lint(d) {
//		fmt.Println(p) // e.g. target-job-rule: panel "Goroutines": ...
//	}
//
// [Expand] substitutes template variables the way Grafana does before a
// query reaches Prometheus; the end-to-end test uses it to run every panel's
// query against a real Prometheus scraping a real server and load generator.
//
// The package's tests also check the alerting rules in grafana/alerts:
// promtool check rules, promtool's unit tests of every alert, the
// conventions (a for:, a runbook), and, in the end-to-end test, that the
// Prometheus configuration loads them and each evaluates without error.
package dashboard
