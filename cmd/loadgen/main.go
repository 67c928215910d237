// Command loadgen proves a chat server under load: it connects thousands of
// simulated WebSocket clients, has some of them send messages, measures
// connect time, end-to-end latency, loss, duplicates and reordering, and
// exits 0 when every threshold holds, 1 when one fails, 2 when the run
// could not start (bad flags, unreachable server), 3 when it was
// interrupted (no verdict) and 4 when it broke off (a worker process
// failed, or the -json file could not be written).
//
// Usage:
//
//	loadgen -clients 5000 -url ws://127.0.0.1:8080 -json result.json
//
// See internal/loadgen for what is measured and how.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/chatplatform/chat/internal/loadgen"
)

func main() {
	if os.Getenv(loadgen.WorkerEnv) != "" {
		os.Exit(runWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the process
	}()
	os.Exit(Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// runWorker is the entry of a worker process started by a multi-process
// run.
func runWorker(in io.Reader, out, errOut io.Writer) int {
	if err := loadgen.RunWorker(in, out, newLogger(errOut)); err != nil {
		fmt.Fprintf(errOut, "loadgen worker: %v\n", err)
		return exitBroken
	}
	return exitPass
}
