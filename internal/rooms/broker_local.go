package rooms

import "sync"

// localBroker is the in-process Broker: a room's order is the order in
// which its feed takes messages, its seqs start at 1 with every Open (a
// room incarnation) under a new random epoch, and nothing is kept but
// what the registry keeps, so an Open delivers nothing.
type localBroker struct{}

func (localBroker) Open(room string, deliver func(Message)) (Feed, string, error) {
	f := &localFeed{epoch: NewEpoch(), deliver: deliver}
	return f, f.epoch, nil
}

func (localBroker) Ready() bool { return true }

// localFeed numbers and delivers each message under its lock, on the
// publisher's goroutine: the lock is taken before the room's (see the
// package's lock order) and released by defer, since a delivery may
// panic through it (a test hook).
type localFeed struct {
	// Static after construction.
	epoch   string
	deliver func(Message)

	mu  sync.Mutex
	seq uint64 // guarded by mu
}

func (f *localFeed) Publish(msg Message, _ func(error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	msg.Epoch, msg.Seq = f.epoch, f.seq
	f.deliver(msg)
}

func (f *localFeed) Close() {}
