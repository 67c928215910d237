// Package server is the chat server: one listener that serves the web
// client, the WebSocket endpoint, health checks and metrics.
//
// The accept loop reads the head of each request itself. A WebSocket
// request (GET /ws/{client_id}) is upgraded by github.com/gobwas/ws on the
// raw connection, without net/http's per-connection goroutine and buffers;
// bytes the client sent after its handshake are kept and decoded first.
// Every other request is handed, with the bytes already read, to a
// net/http server. After the upgrade a connection costs no goroutine: its
// descriptor waits in an epoll set (internal/netpoll) and a pool worker
// reads it without blocking when it becomes readable, decodes complete
// frames (internal/wsframe) and hands messages to the hub (internal/hub),
// which owns writing.
//
// Bad input is answered as the protocol says (internal/protocol): close
// 1009, 1007, 1003, 1002 or 1008, each counted by reason, and a panic while
// handling one connection closes that connection only.
//
// Usage:
//
//	srv, err := server.New(server.Config{Logger: log, Registry: reg})
//	ln, _ := net.Listen("tcp", ":8080")
//	go srv.Serve(ln) // returns ErrServerClosed after Shutdown
//	...
//	srv.Shutdown(ctx) // 503 on /readyz, close 1001 to everyone, flush, stop
package server
