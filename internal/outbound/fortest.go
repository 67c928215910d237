package outbound

// SetHookForTest makes the pool call hook at its named points ("enqueue",
// "take", "write", "release") of a send and a flush, so that a test can
// make them panic. It may be called at any time.
func (p *Pool) SetHookForTest(hook func(point string)) { p.testHook.Store(&hook) }
