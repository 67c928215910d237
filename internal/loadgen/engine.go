package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/loadgen/wire"
	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// share is the part of a run one process simulates: the clients whose
// global index is proc modulo procs, connecting from sourceIPs (round-robin
// by global index).
type share struct {
	procs, proc int
	sourceIPs   []string
	// earlySettle lets the settle phase end as soon as every expected
	// delivery has arrived; only a process that sees every send can tell.
	earlySettle bool
	// barrier, when set, is called between the ramp and the sending phase
	// and returns when every process is ready to send (or ctx ends).
	barrier func(ctx context.Context)
}

// maxDialers is how many connection attempts run at once during the ramp.
const maxDialers = 128

// engine simulates one process's share of the clients.
type engine struct {
	// Static after construction.
	cfg    Config
	share  share
	urls   []*url.URL
	log    *zap.Logger
	runID  string
	start  time.Time
	resume bool // connections may be resumed: track the room seq
	// secret, when set (Config.TokenSecretFile), signs one token per
	// client; tokenTTL covers the run.
	secret   []byte
	tokenTTL time.Duration

	loops   []*loop
	slots   []atomic.Pointer[simConn] // current connection per local client
	gens    []atomic.Int32            // fresh joins per local client so far (see dial)
	senders []*senderState            // local senders, by slot: they take the first local slots

	errors          errorCounts
	phase           atomic.Value // Phase
	connected       atomic.Int64
	connects        atomic.Int64
	urlConnects     []atomic.Int64 // connects by index in urls
	connectFailures atomic.Int64   // first connections only
	firstConnected  atomic.Int64   // clients whose first connection succeeded
	reconnects      atomic.Int64
	disconnects     atomic.Int64 // connections lost while the client meant to stay
	resumes         atomic.Int64 // resumed connections welcomed
	resumeGaps      atomic.Int64 // of which answered with gap:true
	resent          atomic.Int64 // messages sent again after a reconnect (see resend)
	sent            atomic.Int64
	welcomed        atomic.Int64 // open connections that got their welcome
	inWindow        atomic.Int64
	closing         atomic.Bool  // server closes are expected from now on
	active          atomic.Int64 // local slots below it are wanted connected (see follow)
	target          atomic.Int64 // global client target now

	connectMu sync.Mutex
	connect   *hdrhistogram.Histogram // guarded by connectMu
	reconnect *hdrhistogram.Histogram // guarded by connectMu; loss to welcome of the resumed connection

	redialMu      sync.Mutex
	redialStopped bool           // guarded by redialMu
	redialing     sync.WaitGroup // redial goroutines; Add under redialMu
	stopRedial    chan struct{}  // closed when redialing stops; never reopened
	pending       atomic.Int64   // sessions waiting for a reconnect

	lingering sync.WaitGroup // clients leaving: reading for Settle before their close frame

	doneMu    sync.Mutex
	intervals []interval // guarded by doneMu; windows of finished sessions
	open      int        // guarded by doneMu; connections not yet finished
	leaving   []*simConn // guarded by doneMu; replaced by a reconnect
	allDone   chan struct{}
	doneOnce  sync.Once // closes allDone
}

// interval is the delivery window of one connection: it must receive every
// message sent in its room at a time t with Join < t <= Leave.
type interval struct {
	Room  int32 `json:"r"`
	Join  int64 `json:"j"`
	Leave int64 `json:"l"`
	Got   int64 `json:"g"`           // distinct receipts inside the window
	Gaps  int32 `json:"x,omitempty"` // resumes the server answered with gap:true
}

// senderState is owned by the sender's goroutine until it exits, but for
// what its mutex guards.
type senderState struct {
	slot  int
	index uint32
	rate  float64 // messages per second; 0: silent
	sends []int64 // send time of seq i+1
	buf   []byte

	// With resend: rejoined is signalled when the sender's connection was
	// resumed, and echoed[i] is set once seq i+1 came back to the sender.
	rejoined chan struct{} // buffered, never closed; nil without resend
	mu       sync.Mutex
	echoed   []bool // guarded by mu
}

