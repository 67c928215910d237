package broker

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/rooms"
)

// Presence timings, one constant each so that documentation cannot drift.
const (
	// defaultHeartbeat is Config.Heartbeat's default.
	defaultHeartbeat = 3 * time.Second
	// A node not heard for nodeTimeoutBeats heartbeats is gone (9 s by
	// default). The check runs every heartbeat/livenessChecks, so a node
	// is dropped at most nodeTimeoutBeats+1/livenessChecks beats after its
	// last beat: within 10 s of its death by default.
	nodeTimeoutBeats = 3
	livenessChecks   = 3
	// batchDelay is how long a room's changes on this node gather before
	// they leave as one delta: a ramp of N joins costs O(N) bytes and
	// work on every node, not a message per join per node.
	batchDelay = 5 * time.Millisecond
	// helloWait bounds how long Connect waits for a first answer to its
	// hello, which lists the live nodes: a node alone waits it through.
	helloWait = 250 * time.Millisecond
	// syncTimeout bounds OpenPresence's wait for the other nodes'
	// rosters; a roster asked again is asked again after it too.
	syncTimeout = time.Second
	// inboxLength is how many presence messages may wait for the presence
	// loop; past it NATS drops them (a slow consumer), which the versions
	// detect and a resync repairs.
	inboxLength = 1 << 16
	// A delta or roster part carries ids of at most an eighth of the NATS
	// server's max payload (1 MB by default), and at least minChunkBytes:
	// JSON may escape an id to six times its bytes (\u003c for <).
	chunkShare    = 8
	minChunkBytes = 4 << 10
)

// Types of presence messages (wire.Type).
const (
	msgBeat   = "beat"   // on Stream.node: the node is alive; to a node's inbox, with Nodes: the answer to its hello
	msgHello  = "hello"  // on Stream.node: the node started or reconnected
	msgBye    = "bye"    // on Stream.node: the node stops, drop its members now
	msgSync   = "sync"   // on Stream.sync (every node) or a node's inbox: send me your roster of Room
	msgRoster = "roster" // to an inbox, or on a room's subject: the sender's whole roster of Room, maybe in Parts
	msgDelta  = "delta"  // on a room's subject: the sender's changes of Room
	msgClosed = "closed" // on a room's subject: the sender has no members in Room any more
	msgVer    = "ver"    // on a room's subject, with a beat: the sender's latest Inc and Ver of Room
	msgTyping = "typing" // on a room's subject: Joined[0], on the sender, is typing in Room
)

// wire is a presence message, JSON-encoded.
type wire struct {
	Type string `json:"t"`
	Node string `json:"n"`
	Room string `json:"r,omitempty"`
	// Inc names the sender's incarnation of the room (a number per
	// OpenPresence, growing within the process; 0: the sender has no
	// members there) and Ver counts the sender's deltas of it: a receiver
	// that sees a Ver skipped lost a delta and asks for the roster again.
	// A roster carries the Ver of the last delta it includes.
	Inc    uint64   `json:"i,omitempty"`
	Ver    uint64   `json:"v,omitempty"`
	Joined []string `json:"j,omitempty"`
	Left   []string `json:"l,omitempty"`
	// A roster too big for one message is cut in Parts, numbered by Part
	// from 0 and sent in order.
	Part  int   `json:"p,omitempty"`
	Parts int   `json:"ps,omitempty"`
	Time  int64 `json:"ts,omitempty"` // Unix nanoseconds of the change
	// Nodes are the live nodes the sender knows, in answer to a hello.
	Nodes []string `json:"ns,omitempty"`
}

