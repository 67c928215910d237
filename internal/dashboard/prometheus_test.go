package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/servertest"
)

// poll calls f every interval until it returns nil or timeout passes, and
// returns f's last error.
func poll(timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// syncBuffer is a bytes.Buffer safe for a process writing and a test reading.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prometheusServer is a Prometheus process started by a test.
type prometheusServer struct {
	url    string // e.g. http://127.0.0.1:40123
	client *http.Client
}

// startPrometheus runs bin with config on a free loopback port and its own
// storage directory, waits until it is ready and stops it at cleanup. Its
// output is logged when the test fails.
func startPrometheus(t *testing.T, bin, config string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := servertest.FreeAddr(t)
	var out syncBuffer
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})

	p := &prometheusServer{url: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}}
	err := poll(30*time.Second, 100*time.Millisecond, func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("prometheus exited: %v", err)
		default:
		}
		resp, err := p.client.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("prometheus not ready: %v\n%s", err, out.String())
	}
	return p
}

// sample is one series of an instant query result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// value returns the sample's value as a float.
func (s sample) value() float64 {
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0
	}
	return v
}

// query runs an instant PromQL query at the current time.
func (p *prometheusServer) query(ctx context.Context, expr string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", data.ResultType)
	}
	var samples []sample
	if err := json.Unmarshal(data.Result, &samples); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	return samples, nil
}

// labelValues lists the values of label on the series matching selector, as
// Grafana's label_values(selector, label) does.
func (p *prometheusServer) labelValues(ctx context.Context, label, selector string) ([]string, error) {
	var values []string
	err := p.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", url.Values{"match[]": {selector}}, &values)
	return values, err
}

// get calls a Prometheus HTTP API endpoint and decodes the data field of a
// successful answer into data.
func (p *prometheusServer) get(ctx context.Context, path string, params url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, body)
	}
	if envelope.Status != "success" {
		return errors.New(path + ": " + envelope.Error)
	}
	return json.Unmarshal(envelope.Data, data)
}

// scrapeConfig turns the committed grafana/prometheus.yml into a test
// configuration: a one-second scrape interval, the given server and load
// generator addresses, and the alerting rules by absolute path. Every replacement must apply exactly once, so the test
// fails if the committed file changes shape.
func scrapeConfig(t *testing.T, serverAddr, loadgenAddr string) string {
	t.Helper()
	data, err := os.ReadFile(repoFile("grafana/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(data)
	rules, err := filepath.Abs(repoFile(rulesPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{
		{"scrape_interval: 5s", "scrape_interval: 1s"},
		{`"127.0.0.1:8080"`, strconv.Quote(serverAddr)},
		{`"127.0.0.1:9101"`, strconv.Quote(loadgenAddr)},
		{strconv.Quote("alerts/chat.rules.yml"), strconv.Quote(rules)},
	} {
		if n := strings.Count(cfg, r[0]); n != 1 {
			t.Fatalf("grafana/prometheus.yml has %d occurrences of %s, want 1", n, r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	return cfg
}

// ruleHealth is one rule as /api/v1/rules reports it.
type ruleHealth struct {
	Name           string `json:"name"`
	Health         string `json:"health"`
	LastError      string `json:"lastError"`
	LastEvaluation string `json:"lastEvaluation"`
}

// rules lists every loaded rule with its health.
func (p *prometheusServer) rules(ctx context.Context) ([]ruleHealth, error) {
	var data struct {
		Groups []struct {
			Rules []ruleHealth `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", url.Values{}, &data); err != nil {
		return nil, err
	}
	var out []ruleHealth
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}
