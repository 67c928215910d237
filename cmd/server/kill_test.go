package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/chatplatform/chat/internal/servertest"
	"github.com/chatplatform/chat/internal/testkit"
)

// startTestNATS runs a NATS server with JetStream in the test process.
func startTestNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	return servertest.NATS(t, &natsserver.Options{StoreDir: t.TempDir(), Port: -1})
}

// TestKillNode runs three chat server processes on one NATS, two clients
// on each in one room, all sending at once, and kills one node with
// SIGKILL halfway: its clients reconnect to the next node and resume with
// since and epoch, sending again what was not acknowledged (with the same
// ids). Every client ends with the same gap-free sequence of messages,
// every message sent exactly once in it.
func TestKillNode(t *testing.T) {
	ns := startTestNATS(t)
	bin := servertest.Build(t)
	var urls []string
	var procs []*os.Process
	for range 3 {
		p, addr := servertest.Process(t, bin, "-nats", ns.ClientURL())
		procs = append(procs, p)
		urls = append(urls, "ws://"+addr)
	}
	clients := newChatClients(t, urls)
	const each = 20 // at 50 a second, under the rate limit's burst
	sent := map[string]bool{}
	for _, c := range clients {
		for k := range each {
			sent[fmt.Sprintf("%s-%d", c.id, k)] = true
		}
	}
	var senders sync.WaitGroup
	half := make(chan struct{})
	for n, c := range clients {
		senders.Go(func() {
			for k := range each {
				if n == 0 && k == each/2 {
					close(half)
				}
				c.send(fmt.Sprintf("%s-%d", c.id, k))
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	<-half
	if err := procs[0].Kill(); err != nil {
		t.Fatal(err)
	}
	senders.Wait()
	checkSameLines(t, clients, sent)
	for _, c := range clients[:2] {
		if _, _, _, r := c.state(); r == 0 {
			t.Fatalf("%s, on the killed node, never reconnected", c.id)
		}
	}
}

// TestKillNodeUnderLoadgen runs the load generator (the built binary)
// with the three nodes' URLs and -reconnect, and kills one node with
// SIGKILL while messages flow through it: the clients that were on it
// reconnect to the others and resume, and the run reports nothing lost.
// One of the three senders (client 2) is on the killed node, frozen
// before it dies so that it takes some of that sender's messages with it:
// once resumed elsewhere the sender sends again, by id, what did not come
// back to it, so that nothing is lost or doubled.
func TestKillNodeUnderLoadgen(t *testing.T) {
	ns := startTestNATS(t)
	bin := servertest.Build(t)
	loadgen := filepath.Join(t.TempDir(), "loadgen")
	if out, err := exec.Command("go", "build", "-o", loadgen, "github.com/chatplatform/chat/cmd/loadgen").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/loadgen: %v\n%s", err, out)
	}
	var procs []*os.Process
	var addrs []string
	args := []string{"-clients", "30", "-senders", "3", "-rate", "15", "-ramp", "300", "-duration", "3s", "-settle", "5s",
		"-reconnect", "-backoff", "50ms", "-max-disconnects", "-1"}
	for range 3 {
		p, addr := servertest.Process(t, bin, "-nats", ns.ClientURL())
		procs = append(procs, p)
		addrs = append(addrs, addr)
		args = append(args, "-url", "ws://"+addr)
	}
	file := filepath.Join(t.TempDir(), "r.json")
	args = append(args, "-json", file)
	killed := make(chan error, 1)
	go func() {
		// Kill once messages flow through the node, after freezing it for a
		// while, so that its sender's latest messages are written to it and
		// never read: they are lost unless sent again elsewhere.
		testkit.WaitFor(t, "messages through the node to kill", func() bool {
			return scrape(addrs[2], "chat_broker_messages_total") >= 5
		})
		servertest.Freeze(t, procs[2])
		time.Sleep(500 * time.Millisecond)
		killed <- procs[2].Kill()
	}()
	out, err := exec.Command(loadgen, args...).CombinedOutput()
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("loadgen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Connected, Reconnects, Resumes, Sent, Lost, Duplicates, Reordered int64
		ResumeGaps                                                        int64            `json:"resume_gaps"`
		ConnectsPerURL                                                    map[string]int64 `json:"connects_per_url"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Connected != 30 || r.Sent == 0 || r.Lost != 0 || r.Duplicates != 0 || r.Reordered != 0 || r.Resumes < 10 || r.ResumeGaps != 0 {
		t.Fatalf("summary %s\n%s", b, out)
	}
	for _, a := range addrs {
		if r.ConnectsPerURL["ws://"+a] < 10 {
			t.Fatalf("connects per URL %v, want at least 10 each", r.ConnectsPerURL)
		}
	}
	if !strings.Contains(string(out), "per URL") {
		t.Fatalf("the text summary has no per-URL connects:\n%s", out)
	}
	t.Logf("%s", out) // the reconnect times, with -v
}

// scrape returns the value of an unlabelled series on addr's /metrics, -1
// when it cannot be read.
func scrape(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}
