// Package hub owns rooms, their members and the fan-out of messages to
// them, with a bounded outbound queue per client flushed by a pool of
// writers.
//
// A broadcast encodes its frame once (protocol.NewFrame) and appends the
// same immutable slice to the queue of every member; a member's queue is
// bounded in bytes, and a member over the bound is closed as a slow
// consumer rather than ever making the sender wait. Writers flush a whole
// queue with one system call under a write deadline: a small batch copied
// into the writer's buffer, a large one as a vectored write (net.Buffers,
// writev); the frames stay separate WebSocket frames. Exactly one writer
// owns a client at a time.
//
// Write coalescing: a client is flushed at once unless it was flushed less
// than the coalescing interval ago, in which case the flush waits for the
// interval to pass and takes everything queued meanwhile. The interval is
// the number of clients divided by Config.WriteBudget (writes per second),
// capped by Config.MaxCoalesce, so a small server writes every frame at
// once while a large busy room batches several frames per system call.
//
// Join and leave notices: while a room has at most Config.NoticeLimit
// members every member gets every connection and disconnection notice, as
// in the seed protocol. Above it the joiner alone gets its own connection
// notice and the room gets at most one presence event (the member count)
// per Config.PresenceInterval, stretched in rooms over 1,000 members so that
// presence never costs more than 1,000 frames per interval: a ramp of N
// clients costs O(N) frames rather than O(N²).
//
// Lock order: Hub.mu, then room.mu, then Client.mu.
//
// Usage:
//
//	h := hub.New(hub.Config{Metrics: m, Logger: log})
//	c := h.Join(hub.JoinRequest{Conn: conn, ClientID: "ana", Room: "general", Since: hub.NoResume})
//	h.Broadcast(c, []byte("hi"), time.Now())
//	c.Close(protocol.CloseNormal, metrics.CloseNormal)
//	h.Shutdown(ctx)
package hub
