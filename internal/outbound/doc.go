// Package outbound delivers frames to WebSocket connections: a queue per
// connection bounded in bytes, a pool of writer goroutines that never block
// on a peer, write coalescing, and the slow-consumer policy.
//
// Writes are non-blocking system calls on the connection's descriptor. When
// the kernel takes only part of a batch, the rest stays at the head of the
// connection's queue, the descriptor is armed for writability in the pool's
// own epoll instance (EPOLLOUT) and the writer moves on to the next
// connection; when the kernel has room again the connection is handed back
// to a writer. No writer ever waits for one peer, so any number of clients
// that do not read cost the others nothing but their queues.
//
// A connection is a slow consumer when its queued bytes would pass
// Config.MaxQueueBytes (its queue is dropped and it is sent close 4001), or
// when it has had bytes queued without any write progress for
// Config.WriteTimeout (Conn.Stalled; its owner then drops it). Producers
// never wait.
//
// Write coalescing follows the load, not the clock: a connection is
// written as soon as a writer is free, and what is queued for it while it
// is owned by a writer (waiting in the writers' queue behind others, being
// written, or waiting for writability) leaves together in its next write,
// still as separate WebSocket frames, in one system call (copied into the
// writer's buffer, or writev for large batches). A connection that had more
// queued while it was written goes to the back of the writers' queue, so
// the busier the writers, the larger the batches. The clock is only a
// bound: when the pool's write rate (measured every 10ms, smoothed over
// about 100ms) reaches Config.WriteBudget writes per second (by default
// 40,000 per P, about a third of the cores spent in writes), a connection
// is written at most once per interval, the number of connections divided
// by the budget and capped by Config.MaxCoalesce (the timing wheel holds it
// meanwhile), until the rate falls well under the budget. The interval in
// force is the gauge chat_outbound_coalesce_seconds, and the writes made
// the counter chat_outbound_writes_total.
//
// Ownership: exactly one writer owns a connection while it is scheduled
// (queued for a writer, waiting in the timing wheel, being flushed or
// waiting for writability); the Owner of a connection (the server's session)
// owns its descriptor (Owner.Descriptor, which every write goes through)
// and its teardown, and is told, from the writer, when the close frame has
// been written or a write failed. A Conn may be embedded in its owner
// (Pool.InitConn), so that a connection's state is one allocation.
//
// Lock order: Conn.mu is a leaf: nothing else is locked while it is held.
//
// Usage:
//
//	p, err := outbound.New(outbound.Config{Metrics: m})
//	c := p.NewConn(owner)                  // owner.Descriptor() is written to
//	c.Start()                              // after the greeting, if any
//	c.Send(frame, p.Clock())               // never blocks
//	c.Close(protocol.CloseShutdown, false) // close frame after what is queued
//	c.Finish()                             // by the owner, at teardown
//	p.Close()
package outbound