// echo notes that the sender's message seq came back to it.
func (s *senderState) echo(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uint64(len(s.echoed)) < seq {
		s.echoed = append(s.echoed, false)
	}
	s.echoed[seq-1] = true
}

// unechoed reports whether seq has not come back to the sender.
func (s *senderState) unechoed(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return seq > uint64(len(s.echoed)) || !s.echoed[seq-1]
}

func newEngine(cfg Config, sh share, urls []*url.URL) (*engine, error) {
	var secret []byte
	if cfg.TokenSecretFile != "" {
		var err error
		if secret, err = auth.LoadSecret(cfg.TokenSecretFile); err != nil {
			return nil, err
		}
	}
	local := 0
	for g := sh.proc; g < cfg.Clients; g += sh.procs {
		local++
	}
	// One loop per two processors: the load generator usually shares the
	// machine with the server, and one loop reading many sockets gathers
	// more frames per read than several loops racing for the same ones.
	loops := make([]*loop, 0, max(1, runtime.GOMAXPROCS(0)/2))
	for range cap(loops) {
		l, err := newLoop()
		if err != nil {
			for _, l := range loops {
				l.stop()
			}
			return nil, fmt.Errorf("start epoll loop: %w", err)
		}
		loops = append(loops, l)
	}
	e := &engine{
		cfg:    cfg,
		share:  sh,
		urls:   urls,
		secret: secret,
		// The ramp, the run and the settling, with an hour to spare.
		tokenTTL:    time.Duration(float64(cfg.Clients)/max(cfg.Ramp, 1)*float64(time.Second)) + cfg.Duration + stagesDuration(cfg.Stages) + cfg.Settle + time.Hour,
		log:         cfg.Logger.Named("loadgen"),
		loops:       loops,
		runID:       strconv.FormatUint(uint64(rand.Uint32()&0xffffff), 36),
		resume:      cfg.Reconnect || (cfg.Churn > 0 && cfg.ChurnMode == ChurnCut),
		slots:       make([]atomic.Pointer[simConn], local),
		gens:        make([]atomic.Int32, local),
		urlConnects: make([]atomic.Int64, len(urls)),
		connect:     newHist(),
		reconnect:   newHist(),
		stopRedial:  make(chan struct{}),
		allDone:     make(chan struct{}),
		start:       time.Now(),
	}
	resend := cfg.Reconnect && cfg.Protocol != ProtocolRaw
	for slot := range local {
		if g := e.global(slot); g < cfg.Senders {
			s := &senderState{slot: slot, index: uint32(g), rate: cfg.roomRate(g % cfg.Rooms)}
			e.senders = append(e.senders, s)
			if resend {
				s.rejoined = make(chan struct{}, 1)
			}
		}
	}
	e.active.Store(int64(local))
	e.target.Store(int64(local))
	e.phase.Store(PhaseRamp)
	return e, nil
}

// roomRate is the message rate of each sender of room k.
func (c Config) roomRate(k int) float64 {
	if len(c.RoomRates) > 0 {
		return c.RoomRates[k]
	}
	return c.Rate
}

// resender returns the sender on slot when it resends after a reconnect
// (see Config.Reconnect), nil for another slot or without resend.
func (e *engine) resender(slot int) *senderState {
	if slot < len(e.senders) && e.senders[slot].rejoined != nil {
		return e.senders[slot]
	}
	return nil
}

func (e *engine) global(slot int) int   { return e.share.proc + slot*e.share.procs }
func (e *engine) loopOf(slot int) *loop { return e.loops[slot%len(e.loops)] }
func (e *engine) maskKey() uint32       { return rand.Uint32() }

