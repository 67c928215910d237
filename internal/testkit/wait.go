package testkit

import (
	"testing"
	"time"
)

// WaitTimeout bounds WaitFor.
const WaitTimeout = 10 * time.Second

// WaitFor polls cond until it holds, and fails the test, naming what it
// waited for, if it does not within WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
