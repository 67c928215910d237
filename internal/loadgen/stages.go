package loadgen

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Stage is one step of a load shape: over Duration, the number of
// connected clients moves linearly from the previous stage's Target (0
// before the first stage) to this Target.
type Stage struct {
	Duration time.Duration `json:"duration"`
	Target   int           `json:"target"`
}

// String formats s as the -stages flag spells it, e.g. "30s:1000".
func (s Stage) String() string {
	return s.Duration.String() + ":" + strconv.Itoa(s.Target)
}

// ParseStages parses the -stages syntax, k6 style: comma-separated
// DURATION:TARGET pairs, e.g. "30s:1000,1m:1000,20s:0" ramps up to 1,000
// clients over 30 seconds, holds them a minute and ramps down to none over
// 20 seconds.
func ParseStages(s string) ([]Stage, error) {
	var out []Stage
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		d, t, ok := strings.Cut(f, ":")
		if !ok {
			return nil, fmt.Errorf("stage %d %q is not DURATION:TARGET, e.g. 30s:1000", i+1, f)
		}
		dur, err := ParseDuration(d)
		if err != nil {
			return nil, fmt.Errorf("stage %d %q: %v", i+1, f, err)
		}
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("stage %d %q: target %q is not a number of clients, 0 or more", i+1, f, t)
		}
		out = append(out, Stage{Duration: dur, Target: n})
	}
	return out, nil
}

// ParseDuration parses a Go duration ("30s", "1m30s", "250ms") and says
// what to type when the unit is missing.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return 0, fmt.Errorf("%q has no unit: add one, e.g. \"%ss\" for seconds or \"%sms\" for milliseconds", s, s, s)
	}
	return 0, fmt.Errorf("%q is not a duration: write a number and a unit, e.g. \"30s\", \"1m30s\" or \"250ms\"", s)
}

// validateStages reports why stages cannot shape a run of clients clients.
func validateStages(stages []Stage, clients int) error {
	if len(stages) == 0 {
		return nil
	}
	for i, s := range stages {
		if s.Duration <= 0 {
			return fmt.Errorf("-stages: stage %d (%s) must last longer than 0", i+1, s)
		}
		if s.Target < 0 {
			return fmt.Errorf("-stages: stage %d (%s) has a negative target", i+1, s)
		}
	}
	if n := maxTarget(stages); n == 0 {
		return errors.New("-stages: every target is 0, so no client would connect")
	} else if clients < n {
		return fmt.Errorf("-stages reach %d clients, more than -clients %d (leave -clients out to take the largest target)", n, clients)
	}
	return nil
}

// maxTarget is the largest target of stages.
func maxTarget(stages []Stage) int {
	n := 0
	for _, s := range stages {
		n = max(n, s.Target)
	}
	return n
}

// stagesDuration is the total length of stages.
func stagesDuration(stages []Stage) time.Duration {
	var d time.Duration
	for _, s := range stages {
		d += s.Duration
	}
	return d
}

// targetAt is the number of clients stages want connected at elapsed time
// t since the start of the first stage.
func targetAt(stages []Stage, t time.Duration) int {
	from := 0
	for _, s := range stages {
		if t < s.Duration {
			return from + int(float64(s.Target-from)*float64(t)/float64(s.Duration))
		}
		t -= s.Duration
		from = s.Target
	}
	return from
}

// localShare is how many of the first n global clients belong to process
// proc of procs (client g belongs to process g % procs).
func localShare(n, proc, procs int) int {
	if n <= proc {
		return 0
	}
	return (n - proc + procs - 1) / procs
}