// run drives the phases: ramp, send (with churn), settle, close. Cancelling
// ctx ends the ramp or the sending early; the run then settles (for the
// full Settle, see settle) and closes as usual, so what ran is still
// accounted for.
func (e *engine) run(ctx context.Context) part {
	var rampEnd, sendEnd time.Time
	if len(e.cfg.Stages) > 0 {
		rampEnd, sendEnd = e.runStages(ctx)
	} else {
		rampEnd, sendEnd = e.runRampAndSend(ctx)
	}

	e.phase.Store(PhaseSettle)
	e.settle()

	e.phase.Store(PhaseClosing)
	e.closeAll()
	e.phase.Store(PhaseDone)
	return e.part(rampEnd, sendEnd)
}

// runRampAndSend ramps every client up, then has the senders send for
// Duration (with churn). It returns when the ramp and the sending ended.
func (e *engine) runRampAndSend(ctx context.Context) (rampEnd, sendEnd time.Time) {
	e.ramp(ctx)
	e.awaitWelcomes(ctx)
	if e.share.barrier != nil {
		e.share.barrier(ctx)
	}
	rampEnd = time.Now()

	e.phase.Store(PhaseSend)
	sendCtx, stopSending := context.WithTimeout(ctx, e.cfg.Duration)
	var wg sync.WaitGroup
	for _, s := range e.senders {
		wg.Go(func() { e.send(sendCtx, s) })
	}
	if e.cfg.Churn > 0 {
		wg.Go(func() { e.churn(sendCtx) })
	}
	<-sendCtx.Done()
	stopSending()
	wg.Wait()
	return rampEnd, time.Now()
}

// ramp opens the first connection of every local client, Ramp per second
// across all processes.
func (e *engine) ramp(ctx context.Context) {
	rate := e.cfg.Ramp / float64(e.share.procs)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(maxDialers, len(e.slots)) {
		wg.Go(func() {
			for slot := range jobs {
				switch {
				case e.dial(ctx, slot, nil, e.global(slot)%len(e.urls)):
					e.firstConnected.Add(1)
				case ctx.Err() == nil:
					e.connectFailures.Add(1)
				}
			}
		})
	}
	t := time.NewTimer(0)
	defer t.Stop()
	start := time.Now()
feed:
	for slot := range e.slots {
		at := start.Add(time.Duration(float64(slot) / rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				break feed
			case <-t.C:
			}
		}
		select {
		case <-ctx.Done():
			break feed
		case jobs <- slot:
		}
	}
	close(jobs)
	wg.Wait()
}

// awaitWelcomes waits, up to DialTimeout, until every open connection has
// received its welcome, so that no sender starts before the room is
// complete.
func (e *engine) awaitWelcomes(ctx context.Context) {
	deadline := time.NewTimer(e.cfg.DialTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for e.welcomed.Load() < e.connected.Load() {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-poll.C:
		}
	}
}

