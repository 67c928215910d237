package protocol

import (
	"encoding/binary"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// AppendJSON appends the JSON encoding of ev to dst.
func AppendJSON(dst []byte, ev *Event) []byte {
	dst = append(dst, `{"type":`...)
	dst = AppendString(dst, ev.Type)
	if ev.ClientID != "" {
		dst = append(dst, `,"client_id":`...)
		dst = AppendString(dst, ev.ClientID)
	}
	if ev.Code != "" {
		dst = append(dst, `,"code":`...)
		dst = AppendString(dst, ev.Code)
	}
	if ev.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = AppendString(dst, ev.ID)
	}
	if hasMessage(ev.Type) {
		dst = append(dst, `,"message":`...)
		dst = AppendString(dst, ev.Message)
	}
	dst = append(dst, `,"timestamp":"`...)
	dst = ev.Time.UTC().AppendFormat(dst, TimestampLayout)
	dst = append(dst, '"')
	if ev.Room != "" {
		dst = append(dst, `,"room":`...)
		dst = AppendString(dst, ev.Room)
	}
	if ev.Type == TypeMessage || ev.Type == TypeWelcome || ev.Type == TypeAck {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, ev.Seq, 10)
	}
	switch ev.Type {
	case TypeWelcome, TypePresence, TypeConnection, TypeDisconnection:
		dst = append(dst, `,"member_count":`...)
		dst = strconv.AppendInt(dst, int64(ev.MemberCount), 10)
	}
	if ev.Type == TypeWelcome {
		dst = append(dst, `,"members":`...)
		if ev.MembersJSON == nil {
			dst = append(dst, "[]"...)
		}
		dst = append(dst, ev.MembersJSON...)
		dst = append(dst, `,"max_message_bytes":`...)
		dst = strconv.AppendInt(dst, int64(ev.MaxMessageBytes), 10)
		dst = append(dst, `,"gap":`...)
		dst = strconv.AppendBool(dst, ev.Gap)
		dst = append(dst, `,"epoch":`...)
		dst = AppendString(dst, ev.Epoch)
	}
	return append(dst, '}')
}

// hasMessage reports whether events of type typ carry "message": the
// seed's types and error do; welcome, presence, ack, pong and typing do not.
func hasMessage(typ string) bool {
	switch typ {
	case TypeWelcome, TypePresence, TypeAck, TypePong, TypeTyping:
		return false
	}
	return true
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaping like encoding/json:
// quotes, backslashes, control characters, <, > and & (safe inside HTML),
// U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// scratch holds JSON encodings while their frames are built.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// NewFrame returns ev as one unmasked, final WebSocket text frame: the
// header followed by the JSON payload, in a single allocation of exactly
// its size. The frame is immutable and can be written as is to every
// recipient.
func NewFrame(ev *Event) []byte {
	bp := scratch.Get().(*[]byte)
	payload := AppendJSON((*bp)[:0], ev)
	f := Frame(ws.OpText, payload)
	*bp = payload
	scratch.Put(bp)
	return f
}

// Frame returns an unmasked, final frame of type op carrying payload.
func Frame(op ws.OpCode, payload []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	f := make([]byte, ws.HeaderSize(h)+len(payload))
	n := putHeader(f, op, len(payload))
	copy(f[n:], payload)
	return f
}

// CloseFrame returns an unmasked close frame with code and reason.
func CloseFrame(code ws.StatusCode, reason string) []byte {
	return Frame(ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

// putHeader writes a final, unmasked frame header for a payload of n bytes
// into b, which must hold ws.HeaderSize bytes for it, and returns the
// header's length. (gobwas/ws writes headers only to an io.Writer; this is
// its layout, appended in place.)
func putHeader(b []byte, op ws.OpCode, n int) int {
	b[0] = 0x80 | byte(op)
	switch {
	case n < 126:
		b[1] = byte(n)
		return 2
	case n <= 0xffff:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:4], uint16(n))
		return 4
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
		return 10
	}
}
