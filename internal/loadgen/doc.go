// Package loadgen is the engine of the load generator: it simulates chat
// clients against a server, measures connect time, end-to-end latency, loss,
// duplicates and reordering, and summarises them.
//
// Usage:
//
//	r, err := loadgen.Run(ctx, loadgen.Config{URL: "ws://127.0.0.1:8080", Clients: 5000})
//	if err != nil { ... }              // ErrConfig, ErrUnreachable: the run could not start
//	r.Judge(loadgen.Thresholds{MaxP99: 100 * time.Millisecond})
//	r.WriteSummary(os.Stdout)
//	r.WriteVerdict(os.Stdout)         // r.Outcome: pass, fail, or incomplete if ctx was cancelled
//
// # Phases
//
// A run ramps the clients up (Config.Ramp connections per second), lets
// Config.Senders of them send for Config.Duration (with Config.Churn clients
// per second leaving and coming back), waits up to Config.Settle for
// in-flight deliveries, and closes every connection with a close frame.
// With Config.Stages the ramp and the sending phase are replaced by a load
// shape: the senders send throughout while the clients connected follow
// the stages' targets (joining in index order, senders first, and leaving
// in reverse). Clients connect to Config.URLs round-robin, offering the
// chat.v1 subprotocol.
//
// # Lost connections and resuming
//
// A connection that ends while its client meant to stay (the server
// closed it, it was reset or it just ended, outside the final close) is a
// disconnect, counted against Thresholds.MaxDisconnects. With
// Config.Reconnect the client comes back after a backoff (doubling from
// Config.Backoff, jittered), to the next URL, and resumes with
// ?since=SEQ&epoch=E: the last room seq it saw and the epoch of its last
// welcome (when the server sends one). Churn in ChurnCut mode cuts
// connections on purpose (no close frame) and resumes them the same way.
// A resumed client keeps one delivery window from its first welcome (see
// session), so what the server replays is expected and what it does not is
// lost; a resume answered with gap:true moves the session's missing
// deliveries from Lost to GapMissed, reported on their own.
//
// # Cheap clients
//
// A client dials with net.Dialer and does the WebSocket handshake with
// gobwas/ws; then its socket is detached from the Go runtime (a duplicated
// non-blocking descriptor) and watched by one of the engine's epoll loops
// (one per two processors). An idle client therefore costs a small struct:
// no goroutine, no buffer. A loop's goroutine reads its ready sockets
// itself, without handing them to other goroutines: sockets are
// edge-triggered, a read drains one into the loop's 64 KiB buffer and the
// server frames in it are parsed incrementally (package wire); only an
// incomplete trailing frame is copied to the client. While a loop reads
// one batch, frames gather in the other sockets, so the next read of each
// takes several at once: most of a receiver's cost is the kernel's, per
// read (the read and the acknowledgement it sends), not per frame. Events
// are not decoded as JSON: the reader needs only the event type and, in
// message events, the payload the senders wrote. Pings are answered with
// masked pongs, close frames with a close frame. Senders are goroutines
// (one per sending client) writing masked text frames.
//
// # What a message carries and who must receive it
//
// Each message text is "~lg1~<sender>~<seq>~<send time, unix nanos>~"
// padded to Config.Size. Receivers compute latency from the send time
// (senders and receivers share the machine's clock, also across worker
// processes) and track, per sender, the highest sequence and a 64-bit window
// below it: a repeat inside the window is a duplicate, a first arrival below
// the highest is reordered (older than the window it counts as reordered).
//
// The server delivers a message to the members present when it processes
// it, so the expected count follows membership, conservatively:
//
//   - a connection's window opens when its welcome frame arrives (time J):
//     the server has added the member before writing the welcome, so any
//     message sent after J is processed after the join;
//   - a client that leaves under churn first decides to leave (time D), goes
//     on reading for Config.Settle, and only then sends its close frame; its
//     window closes at D. A client that stays has no D;
//   - a connection the server closes, or that breaks, has its window closed
//     at the moment that was noticed: what it missed before is lost;
//   - receiver R must receive message M of its room exactly when
//     J(R) < sendtime(M) <= D(R). Expected is the number of such pairs,
//     computed at the end from every sender's send times (merged over
//     worker processes) and every connection's window.
//
// Received counts every message frame with a payload of this run,
// duplicates included. A first receipt inside the window counts towards its
// connection's tally; lost is the sum over connections of expected minus
// that tally. A first receipt outside the window (a message sent just before
// a join was confirmed) is "extra": neither expected nor lost. Hence
// received = expected - lost - gap_missed + duplicates + extra.
//
// # Progress
//
// Config.Progress gets a cumulative Snapshot every second; NewInterval
// turns two of them into the interval between (rates, p50 and p99 of the
// messages received in it, holes seen in the senders' sequences as the
// live loss), which is what the command's live line and -out file show.
//
// # Scale
//
// One process holds at most its file-descriptor limit minus headroom, read
// with getrlimit; a source address has about 28,000 ports towards one server
// address (the kernel's ephemeral range, read from /proc). Past the first,
// Run starts worker processes of its own executable with WorkerEnv set
// (the binary's main must then call RunWorker); each simulates the clients
// whose index is its number modulo the process count and reports progress
// and, at the end, its counts, windows, send times and encoded HDR
// histograms, which Run merges. Past the second, clients connect from
// 127.0.0.1, 127.0.0.2, ... when the server is on loopback, or from
// Config.SourceIPs.
//
// # Metrics
//
// With Config.Registerer set, Run registers loadgen_clients_connected,
// loadgen_connects_total, loadgen_messages_sent_total,
// loadgen_messages_received_total, loadgen_messages_lost_total (set when the
// run has settled), loadgen_latency_seconds, loadgen_connect_duration_seconds,
// loadgen_disconnects_total, loadgen_reconnects_total and
// loadgen_errors_total{kind}, whose fixed kinds (ErrorKinds) are exported at
// zero from the start.
package loadgen