// dial opens a connection for slot to the server at urls[urlIndex] and
// hands its descriptor to the poller. With a session (a client coming
// back after a lost connection) it resumes: since the last room seq seen
// and the epoch of the last welcome, and the new connection carries the
// session's receipts on. It reports whether the client connected.
func (e *engine) dial(ctx context.Context, slot int, s *session, urlIndex int) bool {
	g := e.global(slot)
	room := g % e.cfg.Rooms
	d := net.Dialer{Timeout: e.cfg.DialTimeout, Control: bindNoPort}
	if ips := e.share.sourceIPs; len(ips) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ips[g%len(ips)])}
	}
	u := *e.urls[urlIndex]
	// A fresh join takes the client's next generation, so that it never
	// asks for the name of its previous connection, which may still be
	// closing or lingering (the server refuses a name in use with 409); a
	// resume keeps the name of the session it resumes.
	resumed := s != nil && s.join != 0
	var gen int32
	if resumed {
		gen = s.gen
	} else {
		gen = e.gens[slot].Add(1) - 1
	}
	id := "lg-" + e.runID + "-" + strconv.Itoa(g)
	if gen > 0 {
		id += "." + strconv.Itoa(int(gen))
	}
	raw := e.cfg.Protocol == ProtocolRaw
	var q url.Values
	if raw {
		u.Path = trimSlash(u.Path) + "/ws"
	} else {
		u.Path = trimSlash(u.Path) + "/ws/" + id
		q = url.Values{"room": {roomName(e.cfg.Room, e.cfg.Rooms, room)}}
	}
	if e.secret != nil {
		tok, err := auth.Mint(e.secret, auth.AlgHS256, id, q["room"], e.tokenTTL)
		if err != nil {
			e.dialFailed(ctx, ErrToken)
			return false
		}
		q.Set(auth.QueryParam, tok)
	}
	if resumed {
		s.resumeQuery(q)
	}
	u.RawQuery = q.Encode()

	t0 := time.Now()
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		e.dialFailed(ctx, classifyDial(err))
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(t0.Add(e.cfg.DialTimeout))
	// The server answers chat.v1 with it (and sends the extension events
	// then) or without it, as a server that does not know it does.
	dialer := ws.Dialer{Protocols: []string{wire.Subprotocol}}
	if raw {
		dialer.Protocols = nil
	}
	br, _, err := dialer.Upgrade(conn, &u)
	if err != nil {
		e.dialFailed(ctx, classifyHandshake(err))
		return false
	}
	elapsed := time.Since(t0)
	var buffered []byte
	if br != nil {
		buffered, _ = br.Peek(br.Buffered())
		buffered = slices.Clone(buffered)
		ws.PutReader(br)
	}
	fd, err := detach(conn)
	if err != nil {
		e.dialFailed(ctx, ErrDial)
		return false
	}

	e.connectMu.Lock()
	recordMicros(e.connect, elapsed)
	e.connectMu.Unlock()
	e.connects.Add(1)
	e.urlConnects[urlIndex].Add(1)
	e.connected.Add(1)
	e.doneMu.Lock()
	e.open++
	e.doneMu.Unlock()

	c := &simConn{e: e, slot: slot, global: uint32(g), room: int32(room), fd: fd, url: urlIndex, gen: gen, resumed: resumed, lastSeq: -1}
	if s != nil {
		c.takeSession(s)
	}
	c.leaveAt.Store(never)
	if raw {
		c.welcomeLocked(nil, time.Now().UnixNano()) // no welcome comes: joined now
	}
	e.slots[slot].Store(c)
	// Under the loop's lock: the buffered frames are handled before any
	// the loop reads, and with the loop's counters.
	l := e.loopOf(slot)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(buffered) > 0 && c.handleLocked(l, buffered, time.Now()) {
		return true
	}
	if err := l.addLocked(c); err != nil {
		c.finish(ErrDial)
	}
	return true
}

func (e *engine) dialFailed(ctx context.Context, kind string) {
	if ctx.Err() != nil {
		return // interrupted, not a failure of the server
	}
	e.errors.add(kind)
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// bindNoPort lets sockets bound to a source address share ports across
// destinations (IP_BIND_ADDRESS_NO_PORT): the port is picked at connect.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}

// detach duplicates conn's descriptor (close-on-exec, still non-blocking)
// so the connection can live outside the Go runtime's poller once conn is
// closed.
func detach(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("connection has no descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return fd, dupErr
}

func classifyDial(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return ErrNoSourcePort
	case errors.As(err, &ne) && ne.Timeout():
		return ErrConnectTimeout
	}
	return ErrDial
}

func classifyHandshake(err error) string {
	var se ws.StatusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return "handshake_" + strconv.Itoa(int(se))
	case errors.As(err, &ne) && ne.Timeout():
		return ErrConnectTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, os.ErrDeadlineExceeded):
		return ErrReset
	}
	return ErrHandshake
}

