package netpoll

import (
	"errors"
	"sync/atomic"
	"syscall"
)

// ErrFDClosed is returned by the methods of an FD that has been closed.
var ErrFDClosed = errors.New("netpoll: descriptor closed")

// FD is a non-blocking descriptor shared by goroutines: a reader, writers
// and whoever tears it down. Control, Read and Write hold a reference while
// their function runs, and Close closes the descriptor only when the last
// reference is dropped, so that no call ever reaches a number that was
// closed and reused by another connection. It is what the runtime's
// descriptor (behind net.Conn and syscall.RawConn) offers, without the
// runtime's poller registration, addresses and finalizer: a Poller reports
// readiness instead, so Read and Write never wait.
//
// An FD is usable after Init and must not be copied.
type FD struct {
	fd    int32
	state atomic.Uint32 // fdClosed | references held
}

// fdClosed is the state bit set by Close; the bits below count references.
const fdClosed = 1 << 31

var _ syscall.RawConn = (*FD)(nil)

// Init makes d refer to the open descriptor fd, which d now owns.
func (d *FD) Init(fd int) {
	d.fd = int32(fd)
	d.state.Store(0)
}

// incref takes a reference, unless d is closed.
func (d *FD) incref() bool {
	for {
		s := d.state.Load()
		if s&fdClosed != 0 {
			return false
		}
		if d.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// decref drops a reference, and closes the descriptor if it was the last
// one of a closed FD.
func (d *FD) decref() {
	if d.state.Add(^uint32(0)) == fdClosed {
		syscall.Close(int(d.fd))
	}
}

// Control calls f with the descriptor, which stays open until f returns.
func (d *FD) Control(f func(fd uintptr)) error {
	if !d.incref() {
		return ErrFDClosed
	}
	defer d.decref()
	f(uintptr(d.fd))
	return nil
}

// Do calls f with the descriptor, which stays open until f returns, and
// returns f's error, or ErrFDClosed without calling f.
func (d *FD) Do(f func(fd int) error) error {
	if !d.incref() {
		return ErrFDClosed
	}
	defer d.decref()
	return f(int(d.fd))
}

// Read calls f once with the descriptor, whatever f returns: the
// descriptor is non-blocking and a Poller says when to read again.
func (d *FD) Read(f func(fd uintptr) bool) error {
	if !d.incref() {
		return ErrFDClosed
	}
	defer d.decref()
	f(uintptr(d.fd))
	return nil
}

// Write calls f once with the descriptor, like Read.
func (d *FD) Write(f func(fd uintptr) bool) error { return d.Read(f) }

// Close marks d closed: later calls fail with ErrFDClosed, and the
// descriptor is closed once the calls running now return. Only the first
// Close counts; later ones return ErrFDClosed.
func (d *FD) Close() error {
	for {
		s := d.state.Load()
		if s&fdClosed != 0 {
			return ErrFDClosed
		}
		if d.state.CompareAndSwap(s, s|fdClosed) {
			if s == 0 {
				return syscall.Close(int(d.fd))
			}
			return nil
		}
	}
}
