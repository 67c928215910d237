package outbound

import (
	"sync"
	"time"
)

// wheel delays flushes: a timing wheel of wheelSlots slots of wheelTick
// each, which hands every client to the writers' queue once its slot's
// time has come. It ticks only while it holds clients.
type wheel struct {
	ready chan<- *Conn
	epoch time.Time     // origin of the pool clock
	wake  chan struct{} // capacity 1: the wheel went from empty to not empty

	mu    sync.Mutex
	slots [wheelSlots][]*Conn // guarded by mu
	count int                 // clients held; guarded by mu
	done  int64               // every tick up to this one has been handed out; guarded by mu
}

func newWheel(ready chan<- *Conn, epoch time.Time) *wheel {
	return &wheel{ready: ready, epoch: epoch, wake: make(chan struct{}, 1)}
}

// add holds c until due (pool clock nanoseconds since epoch).
func (w *wheel) add(c *Conn, due int64) {
	tick := (due + int64(wheelTick) - 1) / int64(wheelTick)
	w.mu.Lock()
	if w.count == 0 {
		// The wheel was idle; its cursor is stale.
		w.done = int64(time.Since(w.epoch) / wheelTick)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if tick <= w.done {
		w.mu.Unlock()
		w.ready <- c
		return
	}
	// Coalescing intervals are capped well below wheelSlots*wheelTick, so
	// a slot holds clients of one round; if the ticker lags far behind, a
	// client may be handed out early, which only costs a smaller batch.
	s := &w.slots[tick%wheelSlots]
	*s = append(*s, c)
	w.count++
	w.mu.Unlock()
}

func (w *wheel) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(wheelTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-w.wake:
			t.Reset(wheelTick)
		case <-t.C:
			if !w.advance(int64(time.Since(w.epoch) / wheelTick)) {
				t.Stop()
			}
		}
	}
}

// advance hands out every slot up to tick now and reports whether clients
// remain in the wheel.
func (w *wheel) advance(now int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ; w.done < now && w.count > 0; w.done++ {
		s := &w.slots[(w.done+1)%wheelSlots]
		for i, c := range *s {
			w.ready <- c
			(*s)[i] = nil
		}
		w.count -= len(*s)
		*s = (*s)[:0]
	}
	if w.count == 0 {
		w.done = now
	}
	return w.count > 0
}
