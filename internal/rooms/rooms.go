package rooms

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
)

// NoResume is the Since value of a client that does not resume.
const NoResume = -1

// ErrClosed is returned by Join after Close.
var ErrClosed = errors.New("rooms: closed")

// Registry is the set of rooms.
type Registry struct {
	// Static after construction.
	cfg     Config
	history history
	stop    chan struct{} // closed by Close; never reopened
	done    sync.WaitGroup

	mu     sync.Mutex
	rooms  map[string]*room // guarded by mu
	closed bool             // guarded by mu

	// testHook, when set (by tests only), runs at the
	// named points while a room's lock is held.
	testHook atomic.Pointer[func(point string)]
}

// room is one incarnation of a chat room. Its members are a slice of
// connections, removed by swap, so that fan-out is a tight loop; ids counts
// the connections of each client id, because several connections of one
// id (the tabs and devices of one signed-in client) are one member: counted
// once, listed once, announced when the first joins and when the last
// leaves. In a cluster (see Presence) the same holds across nodes: remote
// has the other nodes' client ids and others the number of other nodes
// holding each, so that an id is announced when it first appears on any
// node and when it is gone from all.
type room struct {
	// Static after construction.
	name  string
	ready chan struct{} // closed once the room is attached to its broker; never reopened
	// Static once ready is closed.
	feed    Feed
	pres    RoomPresence // nil: this node's members alone
	openErr error        // the broker's refusal; the room is forgotten then

	mu            sync.Mutex
	epoch         string         // changes when the broker's history of the room restarts; guarded by mu
	members       []*Member      // one per connection; guarded by mu
	ids           map[string]int // connections per client id; guarded by mu
	seq           uint64         // guarded by mu
	log           roomLog        // guarded by Registry.history.mu
	membersJSON   []byte         // the ids a welcome lists, encoded; nil when they changed; guarded by mu
	presenceDirty bool           // guarded by mu
	lastPresence  int64          // clock; guarded by mu
	dead          bool           // removed from Registry.rooms; guarded by mu
	// The other nodes' members (see applyRemote), nil until one is known:
	// node to its client ids; client id to the number of other nodes
	// holding it; the number of those ids not in ids. Guarded by mu.
	remote     map[string]map[string]struct{}
	others     map[string]int
	remoteOnly int
	// sent and departed are the dedupe window of PublishID (see sentIDs);
	// awaiting has the member to ack each id on its way to the broker
	// from this node. Guarded by mu.
	sent       map[string]*sentIDs
	departed   []departure
	departures uint64
	awaiting   map[awaitKey]*Member
}

// Member is one client's membership of a room.
type Member struct {
	// Static after Join (extended too, at the end, where it packs with
	// index).
	id   string
	out  *outbound.Conn
	room *room

	// failed tells the member a message of its was not ordered; it is
	// made at the member's first message (most members of a large room
	// never send one). Guarded by room.mu.
	failed func(error)

	// typingAt is the clock before which the member's typing is not
	// forwarded again; guarded by room.mu.
	typingAt int64
	index    int32 // position in room.members, -1 once left; guarded by room.mu
	extended bool
}

// ID returns the member's client id.
func (m *Member) ID() string { return m.id }

// New creates a registry and starts its presence loop.
func New(cfg Config) *Registry {
	cfg = cfg.withDefaults()
	r := &Registry{
		cfg: cfg,
		history: history{maxCount: cfg.History, maxRoomBytes: cfg.HistoryRoomBytes,
			maxTotalBytes: cfg.HistoryTotalBytes, gauge: cfg.Metrics.HistoryBytes},
		stop:  make(chan struct{}),
		rooms: make(map[string]*room),
	}
	cfg.Metrics.HistoryBytes.Set(0)
	if cfg.Broker == nil {
		r.cfg.Broker = localBroker{}
		cfg.Metrics.BrokerConnected.Set(1)
		cfg.Metrics.BrokerNodes.Set(1)
	}
	r.done.Add(1)
	go r.presenceLoop()
	return r
}

