// Package testkit holds helpers shared by the tests of several packages:
// reading whole WebSocket frames from a peer the test trusts, and waiting
// for a condition with a deadline instead of sleeping.
//
// Usage:
//
//	f, err := testkit.ReadFrame(conn)
//	if f.Header.OpCode == ws.OpClose { code, _ := ws.ParseCloseFrameData(f.Payload) }
//	testkit.WaitFor(t, "the client to leave", func() bool { return h.Clients() == 0 })
package testkit
