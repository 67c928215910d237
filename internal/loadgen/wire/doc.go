// Package wire is the load generator's view of the chat wire protocol: it
// parses server WebSocket frames incrementally from a byte buffer, builds
// masked client frames, and encodes and scans the measurement payload that
// simulated senders put in their chat messages.
//
// It parses only what a measurement needs. A server frame is not decoded as
// JSON: [EventType] finds the event's "type" and [ParseMessage] finds the
// payload marker inside a "message" event. Both are safe on arbitrary input
// because the server escapes every '"' inside JSON strings, so the byte
// sequences they look for cannot appear inside a string value.
//
// The payload is plain ASCII text:
//
//	~lg1~<sender>~<seq>~<unix nanos>~xxxxxxxx...
//
// padded with 'x' to the requested size. Usage:
//
//	msg := wire.AppendPayload(nil, wire.Payload{Sender: 3, Seq: 1, SentNanos: now}, 128)
//	frame := wire.AppendClientFrame(nil, wire.OpText, msg, mask)
//	...
//	for {
//		f, n, err := wire.ReadFrame(buf)
//		if err != nil || n == 0 { break } // error, or need more bytes
//		buf = buf[n:]
//		if f.Op == wire.OpText {
//			if p, ok := wire.ParseMessage(f.Payload); ok { ... }
//		}
//	}
package wire
