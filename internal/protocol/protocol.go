package protocol

import (
	"time"

	"github.com/gobwas/ws"
)

// Event types sent by the server.
const (
	TypeWelcome       = "welcome"
	TypeConnection    = "connection"
	TypeMessage       = "message"
	TypeDisconnection = "disconnection"
	TypePresence      = "presence"
	TypeError         = "error"
	// TypeAck confirms a message command with an id to its sender, with
	// the message's seq (chat.v1).
	TypeAck = "ack"
	// TypePong answers a ping command (chat.v1).
	TypePong = "pong"
	// TypeTyping tells a room's other chat.v1 members that a client is
	// typing; it has no seq and is never kept.
	TypeTyping = "typing"
)

// Limits and defaults of the protocol.
const (
	// DefaultRoom is the room of a client that names none.
	DefaultRoom = "general"
	// DefaultMaxMessageBytes is the default limit on one client message.
	DefaultMaxMessageBytes = 4096
	// MaxListedMembers is how many member ids a welcome lists at most.
	MaxListedMembers = 100
	// TimestampLayout is RFC 3339 with milliseconds; times are in UTC.
	TimestampLayout = "2006-01-02T15:04:05.000Z07:00"
)

// Close codes of this protocol's own, in the private-use range; the others
// are RFC 6455's (see Close).
const (
	CodeIdleTimeout  = ws.StatusCode(4000) // no frame and no pong within the idle timeout
	CodeSlowConsumer = ws.StatusCode(4001) // outbound queue over its byte limit, or no write progress
	CodeTokenExpired = ws.StatusCode(4002) // the connection's signed token expired (auth.CloseTokenExpired)
	CodeReplaced     = ws.StatusCode(4003) // a newer connection of the same anonymous client_id took its place
)

// Error codes carried by error events.
const (
	ErrorRateLimited = "rate_limited"
	// ErrorBadCommand answers a JSON command that names an unknown type
	// or whose fields are wrong; the command is dropped.
	ErrorBadCommand = "bad_command"
	// ErrorUnavailable: the message could not be ordered (in a cluster,
	// NATS is unreachable) and was dropped; the client may send it again.
	ErrorUnavailable = "unavailable"
)

// Subprotocol is the WebSocket subprotocol that asks for this protocol's
// extension events (welcome, presence, error). A client that does not offer
// it gets only the seed protocol's connection, message and disconnection
// events.
const Subprotocol = "chat.v1"

// Event is one server-to-client event. Fields that are zero are omitted
// from the JSON, except those every type carries.
type Event struct {
	Type     string
	ClientID string
	Message  string
	Room     string
	Time     time.Time
	// Seq is the room sequence number of a message, or the room's latest
	// seq in a welcome.
	Seq uint64
	// MemberCount is the room's size, on welcome, presence and notices.
	MemberCount int
	// MembersJSON is the JSON array of member ids listed on a welcome, as
	// AppendString builds it; nil encodes as an empty array. Rooms keep it
	// encoded between joins.
	MembersJSON []byte
	// MaxMessageBytes is the message size limit, on a welcome.
	MaxMessageBytes int
	// Gap reports, on a welcome, that messages after since are not kept.
	Gap bool
	// Epoch names the incarnation of the room's history that Seq counts
	// in, on a welcome.
	Epoch string
	// Code is the machine-readable code of an error event.
	Code string
	// ID is the client-chosen id of the command an ack, pong or error
	// answers; "" omits it.
	ID string
}
