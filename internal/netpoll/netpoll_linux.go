package netpoll

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller is an epoll instance with its wait loop and worker pool.
type Poller struct {
	// Static after construction.
	epfd int
	// epoll is epfd registered with the Go runtime's poller, in which the
	// wait loop waits for the epoll instance to have events; its Close
	// releases epfd.
	epoll  *os.File
	wakefd int // eventfd written by Close to wake the wait loop
	cfg    Config
	armed  uint32          // armedRead or armedWrite
	ready  chan readyEvent // closed by the wait loop when it exits

	loopDone    chan struct{} // closed when the wait loop has exited
	workersDone sync.WaitGroup

	mu       sync.RWMutex
	handlers []Handler // by descriptor number, grown on demand; guarded by mu
	closed   bool      // guarded by mu
}

type readyEvent struct {
	h  Handler
	ev Event
}

// New creates a Poller and starts its wait loop and workers.
func New(cfg Config) (*Poller, error) {
	cfg = cfg.withDefaults()
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	// The wait loop waits for epfd in the runtime's poller, never in
	// epoll_wait (see the package documentation and wait).
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll nonblocking: %w", err)
	}
	epoll := os.NewFile(uintptr(epfd), "epoll")
	rc, err := epoll.SyscallConn()
	if err != nil {
		unix.Close(wakefd)
		epoll.Close()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	p := &Poller{
		epfd:     epfd,
		epoll:    epoll,
		wakefd:   wakefd,
		cfg:      cfg,
		armed:    armedRead,
		ready:    make(chan readyEvent, cfg.Queue),
		loopDone: make(chan struct{}),
	}
	if cfg.Writable {
		p.armed = armedWrite
	}
	for range cfg.Workers {
		p.workersDone.Add(1)
		go p.work()
	}
	go p.wait(rc)
	return p, nil
}

// Add registers fd and arms it for one readiness report to h.
func (p *Poller) Add(fd int, h Handler) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if fd >= len(p.handlers) {
		p.handlers = append(p.handlers, make([]Handler, fd+1-len(p.handlers))...)
	}
	p.handlers[fd] = h
	ev := unix.EpollEvent{Events: p.armed, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.handlers[fd] = nil
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// Resume re-arms fd after its handler has consumed a readiness report. If
// data is already waiting, fd is reported again at once.
func (p *Poller) Resume(fd int) error {
	ev := unix.EpollEvent{Events: p.armed, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl mod: %w", err)
	}
	return nil
}

// Set makes h the handler of the registered fd from its next report on,
// for a connection that changes hands (a handshake becoming a session).
func (p *Poller) Set(fd int, h Handler) {
	p.mu.Lock()
	if fd < len(p.handlers) {
		p.handlers[fd] = h
	}
	p.mu.Unlock()
}

// Del unregisters fd. Call it before closing fd: once closed, the number may
// be reused by another descriptor.
func (p *Poller) Del(fd int) error {
	p.mu.Lock()
	if fd < len(p.handlers) {
		p.handlers[fd] = nil
	}
	p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("epoll_ctl del: %w", err)
	}
	return nil
}

// Close stops the wait loop, lets the workers finish the events already
// queued, waits for all of them and releases the epoll instance. It does not
// close the registered descriptors. Close is idempotent.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.loopDone
		p.workersDone.Wait()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(p.wakefd, one[:]); err != nil {
		return fmt.Errorf("wake poller: %w", err)
	}
	<-p.loopDone
	p.workersDone.Wait()
	unix.Close(p.wakefd)
	return p.epoll.Close()
}

// Interest sets of a registered descriptor, reported once until Resume:
// readable or hung up, or writable.
const (
	armedRead  = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT
	armedWrite = unix.EPOLLOUT | unix.EPOLLONESHOT
)

// wait is the wait loop: it takes the ready events of rc, the epoll
// descriptor, and hands them to the workers until Close.
//
// The loop is a single rc.Read for the Poller's life. Its function takes
// the events there are and hands them on; once epoll_wait returns fewer
// than it could take, the set is empty, and the function returns false to
// wait for the runtime's next report, which calls it again. The runtime
// watches the epoll descriptor edge-triggered, and every event that
// arrives after the set was emptied is an edge, recorded even while the
// loop is busy. (One Read per batch would not do: each Read forgets a
// report that came before it.)
func (p *Poller) wait(rc syscall.RawConn) {
	defer close(p.loopDone)
	defer close(p.ready)
	events := make([]unix.EpollEvent, p.cfg.Events)
	batch := make([]readyEvent, 0, p.cfg.Events)
	rc.Read(func(fd uintptr) bool {
		for {
			n, err := unix.EpollWait(int(fd), events, 0)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				return true
			case n == 0:
				return false
			}
			if !p.dispatch(events[:n], batch) {
				return true // closed
			}
			if n < len(events) {
				return false
			}
		}
	})
}

// dispatch hands the ready descriptors among events to the workers, using
// batch's array. It reports false once the Poller is closed.
func (p *Poller) dispatch(events []unix.EpollEvent, batch []readyEvent) bool {
	batch = batch[:0]
	p.mu.RLock()
	closed := p.closed
	for i := range events {
		e := &events[i]
		fd := int(e.Fd)
		if fd == p.wakefd {
			continue
		}
		if fd >= len(p.handlers) || p.handlers[fd] == nil || closed {
			continue
		}
		h := p.handlers[fd]
		var ev Event
		if e.Events&(unix.EPOLLIN|unix.EPOLLPRI) != 0 {
			ev |= Readable
		}
		if e.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			ev |= Hangup
		}
		if e.Events&unix.EPOLLOUT != 0 {
			ev |= Writable
		}
		batch = append(batch, readyEvent{h: h, ev: ev})
	}
	p.mu.RUnlock()
	if closed {
		return false
	}
	// Sent without the lock, so that handlers calling Del never wait for a
	// wait loop that waits for them.
	for _, r := range batch {
		p.ready <- r
	}
	return true
}

func (p *Poller) work() {
	defer p.workersDone.Done()
	for r := range p.ready {
		r.h.OnReady(r.ev)
	}
}
