package testkit

import (
	"fmt"
	"io"

	"github.com/gobwas/ws"
)

// MaxFrame bounds the payload ReadFrame accepts.
const MaxFrame = 1 << 20

// ReadFrame reads one frame from r, unmasking its payload if it is masked.
// A payload over MaxFrame is an error.
func ReadFrame(r io.Reader) (ws.Frame, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return ws.Frame{}, err
	}
	if h.Length > MaxFrame {
		return ws.Frame{}, fmt.Errorf("frame of %d bytes is over %d", h.Length, MaxFrame)
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return ws.Frame{}, err
	}
	if h.Masked {
		ws.Cipher(payload, h.Mask, 0)
	}
	return ws.Frame{Header: h, Payload: payload}, nil
}
