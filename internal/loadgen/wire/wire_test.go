package wire

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// serverFrame builds an unmasked server frame with gobwas/ws, an
// independent encoder.
func serverFrame(t testing.TB, fin bool, op ws.OpCode, payload []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, ws.Header{Fin: fin, OpCode: op, Length: int64(len(payload))}); err != nil {
		t.Fatal(err)
	}
	b.Write(payload)
	return b.Bytes()
}

func TestReadFrameSizes(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 200000} {
		payload := bytes.Repeat([]byte{'a'}, n)
		b := serverFrame(t, true, ws.OpText, payload)
		if FrameLen(b) != len(b) {
			t.Errorf("FrameLen(%d-byte payload) = %d, want %d", n, FrameLen(b), len(b))
		}
		for cut := range min(len(b), 12) {
			if _, k, err := ReadFrame(b[:cut]); k != 0 || err != nil {
				t.Fatalf("%d bytes of a %d-byte frame: n=%d err=%v, want incomplete", cut, len(b), k, err)
			}
		}
		f, k, err := ReadFrame(b)
		if err != nil || k != len(b) || !f.Fin || f.Op != OpText || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("payload %d: n=%d err=%v frame=%v/%v/%d", n, k, err, f.Fin, f.Op, len(f.Payload))
		}
	}
}

func TestReadFrameRejects(t *testing.T) {
	masked := AppendClientFrame(nil, OpText, []byte("hi"), [4]byte{1, 2, 3, 4})
	for name, b := range map[string][]byte{
		"masked":           masked,
		"rsv":              {0xC1, 0x00},
		"reserved opcode":  {0x83, 0x00},
		"fragmented ping":  {0x09, 0x00},
		"oversize control": append([]byte{0x89, 126, 0, 126}, make([]byte, 126)...),
		"oversize payload": {0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0},
	} {
		if _, _, err := ReadFrame(b); err != ErrProtocol {
			t.Errorf("%s: err = %v, want ErrProtocol", name, err)
		}
	}
}

func TestClientFrameDecodesWithGobwas(t *testing.T) {
	payload := []byte(strings.Repeat("héllo ", 40))
	b := AppendClientFrame(nil, OpText, payload, [4]byte{9, 8, 7, 6})
	r := bytes.NewReader(b)
	h, err := ws.ReadHeader(r)
	if err != nil || !h.Fin || h.OpCode != ws.OpText || !h.Masked || int(h.Length) != len(payload) {
		t.Fatalf("header %+v, %v", h, err)
	}
	got := make([]byte, h.Length)
	_, _ = r.Read(got)
	ws.Cipher(got, h.Mask, 0)
	if !bytes.Equal(got, payload) {
		t.Fatal("payload differs after unmasking")
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	p := Payload{Sender: 4294967295, Seq: 18446744073709551615, SentNanos: 9223372036854775807}
	for _, size := range []int{0, MinPayload, 128, 4096} {
		text := AppendPayload(nil, p, size)
		if len(text) != max(size, MinPayload) {
			t.Errorf("size %d: got %d bytes", size, len(text))
		}
		ev := []byte(`{"type":"message","client_id":"lg-1","message":"` + string(text) + `","room":"loadgen","seq":7}`)
		if typ := EventType(ev); string(typ) != "message" {
			t.Errorf("EventType = %q", typ)
		}
		got, ok := ParseMessage(ev)
		if !ok || got != p {
			t.Errorf("size %d: ParseMessage = %+v, %v", size, got, ok)
		}
	}
}

func TestParseRaw(t *testing.T) {
	p := Payload{Sender: 7, Seq: 42, SentNanos: 1700000000000000000}
	if got, ok := ParseRaw(AppendPayload(nil, p, 64)); !ok || got != p {
		t.Errorf("ParseRaw of a payload = %+v, %v", got, ok)
	}
	for _, text := range []string{"", "hello", "x~lg1~1~2~3~", "~lg1~1~2~", "~lg1~1~2~3"} {
		if got, ok := ParseRaw([]byte(text)); ok {
			t.Errorf("ParseRaw(%q) = %+v, want no payload", text, got)
		}
	}
}

func TestParseMessageRejects(t *testing.T) {
	for _, ev := range []string{
		`{"type":"message","message":"hello"}`,
		`{"type":"message","message":"~lg1~1~2~"}`,
		`{"type":"message","message":"~lg1~~2~3~"}`,
		`{"type":"message","message":"~lg1~1~2~99999999999999999999~"}`,
		`{"type":"message","message":"~lg1~99999999999~2~3~"}`,
		`{"type":"message","message":"~lg1~1a~2~3~"}`,
		`{"type":"message","message":"say \"message\":\"~lg1~1~2~3~"}`,
	} {
		if p, ok := ParseMessage([]byte(ev)); ok {
			t.Errorf("ParseMessage(%s) = %+v, want no payload", ev, p)
		}
	}
}

// FuzzReadFrame checks that any input, whole or split in two, parses to the
// same frames without panicking.
func FuzzReadFrame(f *testing.F) {
	f.Add(serverFrame(f, true, ws.OpText, []byte(`{"type":"welcome"}`)), 3)
	f.Add(append(serverFrame(f, false, ws.OpText, []byte("ab")), serverFrame(f, true, ws.OpContinuation, []byte("cd"))...), 5)
	f.Add(serverFrame(f, true, ws.OpPing, []byte("x")), 1)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		whole := frames(b)
		if len(b) == 0 {
			return
		}
		cut = ((cut % len(b)) + len(b)) % len(b)
		// Feed the first part, keep the incomplete tail, then add the rest,
		// as a reader does.
		split := frames(b[:cut])
		consumed := 0
		for _, f := range split {
			consumed += f
		}
		split = append(split, frames(b[consumed:])...)
		if len(whole) != len(split) {
			t.Fatalf("whole %v, split at %d %v", whole, cut, split)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("whole %v, split at %d %v", whole, cut, split)
			}
		}
	})
}

