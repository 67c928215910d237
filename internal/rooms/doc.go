// Package rooms owns chat rooms: their members, the order of their
// messages (seq within an epoch), the history kept for resume and the
// presence policy. Delivery is not its business: a member's frames go to its
// outbound.Conn, which queues and writes them.
//
// A room exists while it has members. Each incarnation of a room has an
// epoch, a random string carried by the welcome event: when a room is
// emptied and made again (or the server restarts) its seqs start again
// under a new epoch, so a client resuming with the old epoch is told there
// is a gap instead of being given a replay that looks continuous.
//
// History is bounded three ways: Config.History messages and
// Config.HistoryRoomBytes bytes per room, and Config.HistoryTotalBytes
// over all rooms, where the globally oldest messages go first. It is
// allocated as messages arrive, so a room with no messages costs nothing
// for it. A replay is cut to Config.ReplayBytes, newest messages kept,
// and the cut is reported as a gap: a resume never fails because of what
// it replays.
//
// Members are counted by client id: several connections of one client id
// (tabs and devices of one signed-in user) are one member, listed and
// counted once, announced when the first joins and when the last leaves;
// fan-out still loops over connections. Keeping anonymous client ids apart
// is the server's business (one connection per id and room).
//
// Events: messages, and join and leave notices in rooms of at most
// Config.NoticeLimit members, go to every member. The extension events
// (welcome, presence) go only to members that asked for them (the chat.v1
// subprotocol). Above the notice limit the joiner alone gets its own
// connection notice and the room gets at most one presence event (the
// member count) per Config.PresenceInterval, stretched in rooms over 1,000
// members so that presence never costs more than 1,000 frames per interval:
// a ramp of N clients costs O(N) frames rather than O(N²).
//
// Seam: a Broker orders every room's messages. Publish hands a message to
// the room's Feed; the broker numbers it (Message.Epoch and Seq) and hands
// it back, to every node's registry, through the deliver function of Open,
// where orderLocked keeps it in history and deliverLocked queues it for the
// room's local members. Nobody delivers a message but from its feed, the
// sender's node included, so every node sees one order. Config.Broker nil
// is the in-process broker (one process; a room's seqs start at 1 under a
// new epoch with every incarnation); package broker has one on NATS
// JetStream, where a room's history outlives its members and the process.
// The registry does not know which it has.
//
// A room is attached to its broker (Broker.Open, which may wait on the
// network, with no lock held) by the join that makes it, and detached by
// the leave that empties it.
//
// Lock order: a feed's lock (the in-process feed's, or the delivery lock
// of package broker's), then Registry.mu, then room.mu, then history.mu,
// then outbound.Conn's lock (taken by Send). In fact Registry.mu is never
// held with a feed's lock.
//
// Usage:
//
//	reg := rooms.New(rooms.Config{Metrics: m, Clock: pool.Clock})
//	m, err := reg.Join(rooms.JoinRequest{ClientID: "ana", Room: "general", Since: rooms.NoResume, Out: conn})
//	reg.Publish(m, []byte("hi"), time.Now())
//	reg.Leave(m)
//	reg.Close()
package rooms
