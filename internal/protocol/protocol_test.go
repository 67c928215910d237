package protocol

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/chatplatform/chat/internal/testkit"
)

var ts = time.Date(2026, 11, 25, 17, 41, 35, 123456789, time.FixedZone("x", 3600))

func TestEventJSON(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"message", Event{Type: TypeMessage, ClientID: "ana", Message: "hi", Room: "general", Time: ts, Seq: 42},
			`{"type":"message","client_id":"ana","message":"hi","timestamp":"2026-11-25T16:41:35.123Z","room":"general","seq":42}`},
		{"connection", Event{Type: TypeConnection, ClientID: "ana", Message: "ana joined the chat", Room: "general", Time: ts, MemberCount: 2},
			`{"type":"connection","client_id":"ana","message":"ana joined the chat","timestamp":"2026-11-25T16:41:35.123Z","room":"general","member_count":2}`},
		{"disconnection", Event{Type: TypeDisconnection, ClientID: "ana", Message: "ana left the chat", Room: "general", Time: ts, MemberCount: 1},
			`{"type":"disconnection","client_id":"ana","message":"ana left the chat","timestamp":"2026-11-25T16:41:35.123Z","room":"general","member_count":1}`},
		{"welcome", Event{Type: TypeWelcome, ClientID: "ana", Room: "r", Time: ts, Seq: 7, MemberCount: 3, MembersJSON: []byte(`["ana","bob"]`), MaxMessageBytes: 4096, Gap: true, Epoch: "2v0lfxq8m1k3c"},
			`{"type":"welcome","client_id":"ana","timestamp":"2026-11-25T16:41:35.123Z","room":"r","seq":7,"member_count":3,"members":["ana","bob"],"max_message_bytes":4096,"gap":true,"epoch":"2v0lfxq8m1k3c"}`},
		{"presence", Event{Type: TypePresence, Room: "r", Time: ts, MemberCount: 5000},
			`{"type":"presence","timestamp":"2026-11-25T16:41:35.123Z","room":"r","member_count":5000}`},
		{"error", Event{Type: TypeError, Code: ErrorRateLimited, Message: "slow down", Time: ts},
			`{"type":"error","code":"rate_limited","message":"slow down","timestamp":"2026-11-25T16:41:35.123Z"}`},
		{"bad command", Event{Type: TypeError, Code: ErrorBadCommand, ID: "c1", Message: "unknown command type", Time: ts},
			`{"type":"error","code":"bad_command","id":"c1","message":"unknown command type","timestamp":"2026-11-25T16:41:35.123Z"}`},
		{"ack", Event{Type: TypeAck, ID: "c1", Room: "r", Time: ts, Seq: 42},
			`{"type":"ack","id":"c1","timestamp":"2026-11-25T16:41:35.123Z","room":"r","seq":42}`},
		{"pong", Event{Type: TypePong, ID: "p<1>", Time: ts},
			`{"type":"pong","id":"p\u003c1\u003e","timestamp":"2026-11-25T16:41:35.123Z"}`},
		{"pong without id", Event{Type: TypePong, Time: ts},
			`{"type":"pong","timestamp":"2026-11-25T16:41:35.123Z"}`},
		{"typing", Event{Type: TypeTyping, ClientID: "ana", Room: "r", Time: ts},
			`{"type":"typing","client_id":"ana","timestamp":"2026-11-25T16:41:35.123Z","room":"r"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendJSON(nil, &tt.ev))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("not valid JSON")
			}
		})
	}
}

func TestStringEscapingMatchesEncodingJSON(t *testing.T) {
	inputs := []string{
		"", "plain", `quote " backslash \`, "<script>alert(1)</script>&amp;",
		"tab\tnewline\nreturn\r", "\x00\x01\x1f\x7f", "ünïcödé 日本語 🎉",
		"line\u2028para\u2029", "bad \xff utf8 \xc3", strings.Repeat("é", 100),
	}
	for _, in := range inputs {
		want, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		got := AppendString(nil, in)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzStringEscaping(f *testing.F) {
	f.Add("hello <b>&\"\\\n")
	f.Add("\xff\xfe\u2028")
	f.Fuzz(func(t *testing.T, in string) {
		want, _ := json.Marshal(in)
		if got := AppendString(nil, in); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", in, got, want)
		}
	})
}

