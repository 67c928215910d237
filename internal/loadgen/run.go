package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"
)

// progressInterval is how often Config.Progress is called.
const progressInterval = time.Second

// Run simulates the clients described by cfg and returns the summary.
//
// Cancelling ctx stops the ramp or the sending early; Run then settles,
// closes the connections and still returns what ran, with
// Result.Interrupted set. Run returns an error (wrapping ErrConfig for a
// bad configuration) only when the run could not start, and ErrUnreachable
// when not a single client could connect because nothing answered at the
// URL.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	urls, err := cfg.validate()
	if err != nil {
		return Result{}, err
	}
	procs, ips, err := plan(cfg, urls[0].Hostname())
	if err != nil {
		return Result{}, err
	}
	for _, u := range urls {
		if err := probe(ctx, u, cfg.DialTimeout); err != nil {
			return Result{}, err
		}
	}
	var src snapshotSource
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(newCollector(src.get)); err != nil {
			return Result{}, fmt.Errorf("register metrics: %w", err)
		}
	}

	var p part
	if procs == 1 {
		e, err := newEngine(cfg, share{procs: 1, sourceIPs: ips, earlySettle: true}, urls)
		if err != nil {
			return Result{}, err
		}
		src.set(e.snapshot)
		stop := startProgress(cfg.Progress, src.get)
		p = e.run(ctx)
		stop()
	} else {
		f := newFleet(cfg, procs, ips)
		src.set(f.snapshot)
		stop := startProgress(cfg.Progress, src.get)
		p, err = f.run(ctx)
		stop()
		if err != nil {
			return Result{}, err
		}
	}
	r := p.result(cfg, procs)
	r.Settings = settingsOf(cfg)
	r.Interrupted = ctx.Err() != nil
	src.setLost(r.Lost)
	return r, nil
}

// ErrUnreachable reports that nothing accepted a connection at the URL.
var ErrUnreachable = errors.New("server unreachable")

// probe makes one TCP connection to the server so that a wrong URL or a
// stopped server is reported at once, plainly, instead of as thousands of
// failed clients.
func probe(ctx context.Context, u *url.URL, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		reason := err.Error()
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			reason = oe.Err.Error()
		}
		return fmt.Errorf("%w: cannot connect to %s: %s", ErrUnreachable, u.Host, reason)
	}
	return c.Close()
}

// snapshotSource is where progress and metrics read the state of the run.
type snapshotSource struct {
	mu   sync.Mutex
	fn   func() Snapshot // guarded by mu
	lost int64           // guarded by mu; known once the run is over
}

func (s *snapshotSource) set(fn func() Snapshot) {
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
}

func (s *snapshotSource) setLost(n int64) {
	s.mu.Lock()
	s.lost = n
	s.mu.Unlock()
}

func (s *snapshotSource) get() Snapshot {
	s.mu.Lock()
	fn, lost := s.fn, s.lost
	s.mu.Unlock()
	if fn == nil {
		return Snapshot{Latency: newHist(), Connect: newHist()}
	}
	sn := fn()
	sn.Lost = lost
	return sn
}

// startProgress calls fn with a snapshot every progressInterval until the
// returned stop is called; stop waits for a call in progress.
func startProgress(fn func(Snapshot), get func() Snapshot) (stop func()) {
	if fn == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn(get())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
