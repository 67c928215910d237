package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/servertest"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/loadgen/chattest"
)

// TestInterruptedRunIsIncomplete cancels a run as Ctrl-C does, once the
// server has received a message: exit 3, INCOMPLETE and no PASS, and the
// JSON says so while still carrying what ran.
func TestInterruptedRunIsIncomplete(t *testing.T) {
	s := chattest.Start(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for s.Messages() == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	file := filepath.Join(t.TempDir(), "r.json")
	var out, errOut bytes.Buffer
	code := Run(ctx, []string{"-url", s.URL, "-clients", "10", "-senders", "2", "-rate", "20", "-duration", "1h", "-json", file}, &out, &errOut)
	t.Logf("exit %d\n%s%s", code, out.String(), errOut.String())
	if code != exitIncomplete || !strings.Contains(out.String(), "INCOMPLETE") || strings.Contains(out.String(), "PASS") {
		t.Fatalf("exit %d, stdout %q; want 3 and INCOMPLETE", code, out.String())
	}
	r, b := readResult(t, file)
	if r.Outcome != loadgen.OutcomeIncomplete || !r.Interrupted || r.Sent == 0 || r.Lost != 0 || len(r.Thresholds) == 0 {
		t.Errorf("summary %s", b)
	}
}

// TestSummaryCarriesSettingsAndThresholds checks that the JSON records the
// run's settings and every threshold with value, limit and verdict.
func TestSummaryCarriesSettingsAndThresholds(t *testing.T) {
	s := chattest.Start(t, nil)
	file := filepath.Join(t.TempDir(), "r.json")
	code, _, _ := runCmd(t, "-url", s.URL, "-clients", "12", "-rooms", "3", "-senders", "3", "-rate", "10", "-size", "100",
		"-duration", "1s", "-settle", "3s", "-json", file, "-max-loss", "5%", "-max-p99", "10s", "-min-connected", "90%", "-max-disconnects", "2")
	if code != exitPass {
		t.Fatalf("exit %d", code)
	}
	r, b := readResult(t, file)
	st := r.Settings
	if len(st.URLs) != 1 || st.URLs[0] != s.URL || st.Clients != 12 || st.Rooms != 3 || st.Senders != 3 || st.Rate != 10 || st.Size != 100 ||
		st.Duration != 1 || st.Settle != 3 || st.Ramp != loadgen.DefaultRamp || st.Room != loadgen.DefaultRoom || st.ChurnMode != loadgen.ChurnLeave {
		t.Errorf("settings %+v", st)
	}
	want := map[string]struct{ limit, value float64 }{
		"max-loss":        {5, 0},
		"max-p99":         {10000, r.Latency.P99},
		"min-connected":   {11, 12},
		"max-disconnects": {2, 0},
	}
	for _, tr := range r.Thresholds {
		w, ok := want[tr.Name]
		if !ok || tr.Limit != w.limit || tr.Value != w.value || tr.Verdict != "pass" || tr.Unit == "" {
			t.Errorf("threshold %+v, want limit %v value %v pass", tr, w.limit, w.value)
		}
		delete(want, tr.Name)
	}
	if len(want) > 0 || r.Outcome != loadgen.OutcomePass || r.ConnectsPerURL[s.URL] != 12 {
		t.Errorf("missing thresholds %v; summary %s", want, b)
	}
}

// TestThresholdVerdicts checks each threshold's verdict on results made
// by hand, including the disabled ones.
func TestThresholdVerdicts(t *testing.T) {
	r := loadgen.Result{Connected: 9, Expected: 100, Lost: 2, LossPercent: 2, Disconnects: 1, Latency: loadgen.Latency{P99: 50, Count: 10}}
	r.Judge(loadgen.Thresholds{MaxLossPercent: 1, MaxP99: 40 * time.Millisecond, MinConnected: 10, MaxDisconnects: 0})
	for _, tr := range r.Thresholds {
		if tr.Verdict != loadgen.OutcomeFail || tr.Reason == "" {
			t.Errorf("%+v, want a failure with its reason", tr)
		}
	}
	if r.Outcome != loadgen.OutcomeFail {
		t.Errorf("outcome %q", r.Outcome)
	}
	r.Judge(loadgen.Thresholds{MaxLossPercent: -1, MaxDisconnects: -1})
	for _, tr := range r.Thresholds {
		if tr.Verdict != "off" {
			t.Errorf("%+v, want off", tr)
		}
	}
	r.Interrupted = true
	if r.Judge(loadgen.Thresholds{}); r.Outcome != loadgen.OutcomeIncomplete {
		t.Errorf("interrupted run: outcome %q", r.Outcome)
	}
	none := loadgen.Result{}
	if fails := none.Check(loadgen.Thresholds{MaxP99: time.Second}); len(fails) != 1 || !strings.Contains(fails[0], "no message was received") {
		t.Errorf("p99 without a sample: %v", fails)
	}
}

// TestServerKilledMidRunFails kills a real server process under a running
// load test, connect-only and with senders: the lost connections fail the
// run with exit 1, whatever the timing.
func TestServerKilledMidRunFails(t *testing.T) {
	bin := servertest.Build(t)
	for name, tc := range map[string]struct {
		args   []string
		before string // a metric line that must be gone before the kill
	}{
		"connect-only": {[]string{"-senders", "0"}, ""},
		"senders":      {[]string{"-senders", "2", "-rate", "10"}, "\nchat_messages_received_total 0\n"},
	} {
		args := tc.args
		t.Run(name, func(t *testing.T) {
			proc, addr := servertest.Process(t, bin)
			killed := make(chan struct{})
			go func() {
				defer close(killed)
				// Kill once every client is in (the server counts them)
				// and, with senders, once messages flow.
				for {
					resp, err := http.Get("http://" + addr + "/metrics")
					if err != nil {
						return
					}
					var b bytes.Buffer
					_, _ = b.ReadFrom(resp.Body)
					resp.Body.Close()
					if m := b.String(); strings.Contains(m, "\nchat_connections 10\n") && (tc.before == "" || !strings.Contains(m, tc.before)) {
						_ = proc.Kill()
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			file := filepath.Join(t.TempDir(), "r.json")
			code, stdout, _ := runCmd(t, append([]string{"-url", "ws://" + addr, "-clients", "10", "-duration", "3s", "-settle", "500ms", "-json", file}, args...)...)
			<-killed
			if code != exitFail || !strings.Contains(stdout, "FAIL 10 connections were lost") {
				t.Fatalf("exit %d, stdout %q; want 1 and the lost connections", code, stdout)
			}
			r, b := readResult(t, file)
			if r.Outcome != loadgen.OutcomeFail || r.Disconnects != 10 || r.Connected != 10 {
				t.Errorf("summary %s", b)
			}
		})
	}
}