// FuzzEventJSON checks AppendJSON against encoding/json: for every event
// type and any field values, the output is valid JSON that encoding/json
// decodes back to the same fields.
func FuzzEventJSON(f *testing.F) {
	f.Add(uint8(0), "ana", "hi", "general", "c1", "", uint64(42))
	f.Add(uint8(7), "a\"b", "<x>", "r\u2028", "\xff", "bad_command", uint64(0))
	types := []string{TypeMessage, TypeConnection, TypeDisconnection, TypeWelcome, TypePresence, TypeError,
		TypeAck, TypePong, TypeTyping}
	f.Fuzz(func(t *testing.T, typ uint8, clientID, message, room, id, code string, seq uint64) {
		ev := Event{Type: types[int(typ)%len(types)], ClientID: clientID, Message: message, Room: room, ID: id,
			Code: code, Seq: seq, Time: ts}
		out := AppendJSON(nil, &ev)
		var got map[string]any
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: not JSON: %v", out, err)
		}
		// encoding/json's own encoding of a string is what a decoder must
		// give back for it (invalid UTF-8 becomes U+FFFD either way).
		same := func(key, want string, present bool) {
			v, ok := got[key]
			if ok != present {
				t.Fatalf("%s: %q present %v, want %v", out, key, ok, present)
			}
			if !present {
				return
			}
			var w string
			b, _ := json.Marshal(want)
			json.Unmarshal(b, &w)
			if v != w {
				t.Fatalf("%s: %q = %q, want %q", out, key, v, w)
			}
		}
		same("type", ev.Type, true)
		same("client_id", clientID, clientID != "")
		same("id", id, id != "")
		same("code", code, code != "")
		same("room", room, room != "")
		same("message", message, hasMessage(ev.Type))
		if s, ok := got["seq"]; ok != (ev.Type == TypeMessage || ev.Type == TypeWelcome || ev.Type == TypeAck) || ok && s.(json.Number).String() != strconv.FormatUint(seq, 10) {
			t.Fatalf("%s: seq %v for type %s, want %d", out, s, ev.Type, seq)
		}
	})
}

func TestNewFrameIsAValidTextFrame(t *testing.T) {
	for _, size := range []int{0, 10, 125, 126, 1000, 70000} {
		ev := Event{Type: TypeMessage, ClientID: "ana", Message: strings.Repeat("x", size), Room: "general", Time: ts, Seq: 1}
		frame := NewFrame(&ev)
		f, err := testkit.ReadFrame(bytes.NewReader(frame))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !f.Header.Fin || f.Header.OpCode != ws.OpText || f.Header.Masked {
			t.Fatalf("size %d: header %+v", size, f.Header)
		}
		if want := AppendJSON(nil, &ev); !bytes.Equal(f.Payload, want) {
			t.Fatalf("size %d: payload differs", size)
		}
		if ws.HeaderSize(f.Header)+len(f.Payload) != len(frame) {
			t.Fatalf("size %d: trailing bytes", size)
		}
	}
}

func TestCloseFrame(t *testing.T) {
	f, err := testkit.ReadFrame(bytes.NewReader(CloseFrame(CodeSlowConsumer, "slow consumer")))
	if err != nil {
		t.Fatal(err)
	}
	code, reason := ws.ParseCloseFrameData(f.Payload)
	if f.Header.OpCode != ws.OpClose || code != 4001 || reason != "slow consumer" {
		t.Fatalf("got op %v code %d reason %q", f.Header.OpCode, code, reason)
	}
}

func TestAppendJSONAllocatesNothing(t *testing.T) {
	ev := Event{Type: TypeMessage, ClientID: "ana", Message: "hello <world>", Room: "general", Time: ts, Seq: 42}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &ev) }); n != 0 {
		t.Fatalf("AppendJSON allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = NewFrame(&ev) }); n != 1 {
		t.Fatalf("NewFrame allocates %v times, want 1 (the frame)", n)
	}
}

func BenchmarkNewFrame(b *testing.B) {
	ev := Event{Type: TypeMessage, ClientID: "ana", Message: strings.Repeat("x", 64), Room: "general", Time: ts, Seq: 42}
	b.ReportAllocs()
	for b.Loop() {
		_ = NewFrame(&ev)
	}
}
