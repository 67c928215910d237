package server

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/netpoll"
)

// listener is a listening socket taken over from the net.Listener handed
// to Serve. Its descriptor is in the poller, and a worker accepts what is
// pending when it becomes readable, with accept4: an accepted connection is
// a bare non-blocking descriptor, with no net.Conn, no registration with
// the runtime's poller and no address objects. The socket options the
// runtime would set on every accepted connection (no Nagle delay, TCP
// keep-alive) are set once on the listening socket, which Linux copies to
// every connection it completes from then on (one already waiting in the
// backlog when Serve takes the socket over keeps the kernel's defaults).
type listener struct {
	// Static after takeListener.
	srv  *Server
	fd   netpoll.FD
	addr net.Addr
	web  *chanListener // set by Serve before the descriptor is polled

	backoff atomic.Int64 // the last accept backoff after running out of descriptors, 0 after a success

	closeOnce sync.Once
	err       error         // why accepting stopped, nil after Shutdown; written before done is closed
	done      chan struct{} // closed when accepting has stopped
}

// maxAcceptsPerEvent bounds the connections accepted for one readiness
// report before the listener is re-armed behind the other ready
// descriptors.
const maxAcceptsPerEvent = 64

// Keep-alive settings of accepted connections: net.Listen's defaults.
const (
	keepAliveIdle     = 15 // seconds
	keepAliveInterval = 15 // seconds
	keepAliveCount    = 9
)

// takeListener takes over ln's listening socket, which must be TCP: it
// duplicates the descriptor, closes ln and sets the options that accepted
// connections inherit.
func (s *Server) takeListener(ln net.Listener) (*listener, error) {
	defer ln.Close()
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("server: listener %T is not TCP", ln)
	}
	fd, err := dupFD(tl)
	if err != nil {
		return nil, fmt.Errorf("server: listener: %w", err)
	}
	l := &listener{srv: s, addr: ln.Addr(), done: make(chan struct{})}
	l.fd.Init(fd)
	if err := setListenerOptions(fd); err != nil {
		l.fd.Close()
		return nil, fmt.Errorf("server: listener options: %w", err)
	}
	return l, nil
}

func setListenerOptions(fd int) error {
	for _, o := range [...]struct{ level, opt, value int }{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, keepAliveIdle},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, keepAliveInterval},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return err
		}
	}
	return unix.SetNonblock(fd, true)
}

// start has the poller report the listener's pending connections.
func (l *listener) start() error {
	return l.fd.Do(func(fd int) error { return l.srv.poller.Add(fd, l) })
}

// close stops accepting, for err (nil at Shutdown), once.
func (l *listener) close(err error) {
	l.closeOnce.Do(func() {
		l.err = err
		l.fd.Do(l.srv.poller.Del)
		l.fd.Close()
		close(l.done)
	})
}

// OnReady accepts the pending connections and starts their handshakes. It
// runs on a poller worker, once at a time.
func (l *listener) OnReady(netpoll.Event) {
	s := l.srv
	for range maxAcceptsPerEvent {
		var (
			fd   int
			peer netip.AddrPort
			err  error
		)
		if l.fd.Control(func(lfd uintptr) { fd, peer, err = accept4(lfd) }) != nil {
			return // closed
		}
		switch {
		case err == nil:
			l.backoff.Store(0)
			s.handshakes.start(fd, peer, l.web)
			continue
		case err == unix.EAGAIN:
			l.resume()
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM:
			// Out of descriptors or memory: back off as net/http does
			// rather than spin.
			backoff := min(max(2*time.Duration(l.backoff.Load()), 5*time.Millisecond), time.Second)
			l.backoff.Store(int64(backoff))
			s.log.Warn("accept failed; retrying", zap.Error(os.NewSyscallError("accept4", err)), zap.Duration("backoff", backoff))
			time.AfterFunc(backoff, l.resume)
		default:
			l.close(fmt.Errorf("accept: %w", os.NewSyscallError("accept4", err)))
		}
		return
	}
	l.resume()
}

// resume re-arms the listener; if connections are pending it is reported
// again at once.
func (l *listener) resume() {
	if err := l.fd.Do(l.srv.poller.Resume); err != nil && err != netpoll.ErrFDClosed {
		l.close(fmt.Errorf("accept: %w", err))
	}
}

// accept4 accepts a connection on the listening socket lfd, non-blocking
// and close-on-exec, and returns it with the peer's address. It parses the
// address itself: x/sys's Accept4 asks the kernel for the socket's protocol
// (getsockopt SO_PROTOCOL, to tell L2TP sockets apart) at every IPv4 accept
// and allocates the address.
func accept4(lfd uintptr) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	size := uint32(unix.SizeofSockaddrAny)
	fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, lfd, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	return int(fd), addrPort(&rsa), nil
}

// addrPort returns the address in rsa, as accept4 fills it, or the zero
// AddrPort for a family without one.
func addrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), networkOrder(&a.Port))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), networkOrder(&a.Port))
	}
	return netip.AddrPort{}
}

// networkOrder reads a port as the kernel stores it, in network byte order.
func networkOrder(port *uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(port))[:])
}
