// Package protocol defines the chat wire protocol: the JSON events the
// server sends, their encoding into ready-to-write WebSocket frames, the
// rules for client ids and room names, size limits and close codes. It does
// no I/O.
//
// # Protocol flow
//
// A client opens GET /ws/{client_id}?room=NAME&since=SEQ and upgrades to
// WebSocket. The server answers with a welcome event (room state, the
// latest seq, members), replays kept messages newer than since when it was
// given, and announces the join to the room. From then on every text frame
// the client sends is one chat message: its whole text is the message. The
// server broadcasts it to every member of the room, the sender included, as
// a message event carrying the next seq of the room; all members see one
// order. When the client leaves, the room gets a disconnection event.
//
// A client that offered chat.v1 may send JSON commands instead of raw text
// (see ParseCommand for the rule): a message with an id, which is acked to
// it and published once however often it is resent, a ping, answered with
// a pong, and typing, which the room's other chat.v1 members hear of.
//
// Every server frame is one JSON object, built once per broadcast:
//
//	ev := protocol.Event{Type: protocol.TypeMessage, ClientID: "ana", Room: "general", Message: "hi", Seq: 42, Time: now}
//	frame := protocol.NewFrame(&ev) // WebSocket text frame, shareable by every recipient
//
// Large rooms: per-member join and leave notices are sent only while a room
// is small; see the server's notice limit.
package protocol
