package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// churn makes Churn random non-sending clients per second go and come
// back, until ctx ends. In ChurnLeave mode a client leaves (keeping reading
// for Settle, see doc.go, then a close frame) and joins again afresh; churn
// returns once every client it made leave has closed its connection. In
// ChurnCut mode a client drops its TCP connection without a close frame and
// resumes after Backoff (see redial), its session's window carried over.
func (e *engine) churn(ctx context.Context) {
	first := len(e.senders) // senders take the first local slots
	if first >= len(e.slots) {
		return
	}
	period := time.Duration(float64(time.Second) * float64(e.share.procs) / e.cfg.Churn)
	tick := time.NewTicker(period)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		slot := first + rand.IntN(len(e.slots)-first)
		c := e.slots[slot].Load()
		if c == nil || c.joined.Load() == 0 || c.leaveAt.Load() != never || c.cut.Load() {
			continue
		}
		if e.cfg.ChurnMode == ChurnCut {
			c.cutOff()
			continue
		}
		c.leaveAt.Store(time.Now().UnixNano())
		wg.Go(func() {
			e.linger(c)
			if ctx.Err() != nil {
				return // the sending phase is over: no reconnect
			}
			if e.dial(context.Background(), slot, nil, (int(c.global)+int(e.reconnects.Load())+1)%len(e.urls)) {
				e.reconnects.Add(1)
			}
		})
	}
}

// linger keeps reading c for Settle after its client decided to leave,
// then closes it with a close frame; c stays listed for the final close.
func (e *engine) linger(c *simConn) {
	t := time.NewTimer(e.cfg.Settle)
	<-t.C
	e.doneMu.Lock()
	e.leaving = append(e.leaving, c)
	e.doneMu.Unlock()
	c.leave()
}
