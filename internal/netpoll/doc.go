// Package netpoll watches many file descriptors for readability with one
// epoll instance and hands each ready descriptor to a bounded pool of worker
// goroutines, so an idle connection costs no goroutine and no buffer.
//
// Descriptors are armed in one-shot mode: after a descriptor is reported,
// it is not reported again until [Poller.Resume] re-arms it. A handler
// therefore runs for at most one readiness event of a descriptor at a time,
// which gives every connection a single reader without any locking.
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
