package broker

// KillForTest stops the node as a crash would, as far as the others can
// tell: no goodbye, no more heartbeats, its NATS connection closed.
func (b *Broker) KillForTest() { b.close(false) }

// LoseDeltaForTest makes the node drop its next presence delta instead of
// publishing it, as a NATS reconnect may: its version is used all the same.
func (b *Broker) LoseDeltaForTest() { b.pres.lose.Store(true) }
