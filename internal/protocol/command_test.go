package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	long := strings.Repeat("i", MaxCommandID)
	tests := []struct {
		in        string
		isCommand bool
		want      Command
		problem   bool
	}{
		// Chat messages: not an object with a type.
		{"hello", false, Command{}, false},
		{"", false, Command{}, false},
		{`{"hello"}`, false, Command{}, false},
		{`{"text":"hi"}`, false, Command{}, false},
		{`{"type":"message"`, false, Command{}, false},
		{`["type","message"]`, false, Command{}, false},
		{`x{"type":"ping"}`, false, Command{}, false},
		{`{"Type":"ping"}`, false, Command{}, false}, // keys are exact
		// Commands.
		{`{"type":"message","text":"hi","id":"c1"}`, true, Command{Type: CommandMessage, Text: "hi", ID: "c1"}, false},
		{" \n\t{\"type\":\"message\",\"text\":\"{\\\"hello\\\"}\"}", true, Command{Type: CommandMessage, Text: `{"hello"}`}, false},
		{`{"type":"message","text":"","id":"` + long + `"}`, true, Command{Type: CommandMessage, ID: long}, false},
		{`{"type":"ping","id":"p1"}`, true, Command{Type: CommandPing, ID: "p1"}, false},
		{`{"type":"ping"}`, true, Command{Type: CommandPing}, false},
		{`{"type":"typing","extra":[1,2]}`, true, Command{Type: CommandTyping}, false},
		{`{"type":"typing","id":5}`, true, Command{Type: CommandTyping}, false}, // typing takes no id: ignored
		// Bad commands.
		{`{"type":"dance"}`, true, Command{Type: "dance"}, true},
		{`{"type":"dance","id":"d1"}`, true, Command{Type: "dance", ID: "d1"}, true},
		{`{"type":7}`, true, Command{}, true},
		{`{"type":null}`, true, Command{}, true},
		{`{"type":"message"}`, true, Command{Type: CommandMessage}, true},
		{`{"type":"message","text":null}`, true, Command{Type: CommandMessage}, true},
		{`{"type":"message","text":1,"id":"c9"}`, true, Command{Type: CommandMessage, ID: "c9"}, true},
		{`{"type":"message","text":"hi","id":""}`, true, Command{Type: CommandMessage}, true},
		{`{"type":"message","text":"hi","id":"` + long + `x"}`, true, Command{Type: CommandMessage}, true},
		{`{"type":"ping","id":{}}`, true, Command{Type: CommandPing}, true},
		{`{"type":"ping","id":"a b"}`, true, Command{Type: CommandPing}, true},
		{`{"type":"message","text":"x","id":"a\r\nb"}`, true, Command{Type: CommandMessage}, true},
		{`{"type":"message","text":"x","id":"é"}`, true, Command{Type: CommandMessage}, true},
	}
	for _, tt := range tests {
		cmd, isCommand, problem := ParseCommand([]byte(tt.in))
		if isCommand != tt.isCommand || cmd != tt.want || (problem != "") != tt.problem {
			t.Errorf("ParseCommand(%s) = %+v, %v, %q; want %+v, %v, problem %v", tt.in, cmd, isCommand, problem,
				tt.want, tt.isCommand, tt.problem)
		}
	}
}

// FuzzParseCommand checks ParseCommand against encoding/json: a payload
// is a command exactly when encoding/json decodes it as an object with a
// "type" member, and a good message command's text and id are what
// encoding/json decodes.
func FuzzParseCommand(f *testing.F) {
	f.Add([]byte(`{"type":"message","text":"hi","id":"c1"}`))
	f.Add([]byte(`{"hello"}`))
	f.Add([]byte(` {"type":"ping","id":"\u00e9"}`))
	f.Add([]byte(`{"type":"message","text":"\ud800","id":"~!"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		cmd, isCommand, problem := ParseCommand(payload)
		var obj map[string]any
		isObject := json.Unmarshal(payload, &obj) == nil && obj != nil &&
			bytes.HasPrefix(bytes.TrimLeft(payload, " \t\r\n"), []byte("{"))
		_, typed := obj["type"]
		if isCommand != (isObject && typed) {
			t.Fatalf("%q: isCommand %v, object %v with type %v", payload, isCommand, isObject, typed)
		}
		if !isCommand || problem != "" || cmd.Type != CommandMessage {
			return
		}
		if obj["text"] != cmd.Text {
			t.Fatalf("%q: text %q, encoding/json says %q", payload, cmd.Text, obj["text"])
		}
		if id, ok := obj["id"]; ok && id != cmd.ID || !ok && cmd.ID != "" {
			t.Fatalf("%q: id %q, encoding/json says %v", payload, cmd.ID, id)
		}
		if len(cmd.ID) > MaxCommandID || strings.ContainsFunc(cmd.ID, func(r rune) bool { return r <= ' ' || r > '~' }) {
			t.Fatalf("%q: id %q accepted", payload, cmd.ID)
		}
	})
}
