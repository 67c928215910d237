//go:build !linux

package netpoll

// Poller is unavailable on this system; New always fails.
type Poller struct{}

// New reports ErrNotSupported: epoll exists only on Linux.
func New(Config) (*Poller, error) { return nil, ErrNotSupported }

// Add reports ErrNotSupported.
func (*Poller) Add(int, Handler) error { return ErrNotSupported }

// Resume reports ErrNotSupported.
func (*Poller) Resume(int) error { return ErrNotSupported }

// Set does nothing.
func (*Poller) Set(int, Handler) {}

// Del reports ErrNotSupported.
func (*Poller) Del(int) error { return ErrNotSupported }

// Close does nothing.
func (*Poller) Close() error { return nil }
