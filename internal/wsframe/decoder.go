package wsframe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// CloseError is a violation that ends the connection with Code.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

var _ error = (*CloseError)(nil)

func (e *CloseError) Error() string {
	return fmt.Sprintf("close %d: %s", e.Code, e.Reason)
}

// Violations reported by Decode, by close code.
var (
	ErrTooBig      = &CloseError{Code: ws.StatusMessageTooBig, Reason: "message too big"}
	ErrInvalidUTF8 = &CloseError{Code: ws.StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in text"}
)

func protocolError(reason string) *CloseError {
	return &CloseError{Code: ws.StatusProtocolError, Reason: reason}
}

// retainLimit is the largest buffer a Decoder keeps between messages; larger
// ones are released so that an idle connection holds no big buffer.
const retainLimit = 512

// Decoder decodes client-to-server frames. The zero value accepts messages
// of any size; set MaxMessage. A Decoder must not be used concurrently.
type Decoder struct {
	// MaxMessage is the largest message payload accepted, in bytes, after
	// reassembly of fragments. Zero means no limit. (32 bits keep a
	// Decoder, held by every connection, at 16 bytes.)
	MaxMessage int32

	fragOp  ws.OpCode
	inFrag  bool
	stopped bool
	bufs    *buffers // made at the first partial frame or fragment: most connections send whole frames or nothing
}

// buffers is what a Decoder keeps between calls.
type buffers struct {
	carry []byte // unparsed tail of earlier input
	frag  []byte // payload of the fragmented message being assembled
}

// buffers returns d's buffers, making them if need be.
func (d *Decoder) buffers() *buffers {
	if d.bufs == nil {
		d.bufs = new(buffers)
	}
	return d.bufs
}

// fragLen returns the bytes of the fragmented message assembled so far.
func (d *Decoder) fragLen() int {
	if d.bufs == nil {
		return 0
	}
	return len(d.bufs.frag)
}

// headerScratch is what parsing headers needs during one Decode call; it is
// pooled rather than kept in every Decoder, so that an idle connection does
// not carry it.
type headerScratch struct {
	rd  bytes.Reader
	buf [ws.MaxHeaderSize - 2]byte
}

var headerScratches = sync.Pool{New: func() any { return new(headerScratch) }}

// Decode consumes p, which may hold any number of frames and end in the
// middle of one, and calls handle for every complete message in order:
// text and binary messages (fragments reassembled), pings, pongs and
// closes. The payload is unmasked and is valid only until handle returns.
// Returning false from handle stops decoding; later calls then do nothing.
// A non-nil error is a *CloseError, after which the connection must close.
func (d *Decoder) Decode(p []byte, handle func(op ws.OpCode, payload []byte) bool) error {
	if d.stopped {
		return nil
	}
	buf := p
	carried := d.bufs != nil && len(d.bufs.carry) > 0
	if carried {
		d.bufs.carry = append(d.bufs.carry, p...)
		buf = d.bufs.carry
	}
	hs := headerScratches.Get().(*headerScratch)
	used, err := d.decode(buf, hs, handle)
	hs.rd.Reset(nil)
	headerScratches.Put(hs)
	rest := buf[used:]
	switch {
	case err != nil || d.stopped:
		d.bufs = nil
	case len(rest) == 0:
		if d.bufs != nil {
			d.bufs.carry = release(d.bufs.carry)
		}
	case carried: // buf is carry: move the tail to its start
		d.bufs.carry = d.bufs.carry[:copy(d.bufs.carry, rest)]
	default:
		b := d.buffers()
		b.carry = append(b.carry, rest...)
	}
	if b := d.bufs; b != nil && b.carry == nil && b.frag == nil {
		d.bufs = nil
	}
	return err
}

func release(b []byte) []byte {
	if cap(b) > retainLimit {
		return nil
	}
	return b[:0]
}

// decode handles complete frames at the start of buf and returns how many
// bytes it used.
func (d *Decoder) decode(buf []byte, hs *headerScratch, handle func(ws.OpCode, []byte) bool) (int, error) {
	used := 0
	for used < len(buf) && !d.stopped {
		hs.rd.Reset(buf[used:])
		h, err := ws.ReadHeaderBuffer(&hs.rd, hs.buf[:])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return used, nil
		}
		if err != nil {
			return used, protocolError(err.Error())
		}
		state := ws.StateServerSide
		if d.inFrag {
			state |= ws.StateFragmented
		}
		if err := ws.CheckHeader(h, state); err != nil {
			return used, protocolError(err.Error())
		}
		if !h.OpCode.IsControl() && d.MaxMessage > 0 && h.Length+int64(d.fragLen()) > int64(d.MaxMessage) {
			return used, ErrTooBig
		}
		hdrLen := len(buf) - used - hs.rd.Len()
		if int64(len(buf)-used-hdrLen) < h.Length {
			return used, nil // the payload has not fully arrived
		}
		start := used + hdrLen
		payload := buf[start : start+int(h.Length)]
		used = start + int(h.Length)
		ws.Cipher(payload, h.Mask, 0)
		if err := d.frame(h, payload, handle); err != nil {
			return used, err
		}
	}
	return used, nil
}

func (d *Decoder) frame(h ws.Header, payload []byte, handle func(ws.OpCode, []byte) bool) error {
	switch {
	case h.OpCode == ws.OpClose:
		if len(payload) == 1 {
			return protocolError("close payload of one byte")
		}
		if len(payload) >= 2 {
			code, reason := ws.ParseCloseFrameDataUnsafe(payload)
			if err := ws.CheckCloseFrameData(code, reason); err != nil {
				if errors.Is(err, ws.ErrProtocolInvalidUTF8) {
					return ErrInvalidUTF8
				}
				return protocolError(err.Error())
			}
		}
		d.deliver(ws.OpClose, payload, handle)
		return nil
	case h.OpCode.IsControl():
		d.deliver(h.OpCode, payload, handle)
		return nil
	case !h.Fin:
		if !d.inFrag {
			d.inFrag, d.fragOp = true, h.OpCode
		}
		b := d.buffers()
		b.frag = append(b.frag, payload...)
		return nil
	case d.inFrag: // final continuation
		b := d.buffers()
		b.frag = append(b.frag, payload...)
		op, msg := d.fragOp, b.frag
		d.inFrag = false
		if op == ws.OpText && !utf8.Valid(msg) {
			return ErrInvalidUTF8
		}
		d.deliver(op, msg, handle)
		b.frag = release(b.frag)
		return nil
	default:
		if h.OpCode == ws.OpText && !utf8.Valid(payload) {
			return ErrInvalidUTF8
		}
		d.deliver(h.OpCode, payload, handle)
		return nil
	}
}

func (d *Decoder) deliver(op ws.OpCode, payload []byte, handle func(ws.OpCode, []byte) bool) {
	if !handle(op, payload) {
		d.stopped = true
	}
}
