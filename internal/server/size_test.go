package server

import (
	"testing"
	"unsafe"
)

// A connection's state is one allocation (session, with its outbound side
// and its membership embedded) of at most 320 bytes, the size class that
// docs/connection-memory.md accounts: a field that pushes it over costs
// every idle connection 32 bytes more.
func TestSessionFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 320 {
		t.Fatalf("session is %d bytes, over the 320-byte size class", n)
	}
}
