package rooms

// SetHookForTest makes the registry call hook at its named points ("join",
// "publish", "leave") while the room's lock is held, so that a test can
// make them panic. It may be called at any time.
func (r *Registry) SetHookForTest(hook func(point string)) { r.testHook.Store(&hook) }