// Close stops the presence loop and refuses further joins. Members still in
// rooms stay until they leave.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	r.done.Wait()
}

// Ready reports whether the registry's broker can order messages now.
func (r *Registry) Ready() bool { return r.cfg.Broker.Ready() }

func (r *Registry) hook(point string) {
	if h := r.testHook.Load(); h != nil {
		(*h)(point)
	}
}

// JoinRequest describes a client joining a room.
type JoinRequest struct {
	ClientID string
	Room     string
	// Since is the last message seq the client saw, or NoResume; Epoch is
	// the epoch that seq counts in ("" when the client has none).
	Since int64
	Epoch string
	// Extended is set for clients that get the extension events (welcome,
	// presence): those that offered the chat.v1 subprotocol.
	Extended bool
	// Out receives the member's frames.
	Out *outbound.Conn
	// Member, when set, is the zero Member that Join fills in and returns,
	// so that a caller may keep it in the same allocation as the rest of
	// the connection's state; it must not be copied or reused afterwards.
	// Nil has Join allocate one.
	Member *Member
}

// Join adds a client's connection to a room and queues its welcome, the
// kept messages it asked for and the join notice. A connection whose client
// id is already in the room joins that member: the room's member count and
// list do not change and only the new connection gets the join notice.
func (r *Registry) Join(req JoinRequest) (*Member, error) {
	rm, err := r.lockRoom(req.Room)
	if err != nil {
		return nil, err
	}
	// A panic on the way (a bug, a test hook) undoes the join once the
	// room's lock is released, so that it leaves neither a member nobody
	// will remove nor an empty room behind.
	var added *Member
	joined := false
	defer func() {
		switch {
		case joined:
		case added != nil:
			r.Leave(added)
		default:
			r.forget(rm)
		}
	}()
	defer rm.mu.Unlock()
	r.hook("join")
	m := req.Member
	if m == nil {
		m = new(Member)
	}
	*m = Member{id: req.ClientID, extended: req.Extended, out: req.Out, room: rm, index: int32(len(rm.members))}
	rm.members = append(rm.members, m)
	conns := rm.ids[m.id] + 1
	rm.ids[m.id] = conns
	added = m
	elsewhere := rm.others[m.id] > 0  // in the room on another node
	first := conns == 1 && !elsewhere // on any node
	if conns == 1 {
		if len(rm.ids) <= protocol.MaxListedMembers || elsewhere {
			// A newcomer is listed only while the list has room: after
			// that the first listed ids stay this node's ones before it
			// (unless it was listed as another node's).
			rm.membersJSON = nil
		}
		if elsewhere {
			rm.remoteOnly--
		}
		if rm.pres != nil {
			rm.pres.Joined(m.id)
		}
	}
	now, ts := r.cfg.Clock(), r.cfg.Now()

	var replay [][]byte
	gap := false
	if req.Since != NoResume {
		replay, gap = r.replayLocked(rm, req.Since, req.Epoch)
	}
	if m.extended {
		welcome := protocol.Event{Type: protocol.TypeWelcome, ClientID: m.id, Room: rm.name, Time: ts,
			Seq: rm.seq, Epoch: rm.epoch, MemberCount: rm.countLocked(), MaxMessageBytes: r.cfg.MaxMessageBytes,
			MembersJSON: rm.listedMembersLocked(), Gap: gap}
		m.out.Send(protocol.NewFrame(&welcome), now)
	}
	for _, f := range replay {
		m.out.Send(f, now)
	}
	notice := rm.noticeLocked(protocol.TypeConnection, m.id, ts)
	switch {
	case first && r.noticesLocked(rm):
		rm.deliverLocked(notice, now, false)
	case first:
		m.out.Send(notice, now)
		rm.presenceDirty = true
	default:
		m.out.Send(notice, now)
	}
	joined = true
	return m, nil
}

