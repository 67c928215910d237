// Package netpoll watches many file descriptors for readability with one
// epoll instance and hands each ready descriptor to a bounded pool of worker
// goroutines, so an idle connection costs no goroutine and no buffer.
//
// Descriptors are armed in one-shot mode: after a descriptor is reported,
// it is not reported again until [Poller.Resume] re-arms it. A handler
// therefore runs for at most one readiness event of a descriptor at a time,
// which gives every connection a single reader without any locking.
//
// The wait loop does not block in epoll_wait: the epoll descriptor is
// itself registered with the Go runtime's poller, the loop waits there as a
// goroutine reading a socket would, and takes the ready events with
// epoll_wait's timeout 0. A goroutine blocked in a system call keeps its P
// (the runtime's right to run Go code) until the runtime takes it back,
// tens of microseconds to milliseconds later; with few Ps, the workers and
// every other goroutine would wait that long whenever the loop was idle.
//
// Usage:
//
//	p, err := netpoll.New(netpoll.Config{Workers: 4})
//	if err != nil { ... }
//	defer p.Close()
//	err = p.Add(fd, handler) // handler.OnReady runs on a worker
//	...
//	// inside OnReady, after reading everything that was available:
//	p.Resume(fd)
//
// On systems other than Linux [New] returns [ErrNotSupported].
package netpoll