// presence shares the members of this node's rooms with the other nodes,
// on core NATS. One goroutine, run, owns the state of the other nodes and
// is the only publisher of rosters and deltas, so that this node's
// messages leave in the order it made them; NATS keeps one publisher's
// order to each subscriber, so a roster a node receives includes every
// delta of the sender it received before.
type presence struct {
	// Static after start.
	b                         *Broker
	node                      string // this node's id, random per process start
	nodeSubj, syncSubj, inbox string
	heartbeat, nodeTimeout    time.Duration
	in                        chan *nats.Msg // fed by the subscriptions; never closed
	ctl                       chan func()    // work run does for other goroutines; never closed
	kick                      chan struct{}  // a room has changes to flush; never closed
	reconn                    chan struct{}  // NATS reconnected; never closed
	stop                      chan struct{}  // closed by halt; never reopened
	done                      chan struct{}  // closed when run returns
	incs                      atomic.Uint64  // the last Inc given
	lose                      atomic.Bool    // drop the next delta (set by tests only)

	mu    sync.Mutex
	dirty []*roomPresence // rooms with changes to flush; guarded by mu

	// Owned by run.
	subs  []*nats.Subscription
	rooms map[string]*roomPresence // by room name, the latest incarnation
	nodes map[string]time.Time     // the other live nodes, when last heard
}

// roomPresence is a room's presence on this node (rooms.RoomPresence).
type roomPresence struct {
	// Static after OpenPresence.
	p       *presence
	name    string
	subject string
	inc     uint64
	apply   func(rooms.RemoteChange)
	synced  chan struct{} // closed by run once every live node's roster came; never reopened

	mu      sync.Mutex
	local   map[string]struct{} // this node's client ids; guarded by mu
	changed map[string]struct{} // ids joined or left since the last delta; guarded by mu
	since   time.Time           // when the first of changed changed; guarded by mu
	ver     uint64              // Ver of the latest delta made; guarded by mu

	// Owned by run.
	sub     *nats.Subscription
	closed  bool
	told    uint64                  // the Ver last sent with a beat
	remote  map[string]*remoteState // other nodes' versions, by node
	waiting map[string]bool         // nodes whose first roster is awaited; nil once synced is closed
}

// remoteState is what a room knows of another node's roster of it.
type remoteState struct {
	inc, ver uint64
	synced   bool      // false from asking the node's roster until it comes
	askedAt  time.Time // when it was last asked
	// The parts of a roster being received: the ids so far, the next
	// Part, and the roster's Inc and Ver.
	asm     []string
	asmNext int
	asmKey  [2]uint64
}

var _ rooms.Presence = (*Broker)(nil)

// newPresence makes b's presence; start starts it.
func newPresence(b *Broker) *presence {
	p := &presence{b: b, node: strconv.FormatUint(rand.Uint64(), 36),
		nodeSubj: b.cfg.Stream + ".node", syncSubj: b.cfg.Stream + ".sync",
		heartbeat:   b.cfg.Heartbeat,
		nodeTimeout: b.cfg.Heartbeat * nodeTimeoutBeats,
		in:          make(chan *nats.Msg, inboxLength), ctl: make(chan func()), kick: make(chan struct{}, 1),
		reconn: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		rooms: make(map[string]*roomPresence), nodes: make(map[string]time.Time)}
	p.inbox = p.inboxOf(p.node)
	return p
}

// start subscribes to the presence subjects, says hello, waits for a
// first answer (at most helloWait), so that the rooms opened next know
// every live node, and starts the presence loop.
func (p *presence) start() error {
	for _, subj := range []string{p.nodeSubj, p.syncSubj, p.inbox} {
		sub, err := p.b.nc.ChanSubscribe(subj, p.in)
		if err != nil {
			return err
		}
		p.subs = append(p.subs, sub)
	}
	p.b.m.BrokerNodes.Set(1)
	p.send(p.nodeSubj, &wire{Type: msgHello, Node: p.node})
	t := time.NewTimer(helloWait)
	defer t.Stop()
	for len(p.nodes) == 0 {
		select {
		case m := <-p.in:
			p.handle(m) // run is not started: start owns its state
		case <-t.C:
			go p.run()
			return nil
		}
	}
	go p.run()
	return nil
}

// presSubject returns the subject of room's presence deltas.
func (b *Broker) presSubject(room string) string {
	return b.cfg.Stream + ".pres." + base64.RawURLEncoding.EncodeToString([]byte(room))
}

