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
// Write coalescing: a connection is flushed at once unless it was flushed
// less than the coalescing interval ago, in which case the flush waits for
// the interval to pass and takes everything queued meanwhile, still as
// separate WebSocket frames, in one system call (copied into the writer's
// buffer, or writev for large batches). The interval is the number of
// connections divided by Config.WriteBudget (writes per second), capped by
// Config.MaxCoalesce.
//
// Ownership: exactly one writer owns a connection while it is scheduled
// (queued for a writer, waiting in the timing wheel, being flushed or
// waiting for writability); the Owner of a connection (the server's session)
// owns its teardown and is told, from the writer, when the close frame has
// been written or a write failed.
//
// Lock order: Conn.mu is a leaf: nothing else is locked while it is held.
//
// Usage:
//
//	p, err := outbound.New(outbound.Config{Metrics: m})
//	c := p.NewConn(fd, rawConn, owner)
//	c.Send(frame)                         // never blocks
//	c.Close(protocol.CloseShutdown, false) // close frame after what is queued
//	c.Finish()                            // by the owner, at teardown
//	p.Close()
package outbound