// lockRoom returns the live room called name, made and attached to the
// broker if missing, locked.
func (r *Registry) lockRoom(name string) (*room, error) {
	for {
		rm, made, err := r.findRoom(name)
		if err != nil {
			return nil, err
		}
		if made {
			r.open(rm)
		}
		<-rm.ready
		if rm.openErr != nil {
			return nil, rm.openErr
		}
		rm.mu.Lock()
		if !rm.dead {
			return rm, nil
		}
		rm.mu.Unlock() // emptied and forgotten meanwhile: make it again
	}
}

// findRoom returns the room called name, and whether it was made now (it
// is to be opened then).
func (r *Registry) findRoom(name string) (rm *room, made bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false, ErrClosed
	}
	if rm = r.rooms[name]; rm != nil {
		return rm, false, nil
	}
	rm = &room{name: name, ids: make(map[string]int), ready: make(chan struct{})}
	r.rooms[name] = rm
	r.cfg.Metrics.Rooms.Set(float64(len(r.rooms)))
	return rm, true, nil
}

// open attaches rm to the broker, with no lock held (it may wait on the
// network), and forgets rm if the broker refuses.
func (r *Registry) open(rm *room) {
	feed, epoch, err := r.cfg.Broker.Open(rm.name, func(msg Message) { r.receive(rm, msg) })
	if p, ok := r.cfg.Broker.(Presence); ok && err == nil {
		rm.pres = p.OpenPresence(rm.name, func(c RemoteChange) { r.applyRemote(rm, c) })
	}
	rm.mu.Lock()
	rm.feed, rm.openErr = feed, err
	if err == nil && rm.epoch == "" {
		rm.epoch = epoch // no message was delivered
	}
	rm.mu.Unlock()
	close(rm.ready)
	if err != nil {
		r.forget(rm)
	}
}

// NewEpoch returns a fresh epoch: 64 random bits, which no earlier
// incarnation of the room, in this process or before a restart, shares.
// Brokers name the incarnations of their rooms' histories with it.
func NewEpoch() string { return strconv.FormatUint(rand.Uint64(), 36) }

// replayLocked returns the kept frames a client resuming with since and
// epoch gets, and whether it missed some. Within the room's epoch the
// client gets what followed since. With another epoch (or none, past seq
// 0), or a seq the room never reached, what the client saw belongs to an
// earlier incarnation: it gets the current incarnation's kept messages,
// and a gap.
func (r *Registry) replayLocked(rm *room, since int64, epoch string) ([][]byte, bool) {
	continuous := uint64(since) <= rm.seq && (epoch == rm.epoch || since == 0 && epoch == "")
	if !continuous {
		frames, _ := r.history.since(&rm.log, 0, rm.seq, r.cfg.ReplayBytes)
		return frames, true
	}
	return r.history.since(&rm.log, uint64(since), rm.seq, r.cfg.ReplayBytes)
}

// listedMembersLocked returns the JSON array of the ids a welcome lists,
// each once, encoding it again only after the listed members changed.
func (rm *room) listedMembersLocked() []byte {
	if rm.membersJSON != nil {
		return rm.membersJSON
	}
	b := []byte{'['}
	var listed map[string]bool // only when some id has several connections
	if len(rm.ids) < len(rm.members) {
		listed = make(map[string]bool, min(len(rm.ids), protocol.MaxListedMembers))
	}
	n := 0
	for _, m := range rm.members {
		if n == protocol.MaxListedMembers {
			break
		}
		if listed != nil {
			if listed[m.id] {
				continue
			}
			listed[m.id] = true
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, m.id)
		n++
	}
	for id := range rm.others { // the other nodes' ids after this node's
		if n == protocol.MaxListedMembers {
			break
		}
		if rm.ids[id] > 0 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendString(b, id)
		n++
	}
	rm.membersJSON = append(b, ']')
	return rm.membersJSON
}

