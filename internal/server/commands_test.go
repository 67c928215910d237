package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/testkit"
)

// command sends v, JSON-encoded, as a text frame.
func (c *client) command(v map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(string(b))
}

// cmdEvent is an event with the fields of the command answers.
type cmdEvent struct {
	event
	ID string `json:"id"`
}

// nextCmd reads the next event, skipping notices and presence.
func (c *client) nextCmd() cmdEvent {
	c.t.Helper()
	for {
		c.conn.SetReadDeadline(time.Now().Add(hangDetector))
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("%s: read: %v", c.id, err)
		}
		var ev cmdEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			c.t.Fatalf("%s: bad JSON %q: %v", c.id, data, err)
		}
		switch ev.Type {
		case protocol.TypeConnection, protocol.TypeDisconnection, protocol.TypePresence:
			continue
		}
		return ev
	}
}

// untilMessage reads events until the message text, and returns the
// events before it, notices and presence left out.
func (c *client) untilMessage(text string) []cmdEvent {
	c.t.Helper()
	var before []cmdEvent
	for range 1000 {
		ev := c.nextCmd()
		if ev.Type == protocol.TypeMessage && ev.Message == text {
			return before
		}
		before = append(before, ev)
	}
	c.t.Fatalf("%s: no message %q among 1000 events", c.id, text)
	return nil
}

// TestCommands has a chat.v1 client send each command in a room with
// another chat.v1 client and a seed client: the seed client sees only the
// seed's event types, and commands' text as plain messages; the chat.v1
// clients get what each command answers, and nothing else.
func TestCommands(t *testing.T) {
	ts := startServer(t, server.Config{Rooms: rooms.Config{TypingInterval: time.Hour}})
	seed := dialURL(t, websocket.DefaultDialer, "ws://"+ts.Addr+"/ws/seed?room=c", "seed")
	ana := ts.dial(t, "ana", "c")
	bob := ts.dial(t, "bob", "c")

	ana.command(map[string]any{"type": "message", "text": "hi <all>", "id": "c1"})
	ack := ana.nextCmd()
	if ack.Type != protocol.TypeAck || ack.ID != "c1" || ack.Seq != 1 || ack.Room != "c" {
		t.Fatalf("ana got %+v, want the ack of c1 with seq 1", ack)
	}
	for _, c := range []*client{ana, bob} {
		if ev := c.nextCmd(); ev.Type != protocol.TypeMessage || ev.Message != "hi <all>" || ev.Seq != 1 || ev.ClientID != "ana" {
			t.Fatalf("%s got %+v, want ana's message", c.id, ev)
		}
	}
	ana.command(map[string]any{"type": "ping", "id": "p1"})
	if ev := ana.nextCmd(); ev.Type != protocol.TypePong || ev.ID != "p1" || ev.Timestamp == "" {
		t.Fatalf("ana got %+v, want pong p1", ev)
	}
	ana.command(map[string]any{"type": "ping"})
	if ev := ana.nextCmd(); ev.Type != protocol.TypePong || ev.ID != "" {
		t.Fatalf("ana got %+v, want a pong without id", ev)
	}
	for range 3 {
		ana.command(map[string]any{"type": "typing"})
	}
	// A command without an id has no ack.
	ana.command(map[string]any{"type": "message", "text": "no id"})
	// Bad commands are answered and dropped.
	bad := []string{`{"type":"dance","id":"d1"}`, `{"type":"message","id":"m2"}`, `{"type":"message","text":"x","id":""}`, `{"type":5}`}
	for _, b := range bad {
		ana.send(b)
	}
	// Raw text from a chat.v1 client that is not a command is a message.
	ana.send(`{"hello"}`)
	ana.send(`{"text":"not typed"}`)
	ana.send("end")

	wantMessages := []string{"no id", `{"hello"}`, `{"text":"not typed"}`}
	check := func(c *client, end string, wantTyping int, errIDs []string) {
		t.Helper()
		var msgs, errs []string
		typing := 0
		for _, ev := range c.untilMessage(end) {
			switch ev.Type {
			case protocol.TypeMessage:
				msgs = append(msgs, ev.Message)
			case protocol.TypeTyping:
				if ev.ClientID != "ana" || ev.Room != "c" || ev.Seq != 0 {
					t.Errorf("%s: typing event %+v", c.id, ev)
				}
				typing++
			case protocol.TypeError:
				if ev.Code != protocol.ErrorBadCommand {
					t.Errorf("%s: error %+v, want bad_command", c.id, ev)
				}
				errs = append(errs, ev.ID)
			default:
				t.Errorf("%s: unexpected %+v", c.id, ev)
			}
		}
		if fmt.Sprint(msgs) != fmt.Sprint(wantMessages) || typing != wantTyping || fmt.Sprint(errs) != fmt.Sprint(errIDs) {
			t.Errorf("%s: messages %q, %d typing, errors for ids %q; want %q, %d, %q", c.id, msgs, typing, errs,
				wantMessages, wantTyping, errIDs)
		}
	}
	check(ana, "end", 0, []string{"d1", "m2", "", ""})
	check(bob, "end", 1, nil)
	// Raw text from a seed client is a message, whatever it looks like.
	seed.send(`{"type":"ping","id":"s1"}`)
	seed.send(`{"type":"typing"}`)
	seed.send("seed end")
	wantMessages = []string{`{"type":"ping","id":"s1"}`, `{"type":"typing"}`}
	check(ana, "seed end", 0, nil)
	check(bob, "seed end", 0, nil)

	// The seed client saw ana's message, the plain messages and the end,
	// and no other event type.
	var seen []string
	for {
		ev := seed.next()
		switch ev.Type {
		case protocol.TypeConnection, protocol.TypeDisconnection:
			continue
		case protocol.TypeMessage:
			seen = append(seen, ev.Message)
		default:
			t.Fatalf("the seed client got %+v", ev)
		}
		if ev.Message == "seed end" {
			break
		}
	}
	want := []string{"hi <all>", "no id", `{"hello"}`, `{"text":"not typed"}`, "end", `{"type":"ping","id":"s1"}`, `{"type":"typing"}`, "seed end"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("the seed client saw %q, want %q", seen, want)
	}
	for label, want := range map[string]float64{"message": 2, "ping": 2, "typing": 3, "bad": 4} {
		if got := ts.counter(t, "chat_commands_total", "type", label); got != want {
			t.Errorf("chat_commands_total{type=%q} = %v, want %v", label, got, want)
		}
	}
}

