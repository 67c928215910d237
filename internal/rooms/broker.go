package rooms

import (
	"errors"
	"time"
)

// Broker orders the messages of rooms: a registry publishes a room's
// messages to it and receives the room's messages, ordered and numbered,
// from it. The registry does not know which broker it has; Config.Broker
// nil means the in-process one (one order per room incarnation of this
// process, no external service). Package broker has one on NATS JetStream.
type Broker interface {
	// Open attaches to room's ordered messages. deliver is called with
	// each of them in order, once, never for two at a time: first those
	// the broker keeps (already delivered when Open returns), then every
	// later one, until the Feed is closed. epoch is the room's epoch while
	// no message has been delivered. Open may block on the network.
	Open(room string, deliver func(Message)) (feed Feed, epoch string, err error)
	// Ready reports whether the broker can take messages now.
	Ready() bool
}

// Feed is one room's attachment to its broker.
type Feed interface {
	// Publish asks for msg (ClientID, Text and Time set) to be the room's
	// next message: it comes back through deliver, with its Epoch and Seq,
	// to every node's members, the sender's included. When it cannot be
	// ordered, failed is called with the reason instead, maybe later and
	// from another goroutine. Publish does not call deliver for any
	// message but msg.
	Publish(msg Message, failed func(error))
	// Close detaches from the room: deliver is not called once Close has
	// returned. Close may be called once.
	Close()
}

// Message is one message of a room, as its broker ordered it.
type Message struct {
	// Epoch names the incarnation of the room's history that Seq counts
	// in; Seq grows by one per message within it.
	Epoch string
	Seq   uint64

	ClientID string
	// ID is the id the sender gave the message (see Registry.PublishID),
	// "" for none: it is not shown to members, but every node remembers it
	// so that a resend on any node is not published again.
	ID   string
	Text []byte
	Time time.Time
}

// ErrUnavailable is what a Feed reports when its broker cannot order a
// message now; the sender is told with an error event.
var ErrUnavailable = errors.New("rooms: messages cannot be ordered now")
