package wire

import (
	"encoding/binary"
	"errors"

	"github.com/gobwas/ws"
)

// Opcodes of RFC 6455 frames.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// MaxFramePayload bounds the payload of one server frame that ReadFrame
// accepts. Server events are small JSON objects (a chat message is at most a
// few KiB); anything larger is treated as a protocol error rather than
// buffered.
const MaxFramePayload = 1 << 20

// ErrProtocol reports a server frame that breaks RFC 6455 for a server:
// a masked frame, reserved bits or opcodes, a fragmented or oversize
// control frame, or a payload over MaxFramePayload.
var ErrProtocol = errors.New("wire: protocol error in server frame")

// Frame is one parsed server frame. Payload aliases the buffer given to
// ReadFrame.
type Frame struct {
	Fin     bool
	Op      byte
	Payload []byte
}

// ReadFrame parses the first frame of b. It returns n == 0 and a nil error
// when b does not yet hold a complete frame, and ErrProtocol when the frame
// is not one a server may send.
func ReadFrame(b []byte) (f Frame, n int, err error) {
	if len(b) < 2 {
		return Frame{}, 0, nil
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 || b1&0x80 != 0 {
		return Frame{}, 0, ErrProtocol // RSV bits or a masked server frame
	}
	f.Fin = b0&0x80 != 0
	f.Op = b0 & 0x0f
	switch f.Op {
	case OpContinuation, OpText, OpBinary:
	case OpClose, OpPing, OpPong:
		if !f.Fin || b1&0x7f > 125 {
			return Frame{}, 0, ErrProtocol
		}
	default:
		return Frame{}, 0, ErrProtocol
	}
	hdr := 2
	length := uint64(b1 & 0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return Frame{}, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(b[2:4]))
		hdr = 4
	case 127:
		if len(b) < 10 {
			return Frame{}, 0, nil
		}
		length = binary.BigEndian.Uint64(b[2:10])
		hdr = 10
	}
	if length > MaxFramePayload {
		return Frame{}, 0, ErrProtocol
	}
	end := hdr + int(length)
	if len(b) < end {
		return Frame{}, 0, nil
	}
	f.Payload = b[hdr:end]
	return f, end, nil
}

// FrameLen reports how many bytes the frame starting at b occupies in total,
// or 0 when b is too short to tell. It lets a reader size a buffer for a
// frame that has only partly arrived.
func FrameLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	length := int(b[1] & 0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return 0
		}
		return 4 + int(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		if len(b) < 10 {
			return 0
		}
		l := binary.BigEndian.Uint64(b[2:10])
		if l > MaxFramePayload {
			return 0
		}
		return 10 + int(l)
	}
	return 2 + length
}

// AppendClientFrame appends to dst a final client frame of opcode op
// carrying payload, masked with mask as RFC 6455 requires of clients.
// payload itself is left unchanged.
func AppendClientFrame(dst []byte, op byte, payload []byte, mask [4]byte) []byte {
	dst = append(dst, 0x80|op)
	n := len(payload)
	switch {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// CloseCode reports the status code carried by a close frame's payload,
// or 1005 (no status received) when it carries none.
func CloseCode(payload []byte) int {
	if len(payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(payload))
}

// ClosePayload returns the payload of a close frame with the given code and
// no reason.
func ClosePayload(code int) []byte {
	return []byte{byte(code >> 8), byte(code)}
}