// TestMessageIDSurvivesReconnect resends a message with its id after a
// reconnect: it is acked with its first seq and not published again.
func TestMessageIDSurvivesReconnect(t *testing.T) {
	ts := startServer(t, server.Config{})
	bob := ts.dial(t, "bob", "d")
	ana := ts.dial(t, "ana", "d")
	ana.command(map[string]any{"type": "message", "text": "once", "id": "k-1"})
	if ack := ana.nextCmd(); ack.Type != protocol.TypeAck || ack.Seq != 1 {
		t.Fatalf("ana got %+v, want an ack with seq 1", ack)
	}
	bob.expectMessage("once")

	ana.conn.Close()
	testkit.WaitFor(t, "ana to leave", func() bool { return bob.next().Type == protocol.TypeDisconnection })
	again, _, replay := resume(t, ts.Addr, "ana", "d", "&since=0")
	if len(replay) != 1 || replay[0].Message != "once" {
		t.Fatalf("replay %+v, want the message once", replay)
	}
	again.command(map[string]any{"type": "message", "text": "once", "id": "k-1"})
	if ack := again.nextCmd(); ack.Type != protocol.TypeAck || ack.ID != "k-1" || ack.Seq != 1 {
		t.Fatalf("the resend got %+v, want the ack of seq 1", ack)
	}
	again.command(map[string]any{"type": "message", "text": "next", "id": "k-2"})
	if ack := again.nextCmd(); ack.Type != protocol.TypeAck || ack.Seq != 2 {
		t.Fatalf("got %+v, want the ack of k-2 with seq 2", ack)
	}
	if ev := bob.untilMessage("next"); len(ev) != 0 {
		t.Fatalf("bob got %+v before the next message: the resend was published", ev)
	}
}

// TestTypingIsEphemeral checks that typing is not kept: a resume replays
// messages only. In a room over the typing limit it is not forwarded.
func TestTypingIsEphemeral(t *testing.T) {
	ts := startServer(t, server.Config{Rooms: rooms.Config{TypingLimit: 2}})
	ana := ts.dial(t, "ana", "e")
	bob := ts.dial(t, "bob", "e")
	ana.command(map[string]any{"type": "typing"})
	if ev := bob.nextCmd(); ev.Type != protocol.TypeTyping {
		t.Fatalf("bob got %+v, want typing", ev)
	}
	ana.roundTrip("said")
	_, _, replay := resume(t, ts.Addr, "carol", "e", "&since=0")
	if len(replay) != 1 || replay[0].Type != protocol.TypeMessage || replay[0].Message != "said" {
		t.Fatalf("replay %+v, want the one message", replay)
	}
	// Carol takes the room over the limit of 2.
	bob.command(map[string]any{"type": "typing"})
	bob.send("after")
	if ev := ana.untilMessage("after"); len(ev) != 0 {
		t.Fatalf("ana got %+v in a room over the typing limit", ev)
	}
}

// TestMessageCommandLimit checks that a message command's limit is on its
// text: a text of the limit whose escapes double the frame is accepted,
// one byte more closes with 1009, as raw text over the limit does.
func TestMessageCommandLimit(t *testing.T) {
	ts := startServer(t, server.Config{})
	ana := ts.dial(t, "ana", "f")
	full := strings.Repeat(`"`, protocol.DefaultMaxMessageBytes)
	ana.command(map[string]any{"type": "message", "text": full})
	ana.expectMessage(full)
	ana.command(map[string]any{"type": "message", "text": full + "x"})
	if code := ana.expectClose(); code != 1009 {
		t.Fatalf("close %d, want 1009", code)
	}
	raw := ts.dial(t, "raw", "f")
	raw.send(strings.Repeat("x", protocol.DefaultMaxMessageBytes+1))
	if code := raw.expectClose(); code != 1009 {
		t.Fatalf("raw text over the limit: close %d, want 1009", code)
	}
	ts.waitCounter(t, 2, "chat_connections_closed_total", "reason", "too_big")
}
