package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"

	"go.uber.org/zap"
)

// WorkerEnv marks a worker process: when it is set in the environment, the
// binary must call RunWorker instead of parsing flags. A run that needs more
// than one process starts its own executable with WorkerEnv=1.
const WorkerEnv = "LOADGEN_WORKER"

// workerSpec is what the parent writes to a worker's stdin.
type workerSpec struct {
	Config    Config   `json:"config"`
	Procs     int      `json:"procs"`
	Proc      int      `json:"proc"`
	SourceIPs []string `json:"source_ips"`
}

// workerMsg is one line a worker writes to its stdout.
type workerMsg struct {
	Ready    bool          `json:"ready,omitempty"` // ramped up; waiting for goLine
	Snapshot *wireSnapshot `json:"snapshot,omitempty"`
	Part     *part         `json:"part,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// wireSnapshot is a Snapshot as JSON.
type wireSnapshot struct {
	Phase           Phase            `json:"phase"`
	Target          int64            `json:"target"`
	Connected       int64            `json:"connected"`
	Connects        int64            `json:"connects"`
	ConnectFailures int64            `json:"connect_failures"`
	Reconnects      int64            `json:"reconnects"`
	Disconnects     int64            `json:"disconnects"`
	Sent            int64            `json:"sent"`
	Received        int64            `json:"received"`
	Holes           int64            `json:"holes"`
	Errors          map[string]int64 `json:"errors"`
	Latency         *hist            `json:"latency"`
	Connect         *hist            `json:"connect"`
}

// goLine is what the parent writes to every worker once all are ready, so
// that they start sending together.
const goLine = "go"

// RunWorker runs the share of a run that a parent process assigned, reading
// the assignment from in and writing progress and the final measurements
// to out as JSON lines. After its ramp it reports ready and waits for the
// parent's go line, so that all processes send at once. The worker stops
// early when in reaches its end (the parent closes it on Ctrl-C).
// Interrupt signals are ignored: the parent decides when to stop.
func RunWorker(in io.Reader, out io.Writer, logger *zap.Logger) error {
	signal.Ignore(os.Interrupt)
	dec := json.NewDecoder(in)
	var spec workerSpec
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("read worker spec: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	goCh := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(io.MultiReader(dec.Buffered(), in))
		for sc.Scan() {
			if sc.Text() == goLine {
				close(goCh)
				break
			}
		}
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()

	cfg := spec.Config.withDefaults()
	cfg.Logger = logger
	urls, err := cfg.validate()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(m workerMsg) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	barrier := func(ctx context.Context) {
		_ = emit(workerMsg{Ready: true})
		select {
		case <-goCh:
		case <-ctx.Done():
		}
	}
	e, err := newEngine(cfg, share{procs: spec.Procs, proc: spec.Proc, sourceIPs: spec.SourceIPs, barrier: barrier}, urls)
	if err != nil {
		return err
	}
	stop := startProgress(func(s Snapshot) {
		_ = emit(workerMsg{Snapshot: &wireSnapshot{
			Phase: s.Phase, Target: s.Target, Connected: s.Connected, Connects: s.Connects, ConnectFailures: s.ConnectFailures,
			Reconnects: s.Reconnects, Disconnects: s.Disconnects, Sent: s.Sent, Received: s.Received, Holes: s.Holes,
			Errors: s.Errors, Latency: &hist{s.Latency}, Connect: &hist{s.Connect},
		}})
	}, e.snapshot)
	p := e.run(ctx)
	stop()
	return emit(workerMsg{Part: &p})
}

// fleet runs a test over worker processes and merges what they measure.
type fleet struct {
	// Static after construction.
	cfg   Config
	procs int
	ips   []string
	start time.Time

	mu    sync.Mutex
	snaps []Snapshot // guarded by mu; latest of each worker
}

func newFleet(cfg Config, procs int, ips []string) *fleet {
	return &fleet{cfg: cfg, procs: procs, ips: ips, start: time.Now(), snaps: make([]Snapshot, procs)}
}

// phaseOrder ranks phases so the fleet reports its slowest worker's.
var phaseOrder = map[Phase]int{PhaseRamp: 0, PhaseSend: 1, PhaseSettle: 2, PhaseClosing: 3, PhaseDone: 4, "": 0}

func (f *fleet) snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Snapshot{Elapsed: time.Since(f.start), Phase: PhaseDone, Clients: f.cfg.Clients, Errors: map[string]int64{}, Latency: newHist(), Connect: newHist()}
	for _, w := range f.snaps {
		if phaseOrder[w.Phase] < phaseOrder[s.Phase] {
			s.Phase = w.Phase
		}
		s.add(w)
	}
	return s
}

// run starts the workers, relays ctx's cancellation to them by closing their
// stdin, and merges their parts.
func (f *fleet) run(ctx context.Context) (part, error) {
	exe, err := os.Executable()
	if err != nil {
		return part{}, fmt.Errorf("find own executable for worker processes: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := make([]*part, f.procs)
	errs := make([]error, f.procs)
	stdins := make([]io.WriteCloser, f.procs)
	var readyMu sync.Mutex
	ready := 0
	onReady := func() {
		readyMu.Lock()
		defer readyMu.Unlock()
		if ready++; ready == f.procs {
			for _, w := range stdins {
				_, _ = io.WriteString(w, goLine+"\n")
			}
		}
	}
	var wg sync.WaitGroup
	for i := range f.procs {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), WorkerEnv+"=1")
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return part{}, fmt.Errorf("worker %d: %w", i, err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return part{}, fmt.Errorf("worker %d: %w", i, err)
		}
		if err := cmd.Start(); err != nil {
			return part{}, fmt.Errorf("start worker %d: %w", i, err)
		}
		readyMu.Lock()
		stdins[i] = stdin
		readyMu.Unlock()
		spec := workerSpec{Config: f.cfg, Procs: f.procs, Proc: i, SourceIPs: f.ips}
		if err := json.NewEncoder(stdin).Encode(spec); err != nil {
			errs[i] = fmt.Errorf("send spec to worker %d: %w", i, err)
		}
		wg.Go(func() {
			stopped := make(chan struct{})
			go func() {
				select {
				case <-ctx.Done():
				case <-stopped:
				}
				stdin.Close()
			}()
			parts[i], errs[i] = f.read(i, stdout, onReady)
			if errs[i] != nil {
				cancel() // the others must not wait for this one at the barrier
			}
			close(stopped)
			if err := cmd.Wait(); err != nil && errs[i] == nil {
				errs[i] = fmt.Errorf("worker %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	var merged part
	for i, p := range parts {
		if p == nil {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("worker %d ended without a result", i)
			}
			return part{}, errors.Join(errs...)
		}
		if merged.Latency == nil {
			merged = *p
			continue
		}
		merged.merge(*p)
	}
	return merged, nil
}

// read consumes worker i's output until its part arrives.
func (f *fleet) read(i int, r io.Reader, onReady func()) (*part, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<30)
	for sc.Scan() {
		var m workerMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("worker %d: bad output: %w", i, err)
		}
		switch {
		case m.Error != "":
			return nil, fmt.Errorf("worker %d: %s", i, m.Error)
		case m.Part != nil:
			return m.Part, nil
		case m.Ready:
			onReady()
		case m.Snapshot != nil:
			w := m.Snapshot
			f.mu.Lock()
			f.snaps[i] = Snapshot{
				Phase: w.Phase, Target: w.Target, Connected: w.Connected, Connects: w.Connects, ConnectFailures: w.ConnectFailures,
				Reconnects: w.Reconnects, Disconnects: w.Disconnects, Sent: w.Sent, Received: w.Received, Holes: w.Holes,
				Errors: w.Errors, Latency: w.Latency.Histogram, Connect: w.Connect.Histogram,
			}
			f.mu.Unlock()
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("worker %d: %w", i, err)
	}
	return nil, fmt.Errorf("worker %d ended without a result", i)
}
