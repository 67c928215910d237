// Package broker is a rooms.Broker on NATS JetStream: it makes the chat
// servers that share a NATS cluster one chat, where a room is one room
// across all of them.
//
// One stream (Config.Stream, default CHAT) holds every room's messages, a
// subject per room (CHAT.room.<base64url(room)>), bounded by the history
// limits: Config.History messages per room (MaxMsgsPerSubject), MaxBytes
// over all rooms, MaxAge; the oldest go first. The stream is created if
// missing. The body of a message is its text; headers carry its seq,
// epoch, sender and time.
//
// Order, seq and epoch: the stream is the one sequencer. A node publishes
// a room's message with Chat-Seq one past the room's latest and
// Nats-Expected-Last-Subject-Sequence set to that latest's stream
// sequence, so the stream stores it only if no other message took the
// place meanwhile (compare and set); when one did, the node looks the
// latest up and tries again. A room's seq therefore grows by exactly one
// per message on every node, and a resume's gap is known from the seqs
// alone, as in one process. The price is one publish in flight per room
// per node and a retry per lost race: a room's rate is bounded by about
// one message per stream round trip (see the README's figures). The epoch
// is a random string the first message of a history chooses and every
// later one copies; it changes when the room's history starts again
// (every kept message expired, or the stream was purged or made again),
// since the next message then follows nothing. So that a room with nothing
// kept has one epoch on every node before its first message, the node
// that opens it publishes a marker (seq 0, never delivered, with a fresh
// epoch) by the same compare and set; the others read it. A history that
// restarts under live members (its messages expired while the room was
// open) takes the epoch of the node whose message comes first: members
// welcomed before are told of a gap on their next resume, which is
// conservative.
//
// Delivery: each room with members on a node has an ordered consumer of
// its subject, from its first kept message; every message, the node's own
// included, is delivered from it, never from a publish acknowledgement, so
// that every node sees one order. The ordered consumer recreates itself
// from the last delivered sequence after a loss (a NATS restart), which
// refetches whatever the room missed.
//
// A stream made again (memory storage on a NATS server that restarted)
// starts its sequences from 1 again, so resuming after the last delivered
// one would skip the new messages. The broker notes the stream's creation
// time at Connect and after every reconnect; when it changed, or when a
// room's consumer delivers a message of a new epoch past seq 1 (it
// skipped that history's start), the room's publisher starts its consumer
// again from the stream's first message and forgets the room's position,
// so the new history is delivered whole, in its new epoch. Until the
// stream is known to exist after a reconnect, Ready is false.
//
// Message ids: a message with an id (rooms.Message.ID) is published with
// Nats-Msg-Id set from the room, the sender and the id, so the stream
// stores it once within its duplicate window, whichever node it came
// through: a client whose node died before acknowledging sends it again
// through another, and the copy is dropped even when it races the first
// one's delivery there.
//
// Replicated streams (Config.Replicas 3): a look-up of a room's latest
// message is answered by the stream's leader (direct gets are allowed only
// with one replica, since a replica may lag), and a publish refused
// because another node's message of the room is still being replicated
// waits, doubling from minRetryWait to maxRetryWait, before looking again.
//
// Embedded: StartEmbedded runs a NATS server with JetStream in the process
// (routed to others when EmbeddedConfig.Cluster is set, JetStream then
// clustered) and waits for its meta leader; Connect then joins through its
// ClientURL like any other.
//
// Presence (see rooms.Presence) is on core NATS, not JetStream, on the
// same connection. Each node has a random id per process start and is the
// only writer of its own members. Subjects: Stream.node (heartbeats every
// Config.Heartbeat, 3 s by default; a hello when the node starts or
// reconnects, answered to its inbox with the live nodes each knows; a
// goodbye from Close), Stream.sync (a node opening a room asks every node
// for its roster of it), Stream.inbox.<node> (rosters, and a roster asked
// of one node) and Stream.pres.<base64url(room)> (the room's deltas, and
// with each heartbeat the version of the latest delta of each room that
// changed). Messages are JSON. A node's changes of a room gather for
// batchDelay (5 ms) and leave as one delta, numbered per (node, room
// incarnation): a receiver that finds a number skipped (core NATS is at
// most once, a slow consumer drops) asks that node for its roster again,
// which replaces what it knew; NATS keeps one publisher's order, so a
// roster includes every delta received before it. OpenPresence waits,
// at most a second, for the roster of every node it knows alive; Connect
// waits for the first answer to its hello (at most 250 ms) so that it
// knows them. A node not heard for three heartbeats is gone, checked
// every third of a beat (so within 10 s of its last beat by default): its
// members are dropped from every room, as a goodbye does at once. After a
// reconnect the node says hello, sends its rosters and asks for
// everyone's. Typing events go on a room's subject too, published at once
// by the typing member's goroutine: they need no order. Deltas and rosters are cut so that
// each message stays under an eighth of the server's max payload.
//
// Lock order (presence): room.mu of package rooms, then roomPresence.mu,
// then presence.mu. The presence loop (one goroutine, the only publisher
// of rosters and deltas and owner of what is known of other nodes) calls
// rooms back (apply) holding none of them; OpenPresence and Close wait
// for the loop and are called with no lock held.
//
// Faults: Connect fails when NATS does not answer. After a loss the
// connection is retried for ever; meanwhile Ready is false (the server's
// /readyz is 503) and publishes are refused at once (the sender gets an
// error event).
//
// Lock order (feeds): a feed's deliverMu, the room's lock (rooms.Registry), the
// feed's mu; the broker's remakeMu is taken alone.
//
// Usage:
//
//	b, err := broker.Connect(ctx, broker.Config{URLs: "nats://127.0.0.1:4222", Metrics: m})
//	defer b.Close()
//	reg := rooms.New(rooms.Config{Broker: b, Metrics: m})
package broker
