package loadgen

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// loop is one epoll instance and the goroutine that waits on it. Unlike a
// worker pool fed by a wait loop, the loop's goroutine reads every ready
// connection itself: no handoff between goroutines per event, and while it
// reads one batch more data gathers in the other sockets, so the next wait
// returns more of them with more frames each. Descriptors are
// edge-triggered: a read shorter than the buffer has drained the socket,
// and new data raises a new edge, so there is no re-arming system call per
// event either.
//
// A connection belongs to one loop for its life; only that loop reads it,
// and it records into the loop's counters and histogram, so readers of
// different loops never contend.
type loop struct {
	// Static after construction.
	epfd   int
	wakefd int           // eventfd written by stop
	done   chan struct{} // closed when the goroutine has returned

	mu sync.Mutex // held for a whole batch of events; see also dial
	// Guarded by mu.
	conns      map[int32]*simConn // by descriptor
	buf        []byte             // read buffer, reused for every read
	latency    *hdrhistogram.Histogram
	received   int64 // marker messages, duplicates included
	duplicates int64
	reordered  int64
	extra      int64 // first receipts outside the receiver's window
	foreign    int64 // message events without a well-formed payload
	holes      int64 // sequence numbers skipped by receipts and not filled since
}

// readBufSize is the size of one read; it holds hundreds of chat events.
const readBufSize = 64 << 10

// loopEvents is how many ready descriptors one wait returns at most.
const loopEvents = 512

// watched is the interest set of a connection: readable or hung up,
// edge-triggered.
const watched = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(wakefd)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	l := &loop{
		epfd:    epfd,
		wakefd:  wakefd,
		done:    make(chan struct{}),
		conns:   map[int32]*simConn{},
		buf:     make([]byte, readBufSize),
		latency: newHist(),
	}
	go l.run()
	return l, nil
}

// addLocked registers c with the loop. l.mu is held.
func (l *loop) addLocked(c *simConn) error {
	ev := unix.EpollEvent{Events: watched, Fd: int32(c.fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	l.conns[int32(c.fd)] = c
	return nil
}

// run waits for ready connections and reads them until stop.
func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, loopEvents)
	for {
		n, err := unix.EpollWait(l.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		stop := false
		l.mu.Lock()
		for i := range events[:n] {
			ev := &events[i]
			if int(ev.Fd) == l.wakefd {
				stop = true
				continue
			}
			c := l.conns[ev.Fd]
			if c == nil {
				continue
			}
			if c.readyLocked(l, ev.Events) {
				delete(l.conns, ev.Fd) // before another connection may get the number
			}
		}
		l.mu.Unlock()
		if stop {
			return
		}
	}
}

// stop ends the loop's goroutine, waits for it and releases the epoll
// instance. The connections are left open.
func (l *loop) stop() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(l.wakefd, one[:]) // cannot fail short of 2^64-1 writes
	<-l.done
	_ = unix.Close(l.wakefd)
	_ = unix.Close(l.epfd)
}
