package server

// SetHookForTest makes the read path call hook at its named points
// ("handle": every frame, with its payload), so that a test can make
// handling panic. It must be called before clients connect.
func (s *Server) SetHookForTest(hook func(point string, payload []byte)) { s.testHook = hook }

// QueuedBytesForTest returns the bytes queued for all clients.
func (s *Server) QueuedBytesForTest() int {
	n := 0
	for _, sess := range s.sessions.snapshot(nil) {
		n += sess.out.Queued()
	}
	return n
}

// SetRoomsHookForTest sets the rooms registry's test hook (points "join",
// "publish", "leave"). It must be called before clients connect.
func (s *Server) SetRoomsHookForTest(hook func(point string)) { s.rooms.SetHookForTest(hook) }

// SetPoolHookForTest sets the outbound pool's test hook (points "enqueue",
// "take", "write", "release"). It must be called before clients connect.
func (s *Server) SetPoolHookForTest(hook func(point string)) { s.pool.SetHookForTest(hook) }

// OutboundStatesForTest describes every live client's outbound side, by
// client id.
func (s *Server) OutboundStatesForTest() map[string]string {
	states := map[string]string{}
	for _, sess := range s.sessions.snapshot(nil) {
		states[sess.id] = sess.out.StateForTest()
	}
	return states
}
