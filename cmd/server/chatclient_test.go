package main

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/testkit"
)

// hangDetector bounds a dial or a read that should succeed at once.
const hangDetector = 10 * time.Second

// chatEvent is what the tests read of a server event.
type chatEvent struct {
	Type     string `json:"type"`
	ClientID string `json:"client_id"`
	Message  string `json:"message"`
	ID       string `json:"id"`
	Seq      uint64 `json:"seq"`
	Epoch    string `json:"epoch"`
	Gap      bool   `json:"gap"`
	Code     string `json:"code"`
}

// line is one message as a client saw it.
type line struct {
	Seq  uint64
	From string
	Text string
}

// chatClient is a chat.v1 client of one room that, when its connection
// is lost, reconnects to the next of its URLs and resumes with since and
// epoch, then sends again, with the same ids, the messages it has no ack
// for (the server publishes an id once).
type chatClient struct {
	t    *testing.T
	id   string
	room string
	urls []string // ws://host:port of the nodes; static
	// fromStart: the first connection asks for the kept messages from
	// the room's first (since=0); static.
	fromStart bool

	wmu sync.Mutex // serialises writes (gorilla allows one writer)

	mu        sync.Mutex
	conn      *websocket.Conn   // the current connection; guarded by mu
	next      int               // index in urls of the next node to try; guarded by mu
	epoch     string            // guarded by mu
	seq       uint64            // the latest seq seen; guarded by mu
	lines     []line            // every message received, in order; guarded by mu
	pending   map[string]string // id -> text of sent messages without an ack; guarded by mu
	sent      int               // messages sent so far (ids are id.N); guarded by mu
	problems  []string          // what went wrong: a gap, a seq out of order; guarded by mu
	reconnect int               // connections after the first; guarded by mu
	stopped   bool              // guarded by mu
}

// newChatClient connects id to room on urls[first] and starts reading.
func newChatClient(t *testing.T, id, room string, urls []string, first int) *chatClient {
	t.Helper()
	return startChatClient(t, &chatClient{t: t, id: id, room: room, urls: urls, next: first})
}

// newChatClients connects two clients to room r on each of urls, c<i><j>
// the jth on urls[i].
func newChatClients(t *testing.T, urls []string) []*chatClient {
	t.Helper()
	var clients []*chatClient
	for i := range urls {
		for j := range 2 {
			clients = append(clients, newChatClient(t, fmt.Sprintf("c%d%d", i, j), "r", urls, i))
		}
	}
	return clients
}

// startChatClient connects c and starts reading.
func startChatClient(t *testing.T, c *chatClient) *chatClient {
	t.Helper()
	c.pending = map[string]string{}
	conn, err := c.dial()
	if err != nil {
		t.Fatalf("%s: %v", c.id, err)
	}
	t.Cleanup(c.stop)
	go c.read(conn)
	return c
}

// dial connects to the next URL, resuming from the latest seq seen, and
// reads the welcome.
func (c *chatClient) dial() (*websocket.Conn, error) {
	c.mu.Lock()
	u := c.urls[c.next%len(c.urls)]
	c.next++
	q := url.Values{"room": {c.room}}
	switch {
	case c.epoch != "":
		q.Set("since", strconv.FormatUint(c.seq, 10))
		q.Set("epoch", c.epoch)
	case c.fromStart:
		q.Set("since", "0")
	}
	c.mu.Unlock()
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: hangDetector}
	conn, _, err := d.Dial(u+"/ws/"+c.id+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	var w chatEvent
	conn.SetReadDeadline(time.Now().Add(hangDetector))
	if err := conn.ReadJSON(&w); err != nil || w.Type != protocol.TypeWelcome {
		conn.Close()
		return nil, fmt.Errorf("welcome from %s: %+v, %v", u, w, err)
	}
	conn.SetReadDeadline(time.Time{})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != "" && (w.Gap || w.Epoch != c.epoch) {
		c.problems = append(c.problems, fmt.Sprintf("resume on %s: gap %v, epoch %s (was %s)", u, w.Gap, w.Epoch, c.epoch))
	}
	if c.epoch == "" {
		c.epoch, c.seq = w.Epoch, w.Seq
		if c.fromStart {
			c.seq = 0 // the kept messages follow; the room's history has all of them here
		}
	}
	c.conn = conn
	return conn, nil
}

