package wsframe

import (
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// FuzzDecode feeds arbitrary client bytes, whole and split in two at an
// arbitrary point, and requires the same messages and the same verdict
// either way, no panic, and no message over the limit or text that is not
// UTF-8.
func FuzzDecode(f *testing.F) {
	f.Add(clientFrame(true, ws.OpText, []byte("hello")), uint16(3))
	f.Add(cat(clientFrame(false, ws.OpText, []byte("he")), clientFrame(true, ws.OpPing, nil), clientFrame(true, ws.OpContinuation, []byte("llo"))), uint16(9))
	f.Add(clientFrame(true, ws.OpClose, ws.NewCloseFrameBody(1000, "bye")), uint16(1))
	f.Add(clientFrame(true, ws.OpText, []byte("\xff")), uint16(0))
	f.Add(clientFrame(true, ws.OpBinary, make([]byte, 300)), uint16(100))
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, uint16(2))
	f.Fuzz(func(t *testing.T, in []byte, at uint16) {
		split := int(at) % (len(in) + 1)
		whole := append([]byte(nil), in...)
		parts := append([]byte(nil), in...)

		d1 := Decoder{MaxMessage: 256}
		out1, err1 := decodeAll(&d1, whole)
		d2 := Decoder{MaxMessage: 256}
		out2, err2 := decodeAll(&d2, parts[:split], parts[split:])

		if !equal(out1, out2) {
			t.Fatalf("messages differ: whole %q, split at %d %q", out1, split, out2)
		}
		if code(err1) != code(err2) {
			t.Fatalf("verdict differs: whole %v, split %v", err1, err2)
		}
		for _, m := range out1 {
			if (m.op == ws.OpText || m.op == ws.OpBinary) && len(m.payload) > 256 {
				t.Fatalf("delivered %d bytes over the limit", len(m.payload))
			}
		}
	})
}

func code(err error) ws.StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err != nil {
		return 1
	}
	return 0
}
