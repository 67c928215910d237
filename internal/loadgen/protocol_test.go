package loadgen_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/loadgen/chattest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOffersSubprotocol checks that every connection offers chat.v1 and
// that the run works whether the server answers with it or without.
func TestOffersSubprotocol(t *testing.T) {
	for _, echo := range []bool{true, false} {
		s := chattest.Start(t, func(s *chattest.Server) { s.EchoSubprotocol = echo })
		r := run(t, loadgen.Config{URL: s.URL, Clients: 10, Senders: 2, Rate: 10, Duration: 500 * time.Millisecond, Settle: 2 * time.Second})
		if s.Upgrades() != 10 || s.Offered() != 10 {
			t.Errorf("echo %v: %d upgrades, %d offered chat.v1", echo, s.Upgrades(), s.Offered())
		}
		if r.Connected != 10 || r.Lost != 0 || len(r.Errors) != 0 {
			t.Errorf("echo %v: %+v", echo, r)
		}
	}
}

// TestErrorKindsStartAtZero checks that every fixed error kind has a
// loadgen_errors_total series on a run without errors.
func TestErrorKindsStartAtZero(t *testing.T) {
	s := chattest.Start(t, nil)
	reg := prometheus.NewRegistry()
	run(t, loadgen.Config{URL: s.URL, Clients: 3, Senders: loadgen.NoSenders, Duration: 100 * time.Millisecond, Registerer: reg})
	var want strings.Builder
	want.WriteString("# HELP loadgen_errors_total Errors by kind (refused, handshake_<status>, closed_<code>, timeouts, ...).\n# TYPE loadgen_errors_total counter\n")
	for _, k := range loadgen.ErrorKinds {
		want.WriteString(`loadgen_errors_total{kind="` + k + `"} 0` + "\n")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "loadgen_errors_total"); err != nil {
		t.Error(err)
	}
}

func TestValidateExplains(t *testing.T) {
	for _, tc := range []struct {
		cfg  loadgen.Config
		want string
	}{
		{loadgen.Config{Size: 10}, "use -size 58 or more"},
		{loadgen.Config{SourceIPs: []string{"10.9.9.9"}}, "not a loopback address"},
		{loadgen.Config{URL: "ws://192.0.2.1:8080", SourceIPs: []string{"10.9.9.9"}}, "not an address of this machine"},
		{loadgen.Config{Rooms: 2, RoomRates: []float64{1}}, "one rate per room"},
		{loadgen.Config{ChurnMode: "drop"}, "-churn-mode"},
		{loadgen.Config{Churn: 1, Stages: []loadgen.Stage{{Duration: time.Second, Target: 5}}}, "-churn cannot be combined with -stages"},
		{loadgen.Config{Stages: []loadgen.Stage{{Duration: time.Second, Target: 0}}}, "every target is 0"},
		{loadgen.Config{Clients: 5, Stages: []loadgen.Stage{{Duration: time.Second, Target: 10}}}, "more than -clients 5"},
		{loadgen.Config{URLs: []string{"ws://127.0.0.1:1", "http://x"}}, `-url "http://x"`},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (loadgen.Config{SourceIPs: []string{"127.0.0.2"}}).Validate(); err != nil {
		t.Errorf("127.0.0.2 is local: %v", err)
	}
}