func (r *Registry) noticesLocked(rm *room) bool {
	return r.cfg.NoticeLimit < 0 || rm.countLocked() <= r.cfg.NoticeLimit
}

// Leave removes m from its room, announces it when it was its client id's
// last connection there, and forgets an emptied room with its history.
// Leave is called once per member.
func (r *Registry) Leave(m *Member) {
	if r.leave(m) {
		r.forget(m.room)
	}
}

// leave removes m and reports whether its room is now empty.
func (r *Registry) leave(m *Member) (empty bool) {
	rm := m.room
	rm.mu.Lock()
	defer rm.mu.Unlock()
	r.hook("leave")
	if m.index < 0 {
		return false
	}
	// Otherwise the first MaxListedMembers members are as many distinct
	// ids, which fill the list (no other node's id is listed) and stay.
	if m.index < protocol.MaxListedMembers || len(rm.ids) < len(rm.members) {
		rm.membersJSON = nil // the first listed members, or who is listed first, changed
	}
	last := len(rm.members) - 1
	moved := rm.members[last]
	rm.members[m.index] = moved
	moved.index = m.index
	rm.members[last] = nil
	rm.members = rm.members[:last]
	m.index = -1
	if rm.ids[m.id]--; rm.ids[m.id] > 0 {
		return false // the client is still here on another connection
	}
	delete(rm.ids, m.id)
	rm.departLocked(m.id)
	if rm.pres != nil {
		rm.pres.Left(m.id)
	}
	elsewhere := rm.others[m.id] > 0 // still in the room on another node
	if elsewhere {
		rm.remoteOnly++
	}
	if len(rm.members) == 0 {
		return true
	}
	if elsewhere {
		return false
	}
	r.announceLocked(rm, protocol.TypeDisconnection, m.id, r.cfg.Now(), r.cfg.Clock())
	return false
}

// forget removes rm from the registry, and detaches it from its broker,
// if it is still empty.
func (r *Registry) forget(rm *room) {
	if !r.remove(rm) {
		return
	}
	// With no lock held: a delivery may be waiting for the room's.
	if rm.feed != nil {
		rm.feed.Close()
	}
	if rm.pres != nil {
		rm.pres.Close()
	}
}

// remove removes rm from the registry if it is still empty, and reports
// whether it did.
func (r *Registry) remove(rm *room) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if len(rm.members) > 0 || rm.dead {
		return false
	}
	rm.dead = true
	delete(r.rooms, rm.name)
	r.cfg.Metrics.Rooms.Set(float64(len(r.rooms)))
	r.history.drop(&rm.log)
	return true
}

// Publish sends text from m to every member of m's room, m included, on
// every node, as the room's next message; the broker orders it (see
// Broker). received is when the message arrived; the time until it is
// queued for every local member (with the in-process broker), or handed to
// the broker, is observed as the broadcast duration. A message the broker
// cannot order is dropped, and m told with an error event if it asked for
// extension events. text is not retained.
func (r *Registry) Publish(m *Member, text []byte, received time.Time) {
	if failed := r.present(m); failed != nil {
		m.room.feed.Publish(Message{ClientID: m.id, Text: text, Time: r.cfg.Now()}, failed)
	}
	r.cfg.Metrics.BroadcastDuration.Observe(time.Since(received).Seconds())
}

// present returns m's failed callback, made if missing, while m is still
// in its room, and nil once it left.
func (r *Registry) present(m *Member) func(error) {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	if m.index < 0 {
		return nil // m left meanwhile
	}
	r.hook("publish")
	if m.failed == nil {
		m.failed = func(error) { r.publishFailed(m, "") }
	}
	return m.failed
}

