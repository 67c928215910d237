package servertest

import (
	"net/http"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// natsReadyWait bounds the wait for an embedded NATS server to accept
// connections.
const natsReadyWait = 10 * time.Second

// NATS runs a NATS server with JetStream in the test process on
// 127.0.0.1, until it is shut down or the test ends. opts gives StoreDir
// and Port (-1: a fresh one), and may give more; the host, JetStream and
// the quiet options are set here.
func NATS(t testing.TB, opts *natsserver.Options) *natsserver.Server {
	t.Helper()
	opts.Host, opts.JetStream, opts.NoLog, opts.NoSigs = "127.0.0.1", true, true, true
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(natsReadyWait) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// Readyz returns the status code of the /readyz of the server at addr, 0
// when it does not answer.
func Readyz(addr string) int {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
