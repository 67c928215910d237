package loadgen

import (
	"os"
	"testing"

	"go.uber.org/zap"
)

// TestMain lets the test binary act as a worker process, which is how the
// multi-process tests run: the parent starts its own executable with
// WorkerEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(WorkerEnv) != "" {
		if err := RunWorker(os.Stdin, os.Stdout, zap.NewNop()); err != nil {
			os.Stderr.WriteString("worker: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
