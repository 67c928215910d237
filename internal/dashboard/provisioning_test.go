package dashboard

import (
	"os"
	"regexp"
	"testing"
)

// yamlValue returns the value of the first `key: value` line in the file at
// rel (relative to the repository root), without quotes.
func yamlValue(t *testing.T, rel, key string) string {
	t.Helper()
	data, err := os.ReadFile(repoFile(rel))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*-?\s*` + regexp.QuoteMeta(key) + `:\s*"?([^"\s#]+)"?`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s: no %s", rel, key)
	}
	return string(m[1])
}

// TestProvisioningMatchesDashboard checks that the provisioning files,
// the compose file and the Prometheus configuration agree with each other
// and with the dashboard.
func TestProvisioningMatchesDashboard(t *testing.T) {
	const (
		datasources = "grafana/provisioning/datasources/prometheus.yml"
		providers   = "grafana/provisioning/dashboards/chat.yml"
		compose     = "grafana/docker-compose.yml"
	)
	if got := yamlValue(t, datasources, "uid"); got != DatasourceUID {
		t.Errorf("%s: uid %q, the dashboard's datasource variable defaults to %q", datasources, got, DatasourceUID)
	}
	if got := yamlValue(t, datasources, "type"); got != "prometheus" {
		t.Errorf("%s: type %q, want prometheus", datasources, got)
	}
	if got := yamlValue(t, datasources, "url"); got != "http://localhost:9090" {
		t.Errorf("%s: url %q, want http://localhost:9090", datasources, got)
	}
	if ds, prom := yamlValue(t, datasources, "timeInterval"), yamlValue(t, "grafana/prometheus.yml", "scrape_interval"); ds != prom {
		t.Errorf("%s: timeInterval %s differs from the scrape_interval %s of grafana/prometheus.yml", datasources, ds, prom)
	}
	path := yamlValue(t, providers, "path")
	if got := yamlValue(t, compose, "- ./dashboards"); got != path+":ro" {
		t.Errorf("%s mounts the dashboards at %q, the provider reads %s", compose, got, path)
	}
	if got := yamlValue(t, compose, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); got != path+"/chat.json" {
		t.Errorf("%s: home dashboard %s is not %s/chat.json", compose, got, path)
	}
	d := loadCommitted(t)
	if v := d.Templating.List[0]; v.Type != "datasource" || v.Current.Value != DatasourceUID {
		t.Errorf("first variable %q defaults to %v, want the provisioned uid %q", v.Name, v.Current.Value, DatasourceUID)
	}
}