// frames returns the lengths of the complete frames at the start of b.
func frames(b []byte) []int {
	var out []int
	for {
		f, n, err := ReadFrame(b)
		if err != nil || n == 0 {
			return out
		}
		_ = EventType(f.Payload)
		_, _ = ParseMessage(f.Payload)
		out = append(out, n)
		b = b[n:]
	}
}

func BenchmarkParseMessageEvent(b *testing.B) {
	text := AppendPayload(nil, Payload{Sender: 12, Seq: 3456, SentNanos: 1764000000000000000}, 128)
	ev := []byte(`{"type":"message","client_id":"lg-abc-12","message":"` + string(text) + `","timestamp":"2026-11-25T17:41:35.123Z","room":"loadgen","seq":42}`)
	frame := serverFrame(b, true, ws.OpText, ev)
	b.ReportAllocs()
	for b.Loop() {
		f, _, _ := ReadFrame(frame)
		_ = EventType(f.Payload)
		if _, ok := ParseMessage(f.Payload); !ok {
			b.Fatal("no payload")
		}
	}
}

func TestWelcomeFields(t *testing.T) {
	w := []byte(`{"type":"welcome","client_id":"a","room":"r","seq":41,"member_count":2,"members":["a","b"],"gap":true,"epoch":"e-7"}`)
	if s, ok := Seq(w); !ok || s != 41 {
		t.Errorf("Seq = %d, %v", s, ok)
	}
	if !Gap(w) || string(Epoch(w)) != "e-7" {
		t.Errorf("Gap %v Epoch %q", Gap(w), Epoch(w))
	}
	old := []byte(`{"type":"welcome","client_id":"a","message":"\"seq\":9 \"gap\":true","seq":0,"gap":false}`)
	if s, ok := Seq(old); ok && s == 9 {
		t.Error("Seq read a key inside a string")
	}
	if Gap(old) || Epoch(old) != nil {
		t.Errorf("no gap and no epoch expected: %v %q", Gap(old), Epoch(old))
	}
	for _, ev := range []string{`{"seq":}`, `{"seq":-1}`, `{"seq":99999999999999999999}`, `{}`} {
		if s, ok := Seq([]byte(ev)); ok {
			t.Errorf("Seq(%s) = %d", ev, s)
		}
	}
	if e := Epoch([]byte(`{"epoch":"a\"b"}`)); e != nil {
		t.Errorf("escaped epoch kept: %q", e)
	}
}
