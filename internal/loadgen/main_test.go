package loadgen_test

import (
	"os"
	"testing"

	"github.com/chatplatform/chat/internal/loadgen"
	"go.uber.org/zap"
)

// TestMain lets the test binary act as a worker process, which is how the
// multi-process tests run: the parent starts its own executable with
// WorkerEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(loadgen.WorkerEnv) != "" {
		if err := loadgen.RunWorker(os.Stdin, os.Stdout, zap.NewNop()); err != nil {
			os.Stderr.WriteString("worker: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
