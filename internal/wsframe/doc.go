// Package wsframe decodes the frames a WebSocket client sends, incrementally
// and without blocking: it is fed whatever bytes a non-blocking read
// returned, delivers every complete message, and keeps only the unfinished
// tail. That lets a server read a connection when epoll says it is readable
// and never wait for the rest of a half-sent frame.
//
// The decoder enforces RFC 6455 for the server side (masking, reserved bits
// and opcodes, fragmentation, control frame rules, close codes), a limit on
// message size and UTF-8 validity of text, reporting each violation as a
// *CloseError carrying the close code to answer with. Headers are parsed and
// checked with github.com/gobwas/ws.
//
// Usage:
//
//	d := wsframe.Decoder{MaxMessage: 4096}
//	n, _ := conn.Read(buf) // whatever is available
//	err := d.Decode(buf[:n], func(op ws.OpCode, payload []byte) bool {
//		// a complete text, binary, ping, pong or close message;
//		// payload is valid only until the callback returns
//		return true // false stops decoding
//	})
//	var ce *wsframe.CloseError
//	if errors.As(err, &ce) { /* send a close frame with ce.Code */ }
package wsframe