// OpenPresence implements rooms.Presence: it subscribes to the room's
// deltas and asks every node for its roster of the room, waiting for the
// answers of those this node knows alive, at most syncTimeout.
func (b *Broker) OpenPresence(room string, apply func(rooms.RemoteChange)) rooms.RoomPresence {
	p := b.pres
	rp := &roomPresence{p: p, name: room, subject: b.presSubject(room), inc: p.incs.Add(1), apply: apply,
		synced: make(chan struct{}), local: make(map[string]struct{}), changed: make(map[string]struct{})}
	p.do(func() { p.open(rp) })
	t := time.NewTimer(syncTimeout)
	defer t.Stop()
	select {
	case <-rp.synced:
	case <-t.C:
	case <-p.stop:
	}
	return rp
}

// Joined implements rooms.RoomPresence.
func (rp *roomPresence) Joined(id string) {
	rp.mu.Lock()
	rp.local[id] = struct{}{}
	first := rp.changedLocked(id)
	rp.mu.Unlock()
	if first {
		rp.p.markDirty(rp)
	}
}

// Left implements rooms.RoomPresence.
func (rp *roomPresence) Left(id string) {
	rp.mu.Lock()
	delete(rp.local, id)
	first := rp.changedLocked(id)
	rp.mu.Unlock()
	if first {
		rp.p.markDirty(rp)
	}
}

// Typing implements rooms.RoomPresence. A typing event is not part of
// the roster's order, so it is published at once from the caller's
// goroutine; it is dropped when NATS is away.
func (rp *roomPresence) Typing(id string) {
	rp.p.send(rp.subject, &wire{Type: msgTyping, Node: rp.p.node, Room: rp.name, Joined: []string{id},
		Time: time.Now().UnixNano()})
}

// changedLocked notes that id changed and reports whether it is the
// first change since the last delta.
func (rp *roomPresence) changedLocked(id string) bool {
	first := len(rp.changed) == 0
	if first {
		rp.since = time.Now()
	}
	rp.changed[id] = struct{}{}
	return first
}

// Close implements rooms.RoomPresence.
func (rp *roomPresence) Close() { rp.p.do(func() { rp.p.close(rp) }) }

