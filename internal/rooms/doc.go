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
// Presence across nodes: a Broker that also implements Presence (package
// broker's) makes a room's members the union of every node's client ids.
// The join that makes a room opens its RoomPresence too (with no lock
// held; it waits for the other nodes' rosters, so the first welcome counts
// them). Under the room's lock the registry tells it when a client id
// appears on this node (its first connection here) and disappears (its
// last), and it applies the other nodes' changes (RemoteChange) under the
// same lock: the room keeps each other node's ids and, per id, the number
// of other nodes holding it. The member count is the number of distinct
// ids; the welcome lists this node's first, then the others', at most
// protocol.MaxListedMembers; an id is announced (join or leave notice, or
// presence event past Config.NoticeLimit, decided by the cluster's count)
// when it appears on the first node and when it is gone from the last,
// each node telling its own members. The presence events' bound holds per
// node, for its members, so it holds across the cluster.
//
// Lock order: a feed's lock (the in-process feed's, or the delivery lock
// of package broker's), then Registry.mu, then room.mu, then a
// RoomPresence's locks (taken by Joined and Left), then history.mu, then
// outbound.Conn's lock (taken by Send). In fact Registry.mu is never held
// with a feed's lock. A RoomPresence calls its apply function with no lock
// of its own held, and OpenPresence and Close are called with none of
// ours.
//
// Usage:
//
//	reg := rooms.New(rooms.Config{Metrics: m, Clock: pool.Clock})
//	m, err := reg.Join(rooms.JoinRequest{ClientID: "ana", Room: "general", Since: rooms.NoResume, Out: conn})
//	reg.Publish(m, []byte("hi"), time.Now())
//	reg.Leave(m)
//	reg.Close()
package rooms
