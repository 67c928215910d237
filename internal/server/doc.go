// Package server is the chat server: one listener that serves the web
// client, the WebSocket endpoint, health checks and metrics.
//
// The listening socket is in an epoll set (internal/netpoll): a pool
// worker accepts what is pending with accept4, so a connection is a bare
// non-blocking descriptor, never a net.Conn of the runtime's poller. The
// worker reads the request head at once and, if it has not all arrived,
// puts the descriptor into the set to read the rest as bytes arrive: no goroutine waits on a silent
// peer, heads not complete within Config.HandshakeTimeout are dropped, and
// past Config.MaxHandshakes the oldest is dropped, so accepting never stops.
// A WebSocket request (GET /ws/{client_id} with Upgrade) is upgraded by
// github.com/gobwas/ws on the raw connection; bytes the client sent after
// its handshake are kept and decoded first. Every other request is handed,
// with the bytes already read, as a net.Conn made of the descriptor
// (net.FileConn), to a net/http server whose connections are
// capped (Config.MaxPageConns); it also upgrades WebSocket requests that
// need its parsing (keep-alive reuse, absolute-form targets) and answers a
// plain GET of a WebSocket URL with the refusal an upgrade would get.
//
// After the upgrade a connection is a session: it costs no goroutine; its
// descriptor (a netpoll.FD, which closes it only once no call uses it)
// stays in the epoll set and a worker reads it when it becomes
// readable, decodes complete frames (internal/wsframe) and hands messages
// to the rooms (internal/rooms), which order them and queue them to every
// member's outbound side (internal/outbound), which writes without ever
// blocking. The session owns the descriptor and its teardown; the others
// report to it. The connection count is kept in one place, where sessions
// are admitted, so that Shutdown closes every one of them.
//
// Bad input is answered as the protocol says (internal/protocol): close
// 1009, 1007, 1003, 1002 or 1008, each counted by reason; a server-side
// close writes what is queued and lingers until the client answers; a
// panic while handling one connection closes that connection only.
//
// Usage:
//
//	srv, err := server.New(server.Config{Logger: log, Registry: reg})
//	ln, _ := net.Listen("tcp", ":8080")
//	go srv.Serve(ln) // returns ErrServerClosed after Shutdown
//	...
//	srv.Shutdown(ctx) // 503 on /readyz, close 1001 to everyone, flush, stop
package server
