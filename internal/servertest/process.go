package servertest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chatplatform/chat/internal/testkit"
)

// Build compiles cmd/server into a temporary directory of the test and
// returns the binary's path, for tests that need a real server process
// (to kill, freeze or signal it).
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/chatplatform/chat/cmd/server").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/server: %v\n%s", err, out)
	}
	return bin
}

// Process runs the server binary bin on a free loopback port until the
// test ends, and returns its process and address once /healthz answers.
// A process left stopped (SIGSTOP) is resumed before it is killed.
func Process(t testing.TB, bin string, args ...string) (*os.Process, string) {
	t.Helper()
	addr := FreeAddr(t)
	return ProcessOn(t, bin, addr, args...), addr
}

// FreeAddr returns a loopback address with a port free now, for a server
// whose address others must know before it starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ProcessOn is Process on a given address.
func ProcessOn(t testing.TB, bin, addr string, args ...string) *os.Process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", addr, "-log-level", "warn"}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	testkit.WaitFor(t, "the server answering /healthz", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return cmd.Process
}
