package web_test

import (
	"testing"

	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// testServer is a real chat server on a loopback listener.
type testServer = servertest.Server

// startServer starts a chat server listening on addr ("127.0.0.1:0" for a
// fresh port) and stops it when the test ends.
func startServer(t *testing.T, addr string) *testServer {
	t.Helper()
	return servertest.Start(t, addr, server.Config{})
}
