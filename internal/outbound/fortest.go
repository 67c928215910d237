package outbound

import "fmt"

// SetHookForTest makes the pool call hook at its named points ("enqueue",
// "take", "write", "release") of a send and a flush, so that a test can
// make them panic. It may be called at any time.
func (p *Pool) SetHookForTest(hook func(point string)) { p.testHook.Store(&hook) }

// StateForTest describes the connection's queue and scheduling, for a test
// that reports a connection which stopped receiving.
func (c *Conn) StateForTest() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("queued=%d frames=%d pending=%d/%d off=%d scheduled=%v closing=%v finished=%v armed=%v lastFlush=%dms ago progress=%dms ago",
		c.queued, len(c.queue), c.head, len(c.pending), c.off, c.scheduled, c.closing.Load(), c.finished,
		c.everArmed.Load(), (c.pool.Clock()-c.lastFlush)/1e6, (c.pool.Clock()-c.progress)/1e6)
}
