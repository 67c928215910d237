package netpoll

import (
	"errors"
	"runtime"
)

// ErrClosed is returned by the methods of a Poller that has been closed.
var ErrClosed = errors.New("netpoll: poller closed")

// ErrNotSupported is returned by New on systems without epoll.
var ErrNotSupported = errors.New("netpoll: not supported on this system")

// Event describes why a descriptor was reported.
type Event uint32

const (
	// Readable means data, or an end of stream, can be read.
	Readable Event = 1 << iota
	// Hangup means the peer closed its side or the descriptor is in error;
	// a read returns what is left and then the end of stream or the error.
	Hangup
	// Writable means a write can make progress (a Poller made with
	// Config.Writable).
	Writable
)

// Handler is told about a ready descriptor. OnReady runs on a worker
// goroutine, never on the wait loop, and never twice at once for the same
// descriptor: the descriptor stays disarmed until the handler (or whoever it
// delegates to) calls Resume. A report already queued when its descriptor is
// deleted is still delivered, so a handler must ignore reports once it has
// closed.
type Handler interface {
	OnReady(ev Event)
}

// Config tunes a Poller. The zero value is usable.
type Config struct {
	// Workers is the number of goroutines that run handlers.
	// Zero means DefaultWorkers().
	Workers int
	// Queue is the capacity of the queue between the wait loop and the
	// workers. When it is full the wait loop blocks, which is the
	// back-pressure: readiness stays recorded by the kernel meanwhile.
	// Zero means 4096.
	Queue int
	// Events is the number of events fetched by one epoll_wait call.
	// Zero means 1024.
	Events int
	// Writable makes the Poller watch descriptors for writability instead
	// of readability: a writer that could not write everything arms the
	// descriptor and is told when the kernel takes more. A descriptor may
	// be in a read Poller and a write Poller at once.
	Writable bool
}

// DefaultWorkers is the number of workers used when Config.Workers is zero:
// two per available processor, at least four.
func DefaultWorkers() int {
	return max(4, 2*runtime.GOMAXPROCS(0))
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers()
	}
	if c.Queue <= 0 {
		c.Queue = 4096
	}
	if c.Events <= 0 {
		c.Events = 1024
	}
	return c
}
