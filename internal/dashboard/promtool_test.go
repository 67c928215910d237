package dashboard

import (
	"os/exec"
	"testing"

	"github.com/chatplatform/chat/internal/testkit"
)

func TestPrometheusConfigIsValid(t *testing.T) {
	promtool := testkit.Need(t, "/usr/bin/promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "config", repoFile("grafana/prometheus.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config grafana/prometheus.yml: %v\n%s", err, out)
	}
}

// The alerting rules and their unit tests, relative to the repository root.
const (
	rulesPath     = "grafana/alerts/chat.rules.yml"
	rulesTestPath = "grafana/alerts/chat.rules.test.yml"
)

func TestAlertRulesAreValid(t *testing.T) {
	promtool := testkit.Need(t, "/usr/bin/promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", repoFile(rulesPath)).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesPath, err, out)
	}
}

// TestAlertRulesUnitTests runs promtool's unit tests of the rules: each
// alert firing, and not firing, on series made for it.
func TestAlertRulesUnitTests(t *testing.T) {
	promtool := testkit.Need(t, "/usr/bin/promtool", "prometheus")
	out, err := exec.Command(promtool, "test", "rules", repoFile(rulesTestPath)).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", rulesTestPath, err, out)
	}
}
