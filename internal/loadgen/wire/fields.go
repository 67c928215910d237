package wire

import "bytes"

// Subprotocol is the WebSocket subprotocol a client offers to receive the
// server's extension events (welcome, presence, error). A server that does
// not know it answers without one, which a client must accept too.
const Subprotocol = "chat.v1"

var (
	seqKey   = []byte(`"seq":`)
	gapTrue  = []byte(`"gap":true`)
	epochKey = []byte(`"epoch":"`)
)

// Seq returns the value of the "seq" field of a server event and whether
// it has one. Like [EventType] it relies on the server escaping every '"'
// inside strings, so the key cannot appear inside a value.
func Seq(event []byte) (int64, bool) {
	i := bytes.Index(event, seqKey)
	if i < 0 {
		return 0, false
	}
	v, _, ok := scanNumber(event[i+len(seqKey):])
	return v, ok
}

// Gap reports whether a welcome event says "gap":true: messages after the
// resume point were not replayed.
func Gap(welcome []byte) bool {
	return bytes.Contains(welcome, gapTrue)
}

// Epoch returns the "epoch" string of a welcome event, or nil when it has
// none or when the value holds an escape (an epoch is sent back verbatim in
// a URL, so only plain values are kept). The result aliases welcome.
func Epoch(welcome []byte) []byte {
	i := bytes.Index(welcome, epochKey)
	if i < 0 {
		return nil
	}
	rest := welcome[i+len(epochKey):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return nil
	}
	return rest[:j]
}

// scanNumber parses a non-negative JSON integer at the start of b.
func scanNumber(b []byte) (v int64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		v = v*10 + int64(b[i]-'0')
	}
	if i == 0 || (i < len(b) && b[i] >= '0' && b[i] <= '9') {
		return 0, nil, false
	}
	return v, b[i:], true
}