// read reads conn's events until it fails, then reconnects and sends the
// unacknowledged messages again, until stop.
func (c *chatClient) read(conn *websocket.Conn) {
	for {
		var ev chatEvent
		if err := conn.ReadJSON(&ev); err != nil {
			conn.Close()
			if conn = c.redial(); conn == nil {
				return
			}
			continue
		}
		c.mu.Lock()
		switch ev.Type {
		case protocol.TypeMessage:
			if ev.Seq != c.seq+1 {
				c.problems = append(c.problems, fmt.Sprintf("seq %d after %d (%q)", ev.Seq, c.seq, ev.Message))
			}
			c.seq = ev.Seq
			c.lines = append(c.lines, line{Seq: ev.Seq, From: ev.ClientID, Text: ev.Message})
		case protocol.TypeAck:
			delete(c.pending, ev.ID)
		case protocol.TypeError:
			c.problems = append(c.problems, fmt.Sprintf("error event %s: %s", ev.Code, ev.Message))
		}
		c.mu.Unlock()
	}
}

// redial connects to the next nodes until one answers, and sends the
// unacknowledged messages again; nil once stopped.
func (c *chatClient) redial() *websocket.Conn {
	for {
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if stopped {
			return nil
		}
		conn, err := c.dial()
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		c.mu.Lock()
		c.reconnect++
		resend := maps.Clone(c.pending)
		c.mu.Unlock()
		for id, text := range resend {
			c.write(conn, id, text)
		}
		return conn
	}
}

// send sends text as a message command with the next id; a message whose
// write fails is sent again after the reconnect.
func (c *chatClient) send(text string) {
	c.mu.Lock()
	c.sent++
	id := c.id + "." + strconv.Itoa(c.sent)
	c.pending[id] = text
	conn := c.conn
	c.mu.Unlock()
	c.write(conn, id, text)
}

func (c *chatClient) write(conn *websocket.Conn, id, text string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(hangDetector))
	_ = conn.WriteJSON(map[string]string{"type": "message", "text": text, "id": id})
}

// state returns a copy of what c received, how many sent messages have
// no ack, the problems seen and the reconnections.
func (c *chatClient) state() (lines []line, pending int, problems []string, reconnects int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]line(nil), c.lines...), len(c.pending), append([]string(nil), c.problems...), c.reconnect
}

// position returns the epoch and the latest seq c saw.
func (c *chatClient) position() (string, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch, c.seq
}

// stop closes the connection and stops reconnecting.
func (c *chatClient) stop() {
	c.mu.Lock()
	c.stopped = true
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// checkSameLines waits until every client has received want messages and
// has an ack for each of its own, then fails the test unless all received
// the same (seq, sender, text) sequence, seqs counting by one from the
// first client's first, every text in sent exactly once.
func checkSameLines(t *testing.T, clients []*chatClient, sent map[string]bool) {
	t.Helper()
	want := len(sent)
	report := func() string {
		var b strings.Builder
		for _, c := range clients {
			lines, pending, problems, reconnects := c.state()
			fmt.Fprintf(&b, "\n%s: %d messages, %d without an ack, %d reconnects, problems %v", c.id, len(lines), pending, reconnects, problems)
		}
		return b.String()
	}
	deadline := time.Now().Add(testkit.WaitTimeout)
	for {
		done := true
		for _, c := range clients {
			lines, pending, _, _ := c.state()
			done = done && len(lines) >= want && pending == 0
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d messages at every client, every one acknowledged:%s", want, report())
		}
		time.Sleep(10 * time.Millisecond)
	}
	first, _, _, _ := clients[0].state()
	seen := map[string]bool{}
	for i, l := range first {
		if i > 0 && l.Seq != first[i-1].Seq+1 {
			t.Fatalf("%s: seq %d after %d", clients[0].id, l.Seq, first[i-1].Seq)
		}
		if seen[l.Text] {
			t.Fatalf("%q delivered twice", l.Text)
		}
		if !sent[l.Text] {
			t.Fatalf("%q delivered but never sent", l.Text)
		}
		seen[l.Text] = true
	}
	if len(first) != want {
		t.Fatalf("%s got %d messages, want %d", clients[0].id, len(first), want)
	}
	for _, c := range clients {
		lines, _, problems, _ := c.state()
		if len(problems) > 0 {
			t.Fatalf("%s: %v", c.id, problems)
		}
		if len(lines) != want {
			t.Fatalf("%s got %d messages, want %d", c.id, len(lines), want)
		}
		for i := range lines {
			if lines[i] != first[i] {
				t.Fatalf("%s message %d is %+v, %s has %+v", c.id, i, lines[i], clients[0].id, first[i])
			}
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// natsServerBin returns the nats-server binary that .ci/run installs
// (NATS_SERVER names it, else $GOBIN, $GOPATH/bin or PATH has it).
func natsServerBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NATS_SERVER"); p != "" {
		return testkit.Need(t, p, "nats-server")
	}
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(goPath(), "bin")} {
		if p := filepath.Join(dir, "nats-server"); dir != "" && isExecutable(p) {
			return p
		}
	}
	return testkit.Need(t, "nats-server", "nats-server")
}

func goPath() string {
	if p := os.Getenv("GOPATH"); p != "" {
		return filepath.SplitList(p)[0]
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