// send makes one sender send Rate messages per second, jittered, until ctx
// ends.
func (e *engine) send(ctx context.Context, s *senderState) {
	if s.rate == 0 {
		return // a sender of an idle room
	}
	interval := float64(time.Second) / s.rate
	s.sends = make([]int64, 0, int(e.sendTime().Seconds()*s.rate)+2)
	next := time.Now().Add(time.Duration(rand.Float64() * interval))
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.rejoined:
			e.resend(s)
			continue
		case <-t.C:
		}
		c := e.slots[s.slot].Load()
		if c != nil && c.joined.Load() != 0 {
			now := time.Now().UnixNano()
			s.buf = e.appendMessage(s.buf[:0], s, wire.Payload{Sender: s.index, Seq: uint64(len(s.sends) + 1), SentNanos: now})
			if c.write(wire.OpText, s.buf) == nil {
				s.sends = append(s.sends, now)
				e.sent.Add(1)
			}
		}
		next = next.Add(time.Duration(interval * (0.5 + rand.Float64())))
		t.Reset(time.Until(next))
	}
}

// appendMessage appends the text frame's payload of message p of s: the
// payload itself, or with resend a chat.v1 message command with the seq
// as its id, so that the server publishes a resent message once.
func (e *engine) appendMessage(dst []byte, s *senderState, p wire.Payload) []byte {
	if s.rejoined == nil {
		return wire.AppendPayload(dst, p, e.cfg.Size)
	}
	dst = append(dst, `{"type":"message","text":"`...)
	dst = wire.AppendPayload(dst, p, e.cfg.Size) // plain ASCII: nothing to escape
	dst = append(dst, `","id":"`...)
	dst = strconv.AppendUint(dst, p.Seq, 10)
	return append(dst, `"}`...)
}

// resend sends again, with their ids and first send times, the messages of
// s that did not come back to it before its connection was lost: the
// server acks those it has (any node's dedupe) and publishes the others,
// so that a node that dies loses nothing its senders sent.
func (e *engine) resend(s *senderState) {
	c := e.slots[s.slot].Load()
	if c == nil || c.joined.Load() == 0 {
		return
	}
	for i, at := range s.sends {
		seq := uint64(i + 1)
		if !s.unechoed(seq) {
			continue
		}
		s.buf = e.appendMessage(s.buf[:0], s, wire.Payload{Sender: s.index, Seq: seq, SentNanos: at})
		if c.write(wire.OpText, s.buf) != nil {
			return
		}
		e.resent.Add(1)
	}
}

// connDone accounts for a finished connection: a disconnect when the
// client meant to stay (it sent no close frame, is not leaving, and the run
// is not closing), and the end of its session's window, unless the client
// comes back to resume it (Reconnect, or a churn cut).
func (e *engine) connDone(c *simConn, now int64, left bool) {
	e.connected.Add(-1)
	if c.joined.Load() != 0 {
		e.welcomed.Add(-1)
	}
	cut := c.cut.Load()
	dropped := !cut && !left && !e.closing.Load() && c.leaveAt.Load() == never
	if dropped {
		e.disconnects.Add(1)
	}
	var s *session
	if (dropped && e.cfg.Reconnect) || cut {
		s = c.giveSession(now)
		if !e.startRedial(c.slot, s, c.url) {
			s = nil
		}
	}
	e.doneMu.Lock()
	defer e.doneMu.Unlock()
	if j := c.windowJoin.Load(); j != 0 && s == nil {
		e.intervals = append(e.intervals, interval{Room: c.room, Join: j, Leave: min(c.leaveAt.Load(), now), Got: c.got, Gaps: c.gaps})
	}
	e.open--
	if e.open == 0 && e.closing.Load() {
		e.doneOnce.Do(func() { close(e.allDone) })
	}
}

// sessionDone records the window of a session whose client did not come
// back, closed when its last connection was lost.
func (e *engine) sessionDone(room int32, s *session) {
	if s.join == 0 {
		return
	}
	e.doneMu.Lock()
	e.intervals = append(e.intervals, interval{Room: room, Join: s.join, Leave: s.dropAt, Got: s.got, Gaps: s.gaps})
	e.doneMu.Unlock()
}

