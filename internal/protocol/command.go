package protocol

import "encoding/json"

// Command types a chat.v1 client may send.
const (
	CommandMessage = "message"
	CommandPing    = "ping"
	CommandTyping  = "typing"
)

// MaxCommandID is the longest id a command may carry, in bytes. An id is
// printable ASCII without spaces (U+0021 to U+007E), so that it travels
// safely wherever it is kept, such as a NATS header.
const MaxCommandID = 64

// commandEnvelope is what a message command may take besides its text's
// escaped bytes: the keys, quotes and braces (about 40 bytes) and an id of
// MaxCommandID bytes escaped at six bytes each (384).
const commandEnvelope = 512

// CommandFrameLimit returns the largest text frame a chat.v1 client may
// send when messages are limited to maxMessage bytes: a message command
// whose text has maxMessage bytes, every one escaped as \u00XX (six
// bytes, the longest JSON escape of a byte), in its envelope. The limit on
// the text itself stays maxMessage.
func CommandFrameLimit(maxMessage int) int { return 6*maxMessage + commandEnvelope }

// Command is a JSON command from a chat.v1 client.
type Command struct {
	Type string
	// Text is the text of a message command.
	Text string
	// ID is the client-chosen id of a message or ping command; "" when it
	// has none.
	ID string
}

// ParseCommand reads the text frame payload of a chat.v1 client. A
// payload is a command when, after JSON white space, it starts with '{',
// is valid JSON and its object has a "type" member; anything else is a
// chat message, its whole text the message, and isCommand is false. A
// command with an unknown type or wrong fields has a problem, a sentence
// for the client; cmd then carries what could be read of it (its id, for
// the answer). Keys are matched exactly and unknown keys are ignored; of
// a key given twice the last counts.
func ParseCommand(payload []byte) (cmd Command, isCommand bool, problem string) {
	i := 0
	for i < len(payload) && (payload[i] == ' ' || payload[i] == '\t' || payload[i] == '\n' || payload[i] == '\r') {
		i++
	}
	if i == len(payload) || payload[i] != '{' {
		return Command{}, false, ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return Command{}, false, ""
	}
	raw, ok := fields["type"]
	if !ok {
		return Command{}, false, ""
	}
	typ, ok := jsonString(raw)
	if !ok {
		return Command{}, true, `"type" must be a string`
	}
	cmd.Type = typ
	if raw, ok := fields["id"]; ok && (typ == CommandMessage || typ == CommandPing) {
		id, ok := jsonString(raw)
		if !ok || !validID(id) {
			return cmd, true, `"id" must be a string of 1 to 64 printable ASCII characters, no spaces`
		}
		cmd.ID = id
	}
	switch typ {
	case CommandMessage:
		text, ok := jsonString(fields["text"])
		if !ok {
			return cmd, true, `a message command needs "text", a string`
		}
		cmd.Text = text
	case CommandPing, CommandTyping:
	default:
		if id, ok := jsonString(fields["id"]); ok && validID(id) {
			cmd.ID = id // for the answer
		}
		return cmd, true, "unknown command type"
	}
	return cmd, true, ""
}

// validID reports whether id may be a command's id.
func validID(id string) bool {
	if id == "" || len(id) > MaxCommandID {
		return false
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// jsonString decodes raw, reporting whether it is a JSON string (and not
// null, which json.Unmarshal would leave unset).
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