// markDirty queues rp's changes for the next flush.
func (p *presence) markDirty(rp *roomPresence) {
	p.mu.Lock()
	p.dirty = append(p.dirty, rp)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// do runs f on the presence loop and waits for it; it returns at once
// when the loop is stopped.
func (p *presence) do(f func()) {
	done := make(chan struct{})
	select {
	case p.ctl <- func() { f(); close(done) }:
	case <-p.stop:
		return
	}
	select {
	case <-done:
	case <-p.stop:
	}
}

// reconnected tells the loop that NATS is back.
func (p *presence) reconnected() {
	select {
	case p.reconn <- struct{}{}:
	default:
	}
}

// halt stops the loop, and says goodbye when bye is set; it returns once
// the loop has returned. It is called once (by Broker.close, under its
// sync.Once).
func (p *presence) halt(bye bool) {
	close(p.stop)
	<-p.done
	if bye {
		p.send(p.nodeSubj, &wire{Type: msgBye, Node: p.node})
	}
}

// run is the presence loop: it applies the other nodes' messages, flushes
// this node's changes, beats and drops the nodes not heard, until halt.
func (p *presence) run() {
	defer close(p.done)
	beat := time.NewTicker(p.heartbeat)
	defer beat.Stop()
	check := time.NewTicker(p.heartbeat / livenessChecks)
	defer check.Stop()
	flush := time.NewTimer(batchDelay)
	flush.Stop()
	armed := false
	for {
		select {
		case <-p.stop:
			for _, s := range p.subs {
				s.Unsubscribe()
			}
			return
		case f := <-p.ctl:
			f()
		case m := <-p.in:
			p.handle(m)
		case <-p.kick:
			if !armed {
				flush.Reset(batchDelay)
				armed = true
			}
		case <-flush.C:
			armed = false
			p.flushAll()
		case <-beat.C:
			p.beat()
		case <-check.C:
			p.checkNodes()
		case <-p.reconn:
			p.resend()
		}
	}
}

// open registers rp, subscribes to its deltas and asks every node for its
// roster.
func (p *presence) open(rp *roomPresence) {
	sub, err := p.b.nc.ChanSubscribe(rp.subject, p.in)
	if err != nil {
		p.b.log.Warn("presence subscribe", zap.String("room", rp.name), zap.Error(err))
	}
	rp.sub = sub
	p.rooms[rp.name] = rp // an older incarnation closing meanwhile is not asked for again
	rp.remote = make(map[string]*remoteState, len(p.nodes))
	rp.waiting = make(map[string]bool, len(p.nodes))
	now := time.Now()
	for n := range p.nodes {
		rp.remote[n] = &remoteState{askedAt: now}
		rp.waiting[n] = true
	}
	p.send(p.syncSubj, &wire{Type: msgSync, Node: p.node, Room: rp.name})
	p.syncedIf(rp)
}

// syncedIf closes rp.synced once no first roster is awaited.
func (p *presence) syncedIf(rp *roomPresence) {
	if rp.waiting != nil && len(rp.waiting) == 0 {
		rp.waiting = nil
		close(rp.synced)
	}
}

// close forgets rp and tells the other nodes.
func (p *presence) close(rp *roomPresence) {
	rp.closed = true
	if rp.sub != nil {
		rp.sub.Unsubscribe()
	}
	if p.rooms[rp.name] == rp {
		delete(p.rooms, rp.name)
	}
	p.send(rp.subject, &wire{Type: msgClosed, Node: p.node, Room: rp.name, Inc: rp.inc, Time: time.Now().UnixNano()})
}

// flushAll sends the deltas of every room with changes.
func (p *presence) flushAll() {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = nil
	p.mu.Unlock()
	for _, rp := range dirty {
		if !rp.closed {
			p.flush(rp)
		}
	}
}

// flush sends rp's changes since its last delta, if any, cut in deltas
// that each fit a NATS message.
func (p *presence) flush(rp *roomPresence) {
	rp.mu.Lock()
	if len(rp.changed) == 0 {
		rp.mu.Unlock()
		return
	}
	var joined, left []string
	for id := range rp.changed {
		if _, ok := rp.local[id]; ok {
			joined = append(joined, id)
		} else {
			left = append(left, id)
		}
	}
	clear(rp.changed)
	at := rp.since.UnixNano()
	limit := p.chunkBytes()
	var deltas []*wire
	for len(joined)+len(left) > 0 {
		w := &wire{Type: msgDelta, Node: p.node, Room: rp.name, Inc: rp.inc, Time: at}
		var used int
		w.Joined, joined, used = cut(joined, limit)
		w.Left, left, _ = cut(left, limit-used)
		rp.ver++
		w.Ver = rp.ver
		deltas = append(deltas, w)
	}
	rp.mu.Unlock()
	for _, w := range deltas {
		p.send(rp.subject, w)
	}
}

// cut returns the first ids whose encoding fits limit bytes, the rest,
// and about the bytes the first take in a message. One id always fits a
// fresh message (limit ≥ minChunkBytes).
func cut(ids []string, limit int) (head, rest []string, bytes int) {
	n := 0
	for n < len(ids) && bytes+len(ids[n])+3 <= limit {
		bytes += len(ids[n]) + 3
		n++
	}
	return ids[:n], ids[n:], bytes
}

// chunkBytes is the most bytes of ids one message carries.
func (p *presence) chunkBytes() int {
	return max(int(p.b.nc.MaxPayload())/chunkShare, minChunkBytes)
}

// sendRoster sends rp's whole roster to subj, after any pending delta, so
// that the roster's Ver includes them.
func (p *presence) sendRoster(rp *roomPresence, subj string) {
	p.flush(rp)
	rp.mu.Lock()
	ids := make([]string, 0, len(rp.local))
	for id := range rp.local {
		ids = append(ids, id)
	}
	ver := rp.ver
	rp.mu.Unlock()
	limit := p.chunkBytes()
	var parts [][]string
	for len(ids) > 0 || len(parts) == 0 {
		var part []string
		part, ids, _ = cut(ids, limit)
		parts = append(parts, part)
	}
	now := time.Now().UnixNano()
	for i, part := range parts {
		p.send(subj, &wire{Type: msgRoster, Node: p.node, Room: rp.name, Inc: rp.inc, Ver: ver, Joined: part,
			Part: i, Parts: len(parts), Time: now})
	}
}

// send publishes w on subj; a failure (NATS away) is repaired by the
// resync after the reconnect.
func (p *presence) send(subj string, w *wire) {
	if w.Type == msgDelta && p.lose.CompareAndSwap(true, false) {
		return
	}
	data, err := json.Marshal(w)
	if err == nil {
		err = p.b.nc.Publish(subj, data)
	}
	if err != nil {
		p.b.log.Debug("presence publish", zap.String("subject", subj), zap.Error(err))
	}
}

// handle takes one message of another node.
func (p *presence) handle(m *nats.Msg) {
	var w wire
	if err := json.Unmarshal(m.Data, &w); err != nil || w.Node == "" || w.Node == p.node {
		return
	}
	if w.Type == msgBye {
		p.gone(w.Node)
		return
	}
	p.heard(w.Node)
	switch w.Type {
	case msgHello:
		nodes := make([]string, 0, len(p.nodes))
		for n := range p.nodes {
			nodes = append(nodes, n)
		}
		p.send(p.inboxOf(w.Node), &wire{Type: msgBeat, Node: p.node, Nodes: nodes})
	case msgBeat:
		for _, n := range w.Nodes {
			if n != p.node {
				p.heard(n)
			}
		}
	case msgSync:
		if rp := p.rooms[w.Room]; rp != nil {
			p.sendRoster(rp, p.inboxOf(w.Node))
		} else {
			p.send(p.inboxOf(w.Node), &wire{Type: msgRoster, Node: p.node, Room: w.Room, Parts: 1, Time: time.Now().UnixNano()})
		}
	case msgRoster:
		if rp := p.rooms[w.Room]; rp != nil {
			p.roster(rp, &w)
		}
	case msgDelta:
		if rp := p.rooms[w.Room]; rp != nil {
			p.delta(rp, &w)
		}
	case msgVer:
		if rp := p.rooms[w.Room]; rp != nil {
			st := rp.remote[w.Node]
			if st == nil || st.synced && (w.Inc > st.inc || w.Inc == st.inc && w.Ver > st.ver) {
				p.ask(rp, w.Node) // a delta was lost
			}
		}
	case msgTyping:
		if rp := p.rooms[w.Room]; rp != nil && len(w.Joined) == 1 {
			rp.apply(rooms.RemoteChange{Node: w.Node, Typing: w.Joined[0], Time: time.Unix(0, w.Time)})
		}
	case msgClosed:
		if rp := p.rooms[w.Room]; rp != nil {
			if st := rp.remote[w.Node]; st != nil && w.Inc >= st.inc {
				delete(rp.remote, w.Node)
				rp.apply(rooms.RemoteChange{Node: w.Node, Full: true, Time: time.Unix(0, w.Time)})
			}
		}
	}
}

func (p *presence) inboxOf(node string) string { return p.b.cfg.Stream + ".inbox." + node }

// heard notes that node is alive; a node not known alive is asked for its
// roster of every room open here.
func (p *presence) heard(node string) {
	_, known := p.nodes[node]
	p.nodes[node] = time.Now()
	if known {
		return
	}
	p.b.m.BrokerNodes.Set(float64(len(p.nodes) + 1))
	for _, rp := range p.rooms {
		p.ask(rp, node)
	}
}

// ask asks node for its roster of rp; deltas of node are ignored until it
// comes.
func (p *presence) ask(rp *roomPresence, node string) {
	st := rp.remote[node]
	if st == nil {
		st = &remoteState{}
		rp.remote[node] = st
	}
	st.synced, st.askedAt, st.asm = false, time.Now(), nil
	p.b.m.BrokerPresenceResyncs.Inc()
	p.send(p.inboxOf(node), &wire{Type: msgSync, Node: p.node, Room: rp.name})
}

// roster takes a part of w.Node's roster of rp; the last part replaces
// what was known of the node's members there.
func (p *presence) roster(rp *roomPresence, w *wire) {
	st := rp.remote[w.Node]
	if st == nil {
		st = &remoteState{}
		rp.remote[w.Node] = st
	}
	key := [2]uint64{w.Inc, w.Ver}
	switch {
	case w.Part == 0:
		st.asm, st.asmNext, st.asmKey = append([]string(nil), w.Joined...), 1, key
	case st.asm != nil && st.asmKey == key && st.asmNext == w.Part:
		st.asm = append(st.asm, w.Joined...)
		st.asmNext++
	default:
		p.ask(rp, w.Node) // a part was lost
		return
	}
	if st.asmNext < w.Parts {
		return
	}
	ids := st.asm
	st.asm = nil
	st.inc, st.ver, st.synced = w.Inc, w.Ver, true
	if w.Inc == 0 {
		delete(rp.remote, w.Node) // no members there
	}
	rp.apply(rooms.RemoteChange{Node: w.Node, Full: true, Joined: ids, Time: time.Unix(0, w.Time)})
	if rp.waiting[w.Node] {
		delete(rp.waiting, w.Node)
		p.syncedIf(rp)
	}
}

// delta takes w.Node's delta of rp: applied when it follows the last one
// known; after a skipped one, the node's roster is asked again.
func (p *presence) delta(rp *roomPresence, w *wire) {
	st := rp.remote[w.Node]
	if st == nil {
		st = &remoteState{synced: true}
		rp.remote[w.Node] = st
	}
	switch {
	case !st.synced:
		return // the roster asked for includes it
	case w.Inc < st.inc || w.Inc == st.inc && w.Ver <= st.ver:
		return // known already
	case w.Inc == st.inc && w.Ver == st.ver+1:
		st.ver = w.Ver
		rp.apply(rooms.RemoteChange{Node: w.Node, Joined: w.Joined, Left: w.Left, Time: time.Unix(0, w.Time)})
	case w.Inc > st.inc && w.Ver == 1:
		st.inc, st.ver = w.Inc, w.Ver // a new incarnation starts empty
		rp.apply(rooms.RemoteChange{Node: w.Node, Full: true, Joined: w.Joined, Time: time.Unix(0, w.Time)})
	default:
		p.ask(rp, w.Node) // a delta was lost
	}
}

// gone drops node's members from every room.
func (p *presence) gone(node string) {
	if _, ok := p.nodes[node]; !ok {
		return
	}
	delete(p.nodes, node)
	p.b.m.BrokerNodes.Set(float64(len(p.nodes) + 1))
	now := time.Now()
	for _, rp := range p.rooms {
		if _, ok := rp.remote[node]; ok {
			delete(rp.remote, node)
			rp.apply(rooms.RemoteChange{Node: node, Full: true, Time: now})
		}
		if rp.waiting[node] {
			delete(rp.waiting, node)
			p.syncedIf(rp)
		}
	}
}

// beat tells the other nodes this one is alive and, for each room whose
// roster changed since the last beat, the Ver of its latest delta: a node
// that lost that delta, with no later one to show the gap, finds it so.
func (p *presence) beat() {
	p.send(p.nodeSubj, &wire{Type: msgBeat, Node: p.node})
	for _, rp := range p.rooms {
		rp.mu.Lock()
		ver := rp.ver
		rp.mu.Unlock()
		if ver != rp.told {
			rp.told = ver
			p.send(rp.subject, &wire{Type: msgVer, Node: p.node, Room: rp.name, Inc: rp.inc, Ver: ver})
		}
	}
}

// checkNodes drops the nodes not heard for nodeTimeout, and asks again
// for rosters asked longer than syncTimeout ago.
func (p *presence) checkNodes() {
	now := time.Now()
	for n, last := range p.nodes {
		if now.Sub(last) > p.nodeTimeout {
			p.b.log.Info("cluster node gone", zap.String("node", n))
			p.gone(n)
		}
	}
	for _, rp := range p.rooms {
		for n, st := range rp.remote {
			if !st.synced && now.Sub(st.askedAt) > syncTimeout {
				p.ask(rp, n)
			}
		}
	}
}

// resend makes the rosters converge after a reconnect: deltas may have
// been lost both ways, and other nodes may have dropped this one. It says
// hello, pushes this node's roster of every room and asks every node for
// theirs.
func (p *presence) resend() {
	p.send(p.nodeSubj, &wire{Type: msgHello, Node: p.node})
	for _, rp := range p.rooms {
		p.sendRoster(rp, rp.subject)
		for n := range p.nodes {
			p.ask(rp, n)
		}
	}
}
