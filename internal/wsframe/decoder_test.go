package wsframe

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// clientFrame returns a masked frame as a client would send it.
func clientFrame(fin bool, op ws.OpCode, payload []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	f = ws.MaskFrameInPlace(f)
	return ws.MustCompileFrame(f)
}

type got struct {
	op      ws.OpCode
	payload string
}

func decodeAll(d *Decoder, chunks ...[]byte) ([]got, error) {
	var out []got
	for _, c := range chunks {
		err := d.Decode(c, func(op ws.OpCode, p []byte) bool {
			out = append(out, got{op, string(p)})
			return op != ws.OpClose
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

func TestDecodeMessages(t *testing.T) {
	closeBody := ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")
	tests := []struct {
		name    string
		input   []byte
		want    []got
		wantErr ws.StatusCode
	}{
		{"text", clientFrame(true, ws.OpText, []byte("hello")), []got{{ws.OpText, "hello"}}, 0},
		{"two texts", cat(clientFrame(true, ws.OpText, []byte("a")), clientFrame(true, ws.OpText, []byte("b"))), []got{{ws.OpText, "a"}, {ws.OpText, "b"}}, 0},
		{"fragmented with ping inside", cat(
			clientFrame(false, ws.OpText, []byte("he")),
			clientFrame(true, ws.OpPing, []byte("p")),
			clientFrame(false, ws.OpContinuation, []byte("ll")),
			clientFrame(true, ws.OpContinuation, []byte("o"))),
			[]got{{ws.OpPing, "p"}, {ws.OpText, "hello"}}, 0},
		{"binary delivered", clientFrame(true, ws.OpBinary, []byte{1, 2}), []got{{ws.OpBinary, "\x01\x02"}}, 0},
		{"close stops", cat(clientFrame(true, ws.OpClose, closeBody), clientFrame(true, ws.OpText, []byte("after"))),
			[]got{{ws.OpClose, string(closeBody)}}, 0},
		{"empty close", clientFrame(true, ws.OpClose, nil), []got{{ws.OpClose, ""}}, 0},
		{"unmasked", ws.MustCompileFrame(ws.NewTextFrame([]byte("x"))), nil, ws.StatusProtocolError},
		{"reserved opcode", clientFrame(true, ws.OpCode(3), []byte("x")), nil, ws.StatusProtocolError},
		{"rsv bit", func() []byte { f := clientFrame(true, ws.OpText, []byte("x")); f[0] |= 0x40; return f }(), nil, ws.StatusProtocolError},
		{"continuation without start", clientFrame(true, ws.OpContinuation, []byte("x")), nil, ws.StatusProtocolError},
		{"new text inside fragmented", cat(clientFrame(false, ws.OpText, []byte("a")), clientFrame(true, ws.OpText, []byte("b"))), nil, ws.StatusProtocolError},
		{"fragmented ping", clientFrame(false, ws.OpPing, []byte("x")), nil, ws.StatusProtocolError},
		{"oversize ping", clientFrame(true, ws.OpPing, make([]byte, 126)), nil, ws.StatusProtocolError},
		{"close of one byte", clientFrame(true, ws.OpClose, []byte{3}), nil, ws.StatusProtocolError},
		{"close with invalid code", clientFrame(true, ws.OpClose, ws.NewCloseFrameBody(1005, "")), nil, ws.StatusProtocolError},
		{"close with invalid utf8 reason", clientFrame(true, ws.OpClose, ws.NewCloseFrameBody(1000, "\xff")), nil, ws.StatusInvalidFramePayloadData},
		{"invalid utf8", clientFrame(true, ws.OpText, []byte("a\xffb")), nil, ws.StatusInvalidFramePayloadData},
		{"invalid utf8 across fragments", cat(clientFrame(false, ws.OpText, []byte("\xe2\x82")), clientFrame(true, ws.OpContinuation, []byte("x"))), nil, ws.StatusInvalidFramePayloadData},
		{"utf8 split across fragments is valid", cat(clientFrame(false, ws.OpText, []byte("\xe2\x82")), clientFrame(true, ws.OpContinuation, []byte("\xac"))), []got{{ws.OpText, "€"}}, 0},
		{"too big", clientFrame(true, ws.OpText, make([]byte, 17)), nil, ws.StatusMessageTooBig},
		{"too big once reassembled", cat(clientFrame(false, ws.OpText, make([]byte, 10)), clientFrame(true, ws.OpContinuation, make([]byte, 7))), nil, ws.StatusMessageTooBig},
		{"exactly the limit", clientFrame(true, ws.OpText, []byte(strings.Repeat("x", 16))), []got{{ws.OpText, strings.Repeat("x", 16)}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, then split at every position: the result must not change.
			for split := 0; split <= len(tt.input); split++ {
				in := append([]byte(nil), tt.input...) // Decode unmasks in place
				d := Decoder{MaxMessage: 16}
				out, err := decodeAll(&d, in[:split], in[split:])
				var code ws.StatusCode
				var ce *CloseError
				if errors.As(err, &ce) {
					code = ce.Code
				} else if err != nil {
					t.Fatalf("split %d: error %v is not a *CloseError", split, err)
				}
				if code != tt.wantErr {
					t.Fatalf("split %d: close code %d, want %d (err %v)", split, code, tt.wantErr, err)
				}
				if tt.wantErr == 0 && !equal(out, tt.want) {
					t.Fatalf("split %d: got %q, want %q", split, out, tt.want)
				}
			}
		})
	}
}

func equal(a, b []got) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestByteAtATime(t *testing.T) {
	var in []byte
	var want []got
	for i := range 20 {
		msg := strings.Repeat(string(rune('a'+i)), i*7)
		in = append(in, clientFrame(true, ws.OpText, []byte(msg))...)
		want = append(want, got{ws.OpText, msg})
	}
	d := Decoder{MaxMessage: 4096}
	var chunks [][]byte
	for i := range in {
		chunks = append(chunks, in[i:i+1])
	}
	out, err := decodeAll(&d, chunks...)
	if err != nil || !equal(out, want) {
		t.Fatalf("got %d messages, err %v", len(out), err)
	}
	if d.bufs != nil && len(d.bufs.carry) != 0 {
		t.Fatalf("carry holds %d bytes after complete input", len(d.bufs.carry))
	}
}

func TestIdleDecoderReleasesLargeBuffers(t *testing.T) {
	d := Decoder{MaxMessage: 8192}
	f := clientFrame(true, ws.OpText, make([]byte, 4000))
	if _, err := decodeAll(&d, f[:100], f[100:]); err != nil {
		t.Fatal(err)
	}
	if d.bufs != nil {
		t.Fatalf("the idle decoder keeps its buffers (carry capacity %d)", cap(d.bufs.carry))
	}
}

func TestDecoderOfWholeFramesHoldsNoBuffers(t *testing.T) {
	d := Decoder{MaxMessage: 4096}
	f1 := clientFrame(true, ws.OpText, []byte("hello"))
	f2 := clientFrame(true, ws.OpText, []byte("world"))
	if _, err := decodeAll(&d, f1, f2); err != nil {
		t.Fatal(err)
	}
	if d.bufs != nil {
		t.Fatal("a decoder that never saw a partial frame holds buffers")
	}
}

func TestDecodeAllocatesNothingForWholeFrames(t *testing.T) {
	f := clientFrame(true, ws.OpText, []byte("hello world"))
	buf := make([]byte, len(f))
	d := Decoder{MaxMessage: 4096}
	handle := func(ws.OpCode, []byte) bool { return true }
	n := testing.AllocsPerRun(100, func() {
		copy(buf, f) // Decode unmasks in place
		if err := d.Decode(buf, handle); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("Decode allocates %v times per frame", n)
	}
}
