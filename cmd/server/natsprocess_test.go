package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chatplatform/chat/internal/servertest"
	"github.com/chatplatform/chat/internal/testkit"
)

// natsProcess is a nats-server process with JetStream.
type natsProcess struct {
	cmd *exec.Cmd
	url string
}

// startNATSProcess runs bin (nats-server) with JetStream storing in dir, on
// port of 127.0.0.1, until stopped or the end of the test, and waits until
// JetStream answers.
func startNATSProcess(t *testing.T, bin, dir string, port int) *natsProcess {
	t.Helper()
	cmd := exec.Command(bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	var log bytes.Buffer // written by exec's copying goroutine until Wait returns
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &natsProcess{cmd: cmd, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("nats-server on port %d:\n%s", port, log.String())
		}
	})
	testkit.WaitFor(t, "nats-server's JetStream answering", func() bool {
		nc, err := nats.Connect(p.url)
		if err != nil {
			return false
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return false
		}
		_, err = js.AccountInfo(t.Context())
		return err == nil
	})
	return p
}

// stop stops the process with SIGTERM and waits for it to exit.
func (p *natsProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// TestSeparateNATSProcess runs two chat server processes on a nats-server
// process: one room across them, and, after nats-server is stopped with
// SIGTERM and started again on its file store, the history is kept (a
// client that joins then gets every message from the first, in the same
// epoch) and the room goes on in one order.
func TestSeparateNATSProcess(t *testing.T) {
	bin := natsServerBin(t)
	chat := servertest.Build(t)
	dir, port := t.TempDir(), freePorts(t, 1)[0]
	ns := startNATSProcess(t, bin, dir, port)
	var urls, addrs []string
	for range 2 {
		_, addr := servertest.Process(t, chat, "-nats", ns.url)
		addrs = append(addrs, addr)
		urls = append(urls, "ws://"+addr)
	}
	clients := newChatClients(t, urls)
	sent := map[string]bool{}
	say := func(round string) {
		for _, c := range clients {
			for k := range 3 {
				text := fmt.Sprintf("%s-%s-%d", round, c.id, k)
				sent[text] = true
				c.send(text)
			}
		}
	}
	say("before")
	checkSameLines(t, clients, sent)

	epoch, _ := clients[0].position()
	ns.stop(t)
	for _, a := range addrs {
		testkit.WaitFor(t, "readyz 503 without NATS at "+a, func() bool { return servertest.Readyz(a) == http.StatusServiceUnavailable })
	}
	startNATSProcess(t, bin, dir, port)
	for _, a := range addrs {
		testkit.WaitFor(t, "readyz 200 after NATS came back at "+a, func() bool { return servertest.Readyz(a) == http.StatusOK })
	}
	late := startChatClient(t, &chatClient{t: t, id: "late", room: "r", urls: urls, next: 1, fromStart: true})
	say("after")
	checkSameLines(t, append(clients, late), sent)
	if _, _, _, r := late.state(); r != 0 {
		t.Fatalf("late client reconnected %d times", r)
	}
	if e, _ := late.position(); e != epoch {
		t.Fatalf("epoch %s after the NATS restart, was %s", e, epoch)
	}
}
