package loadgen_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
	"github.com/chatplatform/chat/internal/servertest"
)

// gorillaChat is the module of the reference server that .ci/perf measures
// beside ours.
const gorillaChat = "github.com/gorilla/websocket/examples/chat@v1.5.3"

// startGorillaChat builds gorilla/websocket's chat example through the
// module proxy and runs it on a loopback port; it returns its ws:// URL. It
// skips when the module cannot be fetched, unless CI is set.
func startGorillaChat(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	install := exec.Command("go", "install", gorillaChat)
	install.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := install.CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("go install %s: %v\n%s", gorillaChat, err, out)
		}
		t.Skipf("cannot build gorilla's chat example (go install %s: %v): %s", gorillaChat, err, out)
	}
	addr := servertest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "chat"), "-addr", addr)
	cmd.Dir = bin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "ws://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gorilla's chat did not listen on %s", addr)
	return ""
}

// TestRawProtocolAgainstGorillaChat runs the raw protocol against
// gorilla's chat example, which relays each message text to everyone and
// joins queued messages into one frame with newlines: every message must
// reach every client exactly once, in order.
func TestRawProtocolAgainstGorillaChat(t *testing.T) {
	url := startGorillaChat(t)
	r := run(t, loadgen.Config{URL: url, Protocol: loadgen.ProtocolRaw, Clients: 50, Senders: 5, Rate: 20,
		Duration: 2 * time.Second, Settle: 5 * time.Second})
	checkExact(t, r, 50)
	if r.Expected != 50*r.Sent {
		t.Errorf("expected %d, want 50 clients x %d sent", r.Expected, r.Sent)
	}
}

// TestRawProtocolRejectsRooms: a raw server has one room and no resume.
func TestRawProtocolRejectsRooms(t *testing.T) {
	for _, cfg := range []loadgen.Config{
		{Protocol: loadgen.ProtocolRaw, Rooms: 2},
		{Protocol: loadgen.ProtocolRaw, Reconnect: true},
		{Protocol: "json"},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", cfg)
		}
	}
}