// settle waits up to Settle for in-flight deliveries. With earlySettle it
// stops as soon as every expected delivery has arrived.
//
// It takes no context on purpose: once the sending has stopped, cancelled
// or not, what was sent must be given its time to arrive, or the
// connections are closed under deliveries still on their way and an
// interrupted run reports them lost. (The command kills the process on a
// second Ctrl-C.)
func (e *engine) settle() {
	deadline := time.NewTimer(e.cfg.Settle)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var sends map[int32][]int64
	if e.share.earlySettle {
		sends = e.roomSends()
	}
	for {
		select {
		case <-deadline.C:
			return
		case <-poll.C:
			if sends != nil && e.pending.Load() == 0 && e.expectedSoFar(sends) == e.inWindow.Load() {
				return
			}
		}
	}
}

// expectedSoFar counts the deliveries expected by open and finished
// connections; sends is final (sending has stopped).
func (e *engine) expectedSoFar(sends map[int32][]int64) int64 {
	var n int64
	e.doneMu.Lock()
	for _, iv := range e.intervals {
		n += expectedIn(sends[iv.Room], iv.Join, iv.Leave)
	}
	e.doneMu.Unlock()
	for i := range e.slots {
		c := e.slots[i].Load()
		if c == nil {
			continue
		}
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if j := c.windowJoin.Load(); !closed && j != 0 {
			n += expectedIn(sends[c.room], j, c.leaveAt.Load())
		}
	}
	return n
}

// closeAll closes every connection: a close frame each, then up to
// closeWait for the server's answers, then the loops and what is left.
func (e *engine) closeAll() {
	e.stopRedials()
	e.closing.Store(true)
	e.doneMu.Lock()
	if e.open == 0 {
		e.doneOnce.Do(func() { close(e.allDone) })
	}
	e.doneMu.Unlock()
	for i := range e.slots {
		if c := e.slots[i].Load(); c != nil {
			c.leave()
		}
	}
	wait := time.NewTimer(closeWait)
	select {
	case <-e.allDone:
	case <-wait.C:
	}
	wait.Stop()
	for _, l := range e.loops {
		l.stop()
	}
	for i := range e.slots {
		if c := e.slots[i].Load(); c != nil {
			c.finish("")
		}
	}
	e.doneMu.Lock()
	leaving := e.leaving
	e.doneMu.Unlock()
	for _, c := range leaving {
		c.finish("")
	}
}

// sendTime is how long senders send: Duration, or the stages' length.
func (e *engine) sendTime() time.Duration {
	if len(e.cfg.Stages) > 0 {
		return stagesDuration(e.cfg.Stages)
	}
	return e.cfg.Duration
}

// closeWait bounds how long closing waits for the server's close frames.
const closeWait = 2 * time.Second

// roomSends gathers the send times of every local sender by room, sorted.
func (e *engine) roomSends() map[int32][]int64 {
	m := map[int32][]int64{}
	for _, s := range e.senders {
		r := int32(int(s.index) % e.cfg.Rooms)
		m[r] = append(m[r], s.sends...)
	}
	for _, v := range m {
		slices.Sort(v)
	}
	return m
}

// snapshot reports the state so far.
func (e *engine) snapshot() Snapshot {
	s := Snapshot{
		Elapsed:         time.Since(e.start),
		Phase:           e.phase.Load().(Phase),
		Clients:         len(e.slots),
		Target:          e.target.Load(),
		Connected:       e.connected.Load(),
		Connects:        e.connects.Load(),
		ConnectFailures: e.connectFailures.Load(),
		Reconnects:      e.reconnects.Load(),
		Disconnects:     e.disconnects.Load(),
		Errors:          e.errors.snapshot(),
		Latency:         newHist(),
	}
	s.Sent = e.sent.Load()
	for _, l := range e.loops {
		l.mu.Lock()
		s.Received += l.received
		s.Holes += l.holes
		s.Latency.Merge(l.latency)
		l.mu.Unlock()
	}
	e.connectMu.Lock()
	s.Connect = e.connect.Clone()
	e.connectMu.Unlock()
	return s
}
