package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/testkit"
)

// e2eVars are the variable values the end-to-end test queries with: the
// dashboard's defaults (All jobs, all instances) and the $__rate_interval
// Grafana would pick for a short range with a one-second scrape interval,
// widened to cover the whole test.
var e2eVars = map[string]string{
	"__rate_interval": "1m",
	"__range":         "5m", // longer than the test: the baseline is before it
	"job":             ".+", // All: the variables' allValue
	"instance":        ".+",
}

// The server admits maxConnections; the load generator opens
// loadgenRefused more, which the server refuses.
const (
	maxConnections = 20
	loadgenRefused = 10 // at -ramp 5/s their refusals span about 2s, across several 1s scrapes
)

// TestPrometheusAnswersEveryPanel runs a real Prometheus scraping a real chat
// server and a real load generator with the committed scrape configuration,
// drives traffic and some rejected input through the server, then requires
// every query of every panel of the committed dashboard, variables
// substituted, to return at least one series with a value.
func TestPrometheusAnswersEveryPanel(t *testing.T) {
	promBin := testkit.Need(t, "/usr/bin/prometheus", "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	serverAddr := startChatServer(t, maxConnections)
	lg := newLoad(t)
	loadgenAddr := lg.addr
	prom := startPrometheus(t, promBin, scrapeConfig(t, serverAddr, loadgenAddr))

	// Both targets are scraped under the job names the dashboard lists.
	err := poll(30*time.Second, 250*time.Millisecond, func() error {
		for _, job := range []string{"chat", "loadgen"} {
			s, err := prom.query(ctx, `up{job="`+job+`"} == 1`)
			if err != nil {
				return err
			}
			if len(s) == 0 {
				return fmt.Errorf("job %s is not up", job)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scrape targets: %v", err)
	}
	// Only now, so that the counters rise between two scrapes: refused
	// input, then more load generator clients than the server admits, so
	// that some are refused with 503 (server_full).
	provokeErrors(t, serverAddr)
	lg.run(ctx, serverAddr, maxConnections+loadgenRefused)

	d := loadCommitted(t)
	// The job variable lists jobs by the platform's own metrics, which the
	// load generator exports once its run has started: poll.
	if err := poll(30*time.Second, 250*time.Millisecond, func() error {
		return checkVariables(ctx, prom, d, map[string][]string{
			"job":      {"chat", "loadgen"},
			"instance": {serverAddr, loadgenAddr},
		})
	}); err != nil {
		t.Error(err)
	}

	// The refused input must show up under its reason on the error panels.
	type positive struct{ label, value string }
	wantPositive := map[string][]positive{
		"Rejected messages by reason":         {{"reason", "too_big"}},
		"Upgrade failures by reason":          {{"reason", "bad_client_id"}, {"reason", "server_full"}},
		"Connects and disconnects per second": {{"reason", "too_big"}},
		"Load generator errors by kind":       {{"kind", "handshake_503"}},
	}
	type check struct {
		panel, ref, expr string
		positive         []positive
	}
	var checks []check
	for _, p := range d.Visualisations() {
		for _, tg := range p.Targets {
			c := check{panel: p.Title, ref: tg.RefID, expr: Expand(tg.Expr, e2eVars)}
			if w, ok := wantPositive[p.Title]; ok && strings.Contains(tg.Expr, "by ("+w[0].label+")") {
				c.positive = w
				delete(wantPositive, p.Title)
			}
			checks = append(checks, c)
		}
	}
	for title := range wantPositive {
		t.Errorf("no panel %q with a query by reason or kind", title)
	}
	// Poll until every query has data: rates need two scrapes, and the
	// histograms need observations inside the window.
	var failing []string
	err = poll(45*time.Second, 500*time.Millisecond, func() error {
		failing = failing[:0]
		for _, c := range checks {
			samples, err := prom.query(ctx, c.expr)
			switch {
			case err != nil:
				failing = append(failing, fmt.Sprintf("panel %q target %s: %v\n\t%s", c.panel, c.ref, err, c.expr))
			case !slices.ContainsFunc(samples, func(s sample) bool { return !math.IsNaN(s.value()) }):
				failing = append(failing, fmt.Sprintf("panel %q target %s: no series with a value (%d series)\n\t%s", c.panel, c.ref, len(samples), c.expr))
			default:
				for _, w := range c.positive {
					if !slices.ContainsFunc(samples, func(s sample) bool { return s.Metric[w.label] == w.value && s.value() > 0 }) {
						failing = append(failing, fmt.Sprintf("panel %q target %s: no positive series with %s=%q: %v\n\t%s",
							c.panel, c.ref, w.label, w.value, samples, c.expr))
					}
				}
			}
		}
		if len(failing) > 0 {
			return fmt.Errorf("%d of %d queries without the data expected", len(failing), len(checks))
		}
		return nil
	})
	if err != nil {
		t.Errorf("%v:\n%s", err, strings.Join(failing, "\n"))
	}
	t.Logf("%d queries of %d panels answered", len(checks), len(d.Visualisations()))

	// The configuration loads the alerting rules, and each evaluates
	// without error against the real series.
	err = poll(30*time.Second, 500*time.Millisecond, func() error {
		rules, err := prom.rules(ctx)
		if err != nil {
			return err
		}
		if len(rules) == 0 {
			return errors.New("no rules loaded")
		}
		for _, r := range rules {
			if r.Health != "ok" {
				return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("alerting rules: %v", err)
	}

	t.Run("promtool check metrics", func(t *testing.T) {
		promtool := testkit.Need(t, "/usr/bin/promtool", "prometheus")
		for _, addr := range []string{serverAddr, loadgenAddr} {
			checkMetrics(t, promtool, "http://"+addr+"/metrics")
		}
	})
}

// checkVariables evaluates each query variable as Grafana would, with the
// other variables at their defaults, and reports the values of want that
// are missing.
func checkVariables(ctx context.Context, prom *prometheusServer, d *Dashboard, want map[string][]string) error {
	var errs []error
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := templateQuery.FindStringSubmatch(v.Query)
		if m == nil || m[1] != "label_values" {
			errs = append(errs, fmt.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Query))
			continue
		}
		i := strings.LastIndex(m[2], ",")
		selector, label := Expand(strings.TrimSpace(m[2][:i]), e2eVars), strings.TrimSpace(m[2][i+1:])
		values, err := prom.labelValues(ctx, label, selector)
		if err != nil {
			errs = append(errs, fmt.Errorf("variable %s: %v", v.Name, err))
			continue
		}
		for _, w := range want[v.Name] {
			if !slices.Contains(values, w) {
				errs = append(errs, fmt.Errorf("variable %s offers %q, missing %q", v.Name, values, w))
			}
		}
	}
	return errors.Join(errs...)
}

// checkMetrics runs `promtool check metrics` on the exposition at url.
func checkMetrics(t *testing.T, promtool, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics %s: %v\n%s", url, err, out)
	}
}
