package netpoll

import (
	"errors"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// open reports whether fd is an open descriptor.
func open(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// A Close while a call holds the descriptor closes it only when that call
// returns: the number cannot be reused under it.
func TestFDCloseWaitsForRunningCalls(t *testing.T) {
	a, b, err := pair()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(b)
	var d FD
	d.Init(a)
	inside, release := make(chan struct{}), make(chan struct{})
	var openInside bool
	var wg sync.WaitGroup
	wg.Go(func() {
		d.Control(func(fd uintptr) {
			close(inside)
			<-release
			openInside = open(int(fd))
		})
	})
	<-inside
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !open(a) {
		t.Fatal("the descriptor was closed while a call held it")
	}
	if err := d.Read(func(uintptr) bool { t.Error("Read ran after Close"); return true }); !errors.Is(err, ErrFDClosed) {
		t.Fatalf("Read after Close = %v, want ErrFDClosed", err)
	}
	close(release)
	wg.Wait()
	if !openInside {
		t.Fatal("the descriptor was closed inside the running call")
	}
	if open(a) {
		t.Fatal("the descriptor is still open after the last call returned")
	}
	if err := d.Close(); !errors.Is(err, ErrFDClosed) {
		t.Fatalf("second Close = %v, want ErrFDClosed", err)
	}
}

// An FD without running calls is closed by Close itself, once, however many
// goroutines use and close it.
func TestFDConcurrentUseAndClose(t *testing.T) {
	for range 100 {
		a, b, err := pair()
		if err != nil {
			t.Fatal(err)
		}
		var d FD
		d.Init(a)
		var wg sync.WaitGroup
		closes := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for range 50 {
					d.Write(func(fd uintptr) bool { unix.Write(int(fd), []byte("x")); return true })
				}
				closes <- d.Close()
			})
		}
		wg.Wait()
		close(closes)
		succeeded := 0
		for err := range closes {
			if err == nil {
				succeeded++
			}
		}
		if succeeded != 1 || open(a) {
			t.Fatalf("%d Close calls succeeded, descriptor open: %v", succeeded, open(a))
		}
		unix.Close(b)
	}
}

func pair() (int, int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}