// publishFailed tells m that a message of its, sent with id ("" for
// none), was dropped.
func (r *Registry) publishFailed(m *Member, id string) {
	r.cfg.Metrics.MessagesRejected.WithLabelValues(string(metrics.RejectUnavailable)).Inc()
	if m.extended {
		m.out.Send(protocol.NewFrame(&protocol.Event{Type: protocol.TypeError, Code: protocol.ErrorUnavailable, ID: id,
			Message: "the message could not be delivered now: dropped, send it again later", Time: r.cfg.Now()}), r.cfg.Clock())
	}
}

// receive takes msg, ordered by the broker, as rm's next message: keeps
// it and queues it for every local member.
func (r *Registry) receive(rm *room, msg Message) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	r.cfg.Metrics.BrokerMessages.Inc()
	if rm.dead {
		return
	}
	if frame := r.orderLocked(rm, msg); frame != nil {
		if msg.ID != "" {
			r.ackLocked(rm, msg)
		}
		rm.deliverLocked(frame, r.cfg.Clock(), false)
	}
}

// orderLocked makes msg the room's latest message, keeps it in the history
// and returns its frame; nil when the room had it already. A message of
// another epoch starts the history again; one past the next seq (messages
// expired while the feed was away) too, so that the history kept never
// has a hole and a resume from before it is told of a gap.
func (r *Registry) orderLocked(rm *room, msg Message) []byte {
	switch {
	case msg.Epoch != rm.epoch:
		r.history.drop(&rm.log)
		rm.epoch = msg.Epoch
	case msg.Seq <= rm.seq:
		return nil
	case msg.Seq > rm.seq+1:
		r.history.drop(&rm.log)
		r.cfg.Metrics.BrokerGaps.Inc()
	}
	rm.seq = msg.Seq
	ev := protocol.Event{Type: protocol.TypeMessage, ClientID: msg.ClientID, Message: string(msg.Text), Room: rm.name,
		Time: msg.Time, Seq: rm.seq}
	frame := protocol.NewFrame(&ev)
	r.history.add(&rm.log, rm.seq, frame)
	return frame
}

// deliverLocked queues frame for every member of rm, or only for the
// extended ones.
func (rm *room) deliverLocked(frame []byte, now int64, extendedOnly bool) {
	for _, m := range rm.members {
		if extendedOnly && !m.extended {
			continue
		}
		m.out.Send(frame, now)
	}
}

// presenceLoop sends presence events of large rooms until Close.
func (r *Registry) presenceLoop() {
	defer r.done.Done()
	t := time.NewTicker(max(r.cfg.PresenceInterval/4, 10*time.Millisecond))
	defer t.Stop()
	var rooms []*room
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		rooms = r.snapshot(rooms[:0])
		for _, rm := range rooms {
			r.presence(rm)
		}
		clear(rooms)
	}
}

func (r *Registry) snapshot(dst []*room) []*room {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range r.rooms {
		dst = append(dst, rm)
	}
	return dst
}

func (r *Registry) presence(rm *room) {
	now := r.cfg.Clock()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !rm.presenceDirty || now-rm.lastPresence < int64(r.presenceInterval(len(rm.members))) {
		return
	}
	rm.presenceDirty = false
	rm.lastPresence = now
	ev := protocol.Event{Type: protocol.TypePresence, Room: rm.name, Time: r.cfg.Now(), MemberCount: rm.countLocked()}
	rm.deliverLocked(protocol.NewFrame(&ev), now, true)
}

// presenceInterval is the least time between presence events of a room of
// n members: PresenceInterval, stretched in rooms over presenceFrames
// members so that presence costs at most presenceFrames frames per
// PresenceInterval in any room.
func (r *Registry) presenceInterval(n int) time.Duration {
	return r.cfg.PresenceInterval * time.Duration(max(1, (n+presenceFrames-1)/presenceFrames))
}

// presenceFrames bounds the presence frames a room costs per
// PresenceInterval; see presenceInterval.
const presenceFrames = 1000
