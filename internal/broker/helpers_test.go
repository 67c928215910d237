package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chatplatform/chat/internal/broker"
	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
	"github.com/chatplatform/chat/internal/testkit"
)

// hangDetector bounds a read that should succeed at once.
const hangDetector = 10 * time.Second

// startNATS runs a NATS server with JetStream storing in dir, on port
// (-1: a fresh one) of 127.0.0.1, until it is shut down or the test ends.
func startNATS(t *testing.T, dir string, port int) *natsserver.Server {
	t.Helper()
	return servertest.NATS(t, &natsserver.Options{StoreDir: dir, Port: port})
}

// natsPort returns the port of a NATS client URL, to start a NATS server
// again where the nodes look for it.
func natsPort(t *testing.T, clientURL string) int {
	t.Helper()
	u, err := url.Parse(clientURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// node is a chat server joined to a NATS cluster.
type node struct {
	*servertest.Server
	b *broker.Broker
}

// startNode runs a chat server on a broker connected to natsURL.
func startNode(t *testing.T, natsURL string) *node {
	t.Helper()
	return startNodeWith(t, natsURL, broker.Config{}, rooms.Config{})
}

// startNodeWith is startNode with bcfg and rcfg (their URLs, Metrics,
// Logger and Broker set here).
func startNodeWith(t *testing.T, natsURL string, bcfg broker.Config, rcfg rooms.Config) *node {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	bcfg.URLs, bcfg.Metrics, bcfg.Logger = natsURL, m, log
	b, err := broker.Connect(context.Background(), bcfg)
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	t.Cleanup(b.Close)
	rcfg.Broker = b
	s := servertest.Start(t, "127.0.0.1:0", server.Config{Registry: reg, Metrics: m, Logger: log, Rooms: rcfg})
	return &node{Server: s, b: b}
}

// stop stops the chat server and closes its broker.
func (n *node) stop() {
	n.Stop()
	n.b.Close()
}

// ready returns the node's /readyz status code.
func (n *node) ready(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + n.Addr + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// event is what the tests read of a server event.
type event struct {
	Type        string   `json:"type"`
	ClientID    string   `json:"client_id"`
	Message     string   `json:"message"`
	Seq         uint64   `json:"seq"`
	Epoch       string   `json:"epoch"`
	Gap         bool     `json:"gap"`
	Code        string   `json:"code"`
	MemberCount int      `json:"member_count"`
	Members     []string `json:"members"`
}

// client is a chat.v1 client; a goroutine reads its events.
type client struct {
	t       *testing.T
	id      string
	conn    *websocket.Conn
	welcome event

	mu     sync.Mutex
	events []event // every event after the welcome; guarded by mu
}

// dial connects id to room on n, resuming from since and epoch when since
// is not rooms.NoResume, and reads the welcome.
func dial(t *testing.T, n *node, id, room string, since int64, epoch string) *client {
	t.Helper()
	q := url.Values{"room": {room}}
	if since != rooms.NoResume {
		q.Set("since", strconv.FormatInt(since, 10))
		q.Set("epoch", epoch)
	}
	d := websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: hangDetector}
	conn, _, err := d.Dial(n.URL()+"/ws/"+id+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", id, err)
	}
	c := &client{t: t, id: id, conn: conn}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(hangDetector))
	if err := conn.ReadJSON(&c.welcome); err != nil || c.welcome.Type != protocol.TypeWelcome {
		t.Fatalf("%s: welcome %+v, %v", id, c.welcome, err)
	}
	conn.SetReadDeadline(time.Time{})
	go c.read()
	return c
}

func (c *client) read() {
	for {
		var ev event
		if err := c.conn.ReadJSON(&ev); err != nil {
			return
		}
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.mu.Unlock()
	}
}

// messages returns the message events received so far.
func (c *client) messages() []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ms []event
	for _, ev := range c.events {
		if ev.Type == protocol.TypeMessage {
			ms = append(ms, ev)
		}
	}
	return ms
}

// waitMessages waits until c has n messages and returns them.
func (c *client) waitMessages(n int) []event {
	c.t.Helper()
	testkit.WaitFor(c.t, fmt.Sprintf("%d messages at %s", n, c.id), func() bool { return len(c.messages()) >= n })
	return c.messages()
}

// waitEvent waits for an event of type typ and returns it.
func (c *client) waitEvent(typ string) event {
	c.t.Helper()
	var got event
	testkit.WaitFor(c.t, typ+" event at "+c.id, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, ev := range c.events {
			if ev.Type == typ {
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

func (c *client) send(text string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		c.t.Fatalf("%s send: %v", c.id, err)
	}
}

// close closes c's connection.
func (c *client) close() {
	c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.conn.Close()
}

// checkRun fails the test unless ms are the messages seq from..from+len-1
// in order.
func checkRun(t *testing.T, who string, ms []event, from uint64) {
	t.Helper()
	for i, m := range ms {
		if m.Seq != from+uint64(i) {
			t.Fatalf("%s: message %d has seq %d, want %d (%+v)", who, i, m.Seq, from+uint64(i), m)
		}
	}
}

// connectBroker connects a broker to ns, closed when the test ends.
func connectBroker(t testing.TB, ns *natsserver.Server) (*broker.Broker, *metrics.Metrics) {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry())
	b, err := broker.Connect(context.Background(), broker.Config{URLs: ns.ClientURL(), Metrics: m})
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b, m
}
