package web_test

import (
	"strings"
	"testing"

	"github.com/chatplatform/chat/internal/servertest"
)

// TestFailoverToAnotherNode runs two real cluster nodes on a real NATS
// server, each naming the other with -peers. A page on node A is in a room
// with a client on node B; A is killed with SIGKILL. The page reconnects to
// B, which it learnt from /peers, resumes there, and shows what was said
// meanwhile once, with no gap; what it sends then reaches B's client.
func TestFailoverToAnotherNode(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	bin := servertest.Build(t)
	addrA, addrB := servertest.FreeAddr(t), servertest.FreeAddr(t)
	nodeA := servertest.ProcessOn(t, bin, addrA, "-nats", ns.ClientURL(), "-peers", "http://"+addrB)
	servertest.ProcessOn(t, bin, addrB, "-nats", ns.ClientURL(), "-peers", "http://"+addrA)

	browser := newBrowser(t)
	ana := openPage(t, browser, "ana", "http://"+addrA+"/?room=failover")
	ana.join("ana")
	bob := dialRaw(t, addrB, "failover", "bob")
	bob.say("one")
	ana.waitMessage("bob", "one")

	if err := nodeA.Kill(); err != nil {
		t.Fatal(err)
	}
	bob.say("two")
	ana.waitJS(`document.getElementById("status").dataset.state === "connected" &&
		document.getElementById("status-text").textContent.includes(`+jsString("via "+addrB)+`)`, "the page connected to node B")
	ana.waitMessage("bob", "two")
	ana.send("three")
	ana.waitMessage("ana", "three")
	bob.waitFor("three")

	var texts []string
	for _, m := range ana.messages() {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, "|") != "one|two|three" {
		t.Fatalf("the page shows %q, want each message once", texts)
	}
	if n := eval[int](ana, `document.querySelectorAll("#messages .notice-gap").length`); n != 0 {
		t.Fatalf("%d gap notices after a failover that lost nothing", n)
	}
}
