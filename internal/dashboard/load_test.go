package dashboard

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// load is an in-process load generator whose metrics are served the way
// `loadgen -metrics-addr` serves them: the loadgen_ metrics plus the Go and
// process collectors.
type load struct {
	t    *testing.T
	reg  *prometheus.Registry
	addr string // metrics address
}

// newLoad starts serving the load generator's metrics on a loopback port;
// the run itself starts with [load.run].
func newLoad(t *testing.T) *load {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	return &load{t: t, reg: reg, addr: ln.Addr().String()}
}

// run starts clients simulated clients against the chat server at
// serverAddr, four of them sending ten messages per second each, until ctx
// ends or the test is over.
func (l *load) run(ctx context.Context, serverAddr string, clients int) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := loadgen.Run(ctx, loadgen.Config{
			URL:        "ws://" + serverAddr,
			Clients:    clients,
			Ramp:       5, // connects, and the refusals at the end, span several scrapes
			Rooms:      2,
			Senders:    4,
			Rate:       10,
			Size:       64,
			Duration:   time.Minute, // the test cancels it once every panel has data
			Settle:     time.Second,
			Logger:     zaptest.NewLogger(l.t, zaptest.Level(zap.WarnLevel)),
			Registerer: l.reg,
		})
		done <- err
	}()
	l.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			l.t.Errorf("loadgen: %v", err)
		}
	})
}
