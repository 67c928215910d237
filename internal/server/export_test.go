package server

// SetHandleHookForTest makes every text message call hook before it is
// handled, so that a test can make handling panic.
func SetHandleHookForTest(hook func(payload []byte)) func() {
	handleHook = hook
	return func() { handleHook = nil }
}

// QueuedBytesForTest returns the bytes queued for all clients.
func (s *Server) QueuedBytesForTest() int64 { return s.hub.QueuedBytes() }
