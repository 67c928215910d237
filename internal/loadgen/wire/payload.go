package wire

import (
	"bytes"
	"strconv"
)

// Marker starts every payload the load generator sends; it tells its own
// messages apart from anything else said in the room.
const Marker = "~lg1~"

// MinPayload is the smallest payload size that holds the marker and the
// largest field values; AppendPayload pads shorter requests to it.
const MinPayload = len(Marker) + 10 + 1 + 20 + 1 + 20 + 1

// Payload is what a simulated sender puts in a chat message.
type Payload struct {
	Sender    uint32 // global index of the sending client
	Seq       uint64 // per-sender sequence, from 1
	SentNanos int64  // send time, Unix nanoseconds
}

// AppendPayload appends p encoded as text and padded with 'x' to size bytes
// (or to MinPayload when size is smaller).
func AppendPayload(dst []byte, p Payload, size int) []byte {
	start := len(dst)
	dst = append(dst, Marker...)
	dst = strconv.AppendUint(dst, uint64(p.Sender), 10)
	dst = append(dst, '~')
	dst = strconv.AppendUint(dst, p.Seq, 10)
	dst = append(dst, '~')
	dst = strconv.AppendInt(dst, p.SentNanos, 10)
	dst = append(dst, '~')
	for len(dst)-start < max(size, MinPayload) {
		dst = append(dst, 'x')
	}
	return dst
}

var (
	typeKey    = []byte(`"type":"`)
	messageKey = []byte(`"message":"` + Marker)
)

// EventType returns the value of the "type" field of a server event, or nil
// when there is none. The result aliases event.
func EventType(event []byte) []byte {
	i := bytes.Index(event, typeKey)
	if i < 0 {
		return nil
	}
	rest := event[i+len(typeKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// ParseMessage finds a load generator payload in the "message" field of a
// server event and decodes it. It reports false when the event carries
// no well-formed payload.
func ParseMessage(event []byte) (p Payload, ok bool) {
	i := bytes.Index(event, messageKey)
	if i < 0 {
		return Payload{}, false
	}
	return parseFields(event[i+len(messageKey):])
}

// parseFields decodes the fields that follow the marker.
func parseFields(rest []byte) (p Payload, ok bool) {
	sender, rest, ok := scanUint(rest)
	if !ok || sender > 1<<32-1 {
		return Payload{}, false
	}
	seq, rest, ok := scanUint(rest)
	if !ok {
		return Payload{}, false
	}
	sent, _, ok := scanUint(rest)
	if !ok || sent > 1<<63-1 {
		return Payload{}, false
	}
	return Payload{Sender: uint32(sender), Seq: seq, SentNanos: int64(sent)}, true
}

// ParseRaw decodes a load generator payload that is a whole message text,
// as a raw-protocol server relays it. It reports false for any other text.
func ParseRaw(text []byte) (p Payload, ok bool) {
	if !bytes.HasPrefix(text, []byte(Marker)) {
		return Payload{}, false
	}
	return parseFields(text[len(Marker):])
}

// scanUint parses decimal digits up to a '~' and returns what follows it.
func scanUint(b []byte) (v uint64, rest []byte, ok bool) {
	for i, c := range b {
		switch {
		case c == '~' && i > 0:
			return v, b[i+1:], true
		case c >= '0' && c <= '9' && i < 20:
			d := uint64(c - '0')
			if v > (1<<64-1-d)/10 {
				return 0, nil, false
			}
			v = v*10 + d
		default:
			return 0, nil, false
		}
	}
	return 0, nil, false
}
