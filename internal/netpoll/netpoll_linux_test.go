package netpoll

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type chanHandler chan Event

func (c chanHandler) OnReady(ev Event) { c <- ev }

func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func expectEvent(t *testing.T, c chanHandler, want Event) {
	t.Helper()
	select {
	case ev := <-c:
		if ev&want != want {
			t.Fatalf("event = %b, want bits %b", ev, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no event, want %b", want)
	}
}

func expectNoEvent(t *testing.T, c chanHandler) {
	t.Helper()
	select {
	case ev := <-c:
		t.Fatalf("unexpected event %b", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestOneShotAndResume(t *testing.T) {
	p, err := New(Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, b := socketPair(t)
	h := make(chanHandler, 4)
	if err := p.Add(a, h); err != nil {
		t.Fatal(err)
	}
	expectNoEvent(t, h)

	unix.Write(b, []byte("x"))
	expectEvent(t, h, Readable)
	// One-shot: more data does not report again until Resume.
	unix.Write(b, []byte("y"))
	expectNoEvent(t, h)
	// Data is still unread, so Resume reports at once.
	if err := p.Resume(a); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, h, Readable)

	buf := make([]byte, 8)
	if n, _ := unix.Read(a, buf); n != 2 {
		t.Fatalf("read %d bytes, want 2", n)
	}
	p.Resume(a)
	expectNoEvent(t, h)

	unix.Shutdown(b, unix.SHUT_WR)
	expectEvent(t, h, Hangup)
}

func TestDelStopsReports(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, b := socketPair(t)
	h := make(chanHandler, 4)
	if err := p.Add(a, h); err != nil {
		t.Fatal(err)
	}
	if err := p.Del(a); err != nil {
		t.Fatal(err)
	}
	unix.Write(b, []byte("x"))
	expectNoEvent(t, h)
}

func TestCloseIsIdempotentAndRefusesAdd(t *testing.T) {
	p, err := New(Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := socketPair(t)
	if err := p.Add(a, make(chanHandler, 1)); err != ErrClosed {
		t.Fatalf("Add after Close = %v, want ErrClosed", err)
	}
}

func TestSaturatedWorkersDoNotDeadlockDel(t *testing.T) {
	p, err := New(Config{Workers: 1, Queue: 1, Events: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan struct{})
	var fds []int
	for range 8 {
		a, b := socketPair(t)
		fds = append(fds, a)
		unix.Write(b, []byte("x"))
	}
	// Every handler deletes its descriptor while the queue is full.
	var count int
	h := handlerFunc(func(Event) {
		count++
		if count == len(fds) {
			close(done)
		}
	})
	for _, fd := range fds {
		fd := fd
		if err := p.Add(fd, handlerFunc(func(ev Event) { p.Del(fd); h(ev) })); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handlers deadlocked")
	}
}

type handlerFunc func(Event)

func (f handlerFunc) OnReady(ev Event) { f(ev) }

// TestIdleWaitIsNotASystemCall checks that an idle Poller waits in the Go
// runtime's poller ("IO wait"), not inside a blocking epoll_wait: a
// goroutine blocked in a system call keeps its P until the runtime takes
// it back, and with few Ps everything else waits meanwhile.
func TestIdleWaitIsNotASystemCall(t *testing.T) {
	p, err := New(Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, b := socketPair(t)
	h := make(chanHandler, 1)
	if err := p.Add(a, h); err != nil {
		t.Fatal(err)
	}
	unix.Write(b, []byte("x"))
	expectEvent(t, h, Readable) // the loop has run at least once

	deadline := time.Now().Add(10 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		if state = waitLoopState(t); state == "IO wait" {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the idle wait loop is in state %q, want \"IO wait\"", state)
}

// waitLoopState returns the scheduler state of the (first) Poller wait
// loop goroutine, as a goroutine dump prints it.
func waitLoopState(t *testing.T) string {
	buf := make([]byte, 1<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(dump, "\n\n") {
		if !strings.Contains(g, "netpoll.(*Poller).wait(") {
			continue
		}
		head, _, _ := strings.Cut(g, "\n") // goroutine 7 [IO wait]:
		_, state, _ := strings.Cut(head, "[")
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",") // [IO wait, 2 minutes]
		return state
	}
	t.Fatal("no wait loop goroutine in the dump")
	return ""
}
