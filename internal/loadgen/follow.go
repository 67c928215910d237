package loadgen

import (
	"context"
	"sync"
	"time"
)

// followTick is how often the stage driver compares the clients wanted
// with those it has.
const followTick = 10 * time.Millisecond

// runStages shapes the run by Config.Stages: senders send from the start
// to the end of the last stage while the driver connects and disconnects
// clients to follow the stages' targets. Processes start together (the
// barrier comes first). It returns when the stages are over and every
// client the driver let go has closed its connection.
func (e *engine) runStages(ctx context.Context) (rampEnd, sendEnd time.Time) {
	if e.share.barrier != nil {
		e.share.barrier(ctx)
	}
	rampEnd = time.Now()
	e.phase.Store(PhaseSend)
	e.active.Store(0)
	sendCtx, stopSending := context.WithTimeout(ctx, stagesDuration(e.cfg.Stages))
	defer stopSending()
	var wg sync.WaitGroup
	for _, s := range e.senders {
		wg.Go(func() { e.send(sendCtx, s) })
	}
	e.follow(sendCtx)
	if ctx.Err() == nil {
		// The stages ran to their end: settle on the last target (the
		// driver's last tick may fall just short of it).
		last := e.cfg.Stages[len(e.cfg.Stages)-1].Target
		want := localShare(last, e.share.proc, e.share.procs)
		e.target.Store(int64(want))
		for active := int(e.active.Load()); active > want; active-- {
			e.active.Store(int64(active - 1))
			e.release(active - 1)
		}
	}
	wg.Wait()
	sendEnd = time.Now()
	e.lingering.Wait()
	return rampEnd, sendEnd
}

// dialJob asks a dialer to connect slot; first tells a client's first
// connection (counted in Connected or ConnectFailures) from a later one.
type dialJob struct {
	slot  int
	first bool
}

// follow connects and disconnects local clients until ctx ends so that
// the local slots below e.active are connected, e.active following the
// stages: clients join in slot order (senders first) and leave in reverse
// (senders last). A client told to leave keeps reading for Settle and then
// closes with a close frame, as under churn.
func (e *engine) follow(ctx context.Context) {
	jobs := make(chan dialJob)
	var dialers sync.WaitGroup
	for range min(maxDialers, len(e.slots)) {
		dialers.Go(func() {
			for j := range jobs {
				ok := e.dial(ctx, j.slot, nil, e.global(j.slot)%len(e.urls))
				switch {
				case ok && j.first:
					e.firstConnected.Add(1)
				case !ok && j.first && ctx.Err() == nil:
					e.connectFailures.Add(1)
				}
				if ok && j.slot >= int(e.active.Load()) {
					e.release(j.slot) // ramped down while it was dialling
				}
			}
		})
	}
	defer func() {
		close(jobs)
		dialers.Wait()
	}()
	dialed := make([]bool, len(e.slots)) // owned by follow
	start := time.Now()
	tick := time.NewTicker(followTick)
	defer tick.Stop()
	for {
		global := targetAt(e.cfg.Stages, time.Since(start))
		want := localShare(global, e.share.proc, e.share.procs)
		e.target.Store(int64(want))
		for active := int(e.active.Load()); active < want; active++ {
			e.active.Store(int64(active + 1))
			select {
			case jobs <- dialJob{slot: active, first: !dialed[active]}:
				dialed[active] = true
			case <-ctx.Done():
				return
			}
		}
		for active := int(e.active.Load()); active > want; active-- {
			e.active.Store(int64(active - 1))
			e.release(active - 1)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// release makes the client of slot leave, once: it decides now, keeps
// reading for Settle and closes. A client waiting to reconnect gives up by
// itself (see redial).
func (e *engine) release(slot int) {
	c := e.slots[slot].Load()
	if c == nil || !c.leaveAt.CompareAndSwap(never, time.Now().UnixNano()) {
		return
	}
	e.lingering.Go(func() { e.linger(c) })
}
