package rooms

// SetHookForTest makes the registry call hook at its named points ("join",
// "publish", "leave") while the room's lock is held, so that a test can
// make them panic. It must be called before the first join.
func (r *Registry) SetHookForTest(hook func(point string)) { r.testHook = hook }
