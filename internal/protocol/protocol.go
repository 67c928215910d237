package protocol

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

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
)

// Limits and defaults of the protocol.
const (
	// DefaultRoom is the room of a client that names none.
	DefaultRoom = "general"
	// MaxNameChars is the longest client id or room name, in characters.
	MaxNameChars = 32
	// DefaultMaxMessageBytes is the default limit on one client message.
	DefaultMaxMessageBytes = 4096
	// MaxListedMembers is how many member ids a welcome lists at most.
	MaxListedMembers = 100
	// TimestampLayout is RFC 3339 with milliseconds; times are in UTC.
	TimestampLayout = "2006-01-02T15:04:05.000Z07:00"
)

// Close codes the server sends. The 1xxx ones are RFC 6455's; 4000 and 4001
// are this protocol's own (the private-use range).
const (
	CloseNormal        = ws.StatusNormalClosure           // 1000: echo of the client's close
	CloseGoingAway     = ws.StatusGoingAway               // 1001: server shutting down
	CloseProtocolError = ws.StatusProtocolError           // 1002
	CloseUnsupported   = ws.StatusUnsupportedData         // 1003: binary frame
	CloseInvalidUTF8   = ws.StatusInvalidFramePayloadData // 1007
	ClosePolicy        = ws.StatusPolicyViolation         // 1008: rate limit kept being exceeded
	CloseTooBig        = ws.StatusMessageTooBig           // 1009
	CloseInternal      = ws.StatusInternalServerError     // 1011: the server failed handling this connection
	CloseIdleTimeout   = ws.StatusCode(4000)              // no frame and no pong within the idle timeout
	CloseSlowConsumer  = ws.StatusCode(4001)              // outbound queue over its byte limit
)

// Error codes carried by error events.
const (
	ErrorRateLimited = "rate_limited"
)

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
	// Code is the machine-readable code of an error event.
	Code string
}

// ErrBadName describes why a client id or room name is refused.
var ErrBadName = errors.New("bad name")

// ValidateName reports why name cannot be a client id or room name: empty,
// over MaxNameChars characters, invalid UTF-8 or containing a control
// character. The error wraps ErrBadName and reads well as an HTTP reason.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrBadName)
	case utf8.RuneCountInString(name) > MaxNameChars:
		return fmt.Errorf("%w: longer than %d characters", ErrBadName, MaxNameChars)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: contains a control character", ErrBadName)
		}
	}
	return nil
}
