package web_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/chatplatform/chat/internal/servertest"
	"github.com/chatplatform/chat/internal/testkit"

	"github.com/chromedp/chromedp"
)

// startNATS runs a NATS server with JetStream storing in dir on port of
// 127.0.0.1 (-1: a fresh one) until it is shut down or the test ends.
func startNATS(t *testing.T, dir string, port int) *natsserver.Server {
	t.Helper()
	return servertest.NATS(t, &natsserver.Options{StoreDir: dir, Port: port})
}

// TestNotSentAndRetryWhileClusterUnavailable runs a real cluster node on a
// real NATS server and stops NATS: a message typed then is refused by the
// node (an "unavailable" error naming the message's id), and the page marks
// it "Not sent" with its Retry at once; once NATS is back, Retry delivers
// it, once, with its seq.
func TestNotSentAndRetryWhileClusterUnavailable(t *testing.T) {
	store := t.TempDir()
	ns := startNATS(t, store, -1)
	_, addr := servertest.Process(t, servertest.Build(t), "-nats", ns.ClientURL())
	browser := newBrowser(t)
	ana := openPage(t, browser, "ana", "http://"+addr+"/?room=retry")
	ana.join("ana")
	ana.send("before")
	ana.waitMessage("ana", "before")

	natsPort := ns.Addr().(*net.TCPAddr).Port
	ns.Shutdown()
	testkit.WaitFor(t, "readyz 503 without NATS", func() bool { return servertest.Readyz(addr) == http.StatusServiceUnavailable })
	ana.send("while away")
	ana.waitJS(`JSON.stringify(`+pendingRowsJS+`) === JSON.stringify(["while away|Not sent"]) &&
		!!document.querySelector("#messages > .pending-msg .retry-msg") &&
		document.getElementById("send-error").textContent.includes("Retry")`, "the message marked not sent, with Retry")
	if n := len(ana.messages()); n != 1 {
		t.Fatalf("%d messages shown while NATS is away, want only the first", n)
	}
	auditIfInstalled(t, ana, "a message not sent, with its Retry")

	startNATS(t, store, natsPort)
	testkit.WaitFor(t, "readyz 200 with NATS back", func() bool { return servertest.Readyz(addr) == http.StatusOK })
	ana.do("retry", chromedp.Click("#messages > .pending-msg .retry-msg"))
	got := ana.waitMessage("ana", "while away")
	if got.Seq == "" {
		t.Fatalf("the retried message has no seq: %+v", got)
	}
	ana.waitJS(`document.querySelectorAll("#messages > .pending-msg").length === 0 &&
		document.getElementById("send-error").textContent === ""`, "the pending row and the send error gone")
	var texts []string
	for _, m := range ana.messages() {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, "|") != "before|while away" {
		t.Fatalf("the page shows %q, want each message once", texts)
	}
}
