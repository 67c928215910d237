package hub

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
)

// NoResume is the since value of a client that does not resume.
const NoResume = -1

// Hub is the set of rooms and the machinery that delivers to their members.
type Hub struct {
	// Static after construction.
	cfg   Config
	log   *zap.Logger
	epoch time.Time // origin of the hub clock
	ready chan *Client
	wheel *wheel
	ping  []byte // a ping frame, shared

	coalesce    atomic.Int64 // current coalescing interval, nanoseconds
	queuedBytes atomic.Int64 // bytes queued over all clients
	clients     atomic.Int64 // clients joined and not finished
	live        sync.WaitGroup

	mu    sync.Mutex
	rooms map[string]*room // guarded by mu

	stop     chan struct{} // closed by Shutdown; never reopened
	stopOnce sync.Once
	workers  sync.WaitGroup
}

// room is one chat room. Its members are a slice, removed by swap, so that
// fan-out is a tight loop.
type room struct {
	name string

	// Guarded by mu.
	mu            sync.Mutex
	members       []*Client
	seq           uint64
	history       [][]byte // ring of the last frames, frame of seq s at s%len
	membersJSON   []byte   // the ids a welcome lists, encoded; nil when they changed
	presenceDirty bool
	lastPresence  int64 // hub clock
	dead          bool  // removed from Hub.rooms
}

// New creates a hub and starts its writers and maintenance goroutine.
func New(cfg Config) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{
		cfg:   cfg,
		log:   cfg.Logger,
		epoch: time.Now(),
		// Every client is in ready at most once, so MaxClients plus the
		// clients still finishing never fill it.
		ready: make(chan *Client, cfg.MaxClients+1024),
		ping:  protocol.Frame(ws.OpPing, nil),
		rooms: make(map[string]*room),
		stop:  make(chan struct{}),
	}
	h.wheel = newWheel(h.ready, h.epoch)
	cfg.Metrics.OutboundQueueBytes.Set(0)
	for range cfg.Writers {
		h.workers.Add(1)
		go h.writer()
	}
	h.workers.Add(2)
	go h.wheel.run(h.stop, &h.workers)
	go h.maintain()
	return h
}

// clock returns the hub's monotonic clock in nanoseconds.
func (h *Hub) clock() int64 { return int64(time.Since(h.epoch)) }

// Clients returns the number of clients joined and not yet torn down.
func (h *Hub) Clients() int { return int(h.clients.Load()) }

// QueuedBytes returns the bytes queued and not yet written, over all clients.
func (h *Hub) QueuedBytes() int64 { return h.queuedBytes.Load() }

func (h *Hub) updateCoalesce() {
	n := h.clients.Load()
	iv := time.Duration(n) * time.Second / time.Duration(h.cfg.WriteBudget)
	h.coalesce.Store(int64(min(iv, h.cfg.MaxCoalesce)))
}

// JoinRequest describes a client joining a room.
type JoinRequest struct {
	Conn     net.Conn
	ClientID string
	Room     string
	// Since is the last message seq the client saw, or NoResume.
	Since int64
	// Closer, if not nil, is told when the client is torn down.
	Closer Closer
	// Greeting is written before the client's first frames, in the same
	// write: the server passes its handshake response here.
	Greeting []byte
}

// Join adds a client to a room and queues, in one write, its greeting, its
// welcome, the kept messages after Since and the join notice.
func (h *Hub) Join(req JoinRequest) *Client {
	now := h.clock()
	// Marked scheduled until its first frames are all queued, so that they
	// leave in one write.
	c := &Client{id: req.ClientID, conn: req.Conn, hub: h, closer: req.Closer, scheduled: true}
	c.lastSeen.Store(now)
	h.live.Add(1)
	h.clients.Add(1)
	h.updateCoalesce()
	h.cfg.Metrics.ConnectionsOpened.Inc()
	h.cfg.Metrics.Connections.Inc()

	h.mu.Lock()
	r := h.rooms[req.Room]
	if r == nil {
		r = &room{name: req.Room, history: make([][]byte, h.cfg.History)}
		h.rooms[req.Room] = r
		h.cfg.Metrics.Rooms.Set(float64(len(h.rooms)))
	}
	c.room = r
	r.mu.Lock()
	h.mu.Unlock()
	defer func() {
		r.mu.Unlock()
		h.ready <- c
	}()

	c.index = len(r.members)
	r.members = append(r.members, c)
	if c.index < protocol.MaxListedMembers {
		r.membersJSON = nil
	}
	ts := h.cfg.Now()

	if len(req.Greeting) > 0 {
		c.greetings = 1 // no writer owns c yet
		c.Send(req.Greeting)
	}
	welcome := protocol.Event{Type: protocol.TypeWelcome, ClientID: c.id, Room: r.name, Time: ts,
		Seq: r.seq, MemberCount: len(r.members), MaxMessageBytes: h.cfg.MaxMessageBytes,
		MembersJSON: r.listedMembersLocked()}
	var replay [][]byte
	if req.Since != NoResume {
		replay, welcome.Gap = r.sinceLocked(uint64(req.Since))
	}
	c.Send(protocol.NewFrame(&welcome))
	for _, f := range replay {
		c.Send(f)
	}

	notice := protocol.Event{Type: protocol.TypeConnection, ClientID: c.id, Room: r.name, Time: ts,
		Message: c.id + " joined the chat", MemberCount: len(r.members)}
	if h.noticesLocked(r) {
		h.fanOutLocked(r, protocol.NewFrame(&notice), now)
	} else {
		c.Send(protocol.NewFrame(&notice))
		r.presenceDirty = true
	}
	return c
}

// listedMembersLocked returns the JSON array of the ids a welcome lists,
// encoding it again only after the listed members changed.
func (r *room) listedMembersLocked() []byte {
	if r.membersJSON == nil {
		b := []byte{'['}
		for i, m := range r.members[:min(len(r.members), protocol.MaxListedMembers)] {
			if i > 0 {
				b = append(b, ',')
			}
			b = protocol.AppendString(b, m.id)
		}
		r.membersJSON = append(b, ']')
	}
	return r.membersJSON
}

// sinceLocked returns the kept frames with seq > since and whether some
// after since are missing.
func (r *room) sinceLocked(since uint64) (frames [][]byte, gap bool) {
	if since > r.seq {
		return nil, true // the room is younger than the client thinks
	}
	oldest := uint64(1)
	if r.seq > uint64(len(r.history)) {
		oldest = r.seq - uint64(len(r.history)) + 1
	}
	from := since + 1
	if from < oldest {
		from, gap = oldest, true
	}
	for s := from; s <= r.seq; s++ {
		frames = append(frames, r.history[s%uint64(len(r.history))])
	}
	return frames, gap
}

func (h *Hub) noticesLocked(r *room) bool {
	return h.cfg.NoticeLimit < 0 || len(r.members) <= h.cfg.NoticeLimit
}

// leave removes c from its room, announces it, and forgets an empty room.
func (h *Hub) leave(c *Client) {
	r := c.room
	r.mu.Lock()
	if c.index < protocol.MaxListedMembers {
		r.membersJSON = nil
	}
	last := len(r.members) - 1
	moved := r.members[last]
	r.members[c.index] = moved
	moved.index = c.index
	r.members[last] = nil
	r.members = r.members[:last]
	empty := len(r.members) == 0
	if !empty {
		if h.noticesLocked(r) {
			notice := protocol.Event{Type: protocol.TypeDisconnection, ClientID: c.id, Room: r.name, Time: h.cfg.Now(),
				Message: c.id + " left the chat", MemberCount: len(r.members)}
			h.fanOutLocked(r, protocol.NewFrame(&notice), h.clock())
		} else {
			r.presenceDirty = true
		}
	}
	r.mu.Unlock()
	h.clients.Add(-1)
	h.updateCoalesce()
	if !empty {
		return
	}
	h.mu.Lock()
	r.mu.Lock()
	if len(r.members) == 0 && !r.dead {
		r.dead = true
		delete(h.rooms, r.name)
		h.cfg.Metrics.Rooms.Set(float64(len(h.rooms)))
	}
	r.mu.Unlock()
	h.mu.Unlock()
}

// Broadcast sends text from c to every member of c's room, c included, as
// the room's next message. received is when the message arrived; the time
// until it is queued for every member is observed as the broadcast
// duration.
func (h *Hub) Broadcast(c *Client, text []byte, received time.Time) {
	r := c.room
	r.mu.Lock()
	r.seq++
	ev := protocol.Event{Type: protocol.TypeMessage, ClientID: c.id, Message: string(text), Room: r.name,
		Time: h.cfg.Now(), Seq: r.seq}
	frame := protocol.NewFrame(&ev)
	r.history[r.seq%uint64(len(r.history))] = frame
	h.fanOutLocked(r, frame, h.clock())
	r.mu.Unlock()
	h.cfg.Metrics.BroadcastDuration.Observe(time.Since(received).Seconds())
}

// fanOutLocked queues frame for every member of r.
func (h *Hub) fanOutLocked(r *room, frame []byte, now int64) {
	var queued int64
	for _, m := range r.members {
		if m.enqueue(frame, now) {
			queued += int64(len(frame))
		}
	}
	h.queuedBytes.Add(queued)
}

// schedule hands c to a writer now, or at due if that is later.
func (h *Hub) schedule(c *Client, due, now int64) {
	if due <= now {
		h.ready <- c
		return
	}
	h.wheel.add(c, due)
}

func (h *Hub) writer() {
	defer h.workers.Done()
	w := &writerScratch{buf: make([]byte, writerBufferSize)}
	for {
		select {
		case c := <-h.ready:
			h.flushSafely(c, w)
		case <-h.stop:
			return
		}
	}
}

// flushSafely flushes c, and closes only c if that panics.
func (h *Hub) flushSafely(c *Client, w *writerScratch) {
	defer func() {
		if v := recover(); v != nil {
			h.cfg.Metrics.Panics.Inc()
			h.log.Error("panic while writing to a client", zap.String("client_id", c.id), zap.Any("panic", v), zap.Stack("stack"))
			c.finish(metrics.ClosePanic)
		}
	}()
	c.flush(w)
}

// maintain pings quiet clients, closes idle ones and sends presence events
// of large rooms, until Shutdown.
func (h *Hub) maintain() {
	defer h.workers.Done()
	period := max(min(h.cfg.IdleTimeout/10, h.cfg.PresenceInterval), 10*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	var rooms []*room
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		rooms = h.snapshotRooms(rooms[:0])
		for _, r := range rooms {
			h.maintainRoom(r)
		}
		clear(rooms)
		h.cfg.Metrics.OutboundQueueBytes.Set(float64(h.queuedBytes.Load()))
	}
}

func (h *Hub) snapshotRooms(dst []*room) []*room {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.rooms {
		dst = append(dst, r)
	}
	return dst
}

func (h *Hub) maintainRoom(r *room) {
	now := h.clock()
	idle := int64(h.cfg.IdleTimeout)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.members {
		c.trimIfIdle(now)
		silent := now - c.lastSeen.Load()
		switch {
		case silent > idle:
			c.Close(protocol.CloseIdleTimeout, metrics.CloseIdleTimeout)
		case silent > idle/2 && now-c.lastPing > idle/2:
			c.lastPing = now
			c.Send(h.ping)
		}
	}
	if r.presenceDirty && now-r.lastPresence >= int64(h.presenceInterval(len(r.members))) {
		r.presenceDirty = false
		r.lastPresence = now
		ev := protocol.Event{Type: protocol.TypePresence, Room: r.name, Time: h.cfg.Now(), MemberCount: len(r.members)}
		h.fanOutLocked(r, protocol.NewFrame(&ev), now)
	}
}

// presenceInterval is the least time between presence events of a room of
// n members: PresenceInterval, stretched in rooms over presenceFrames
// members so that presence costs at most presenceFrames frames per
// PresenceInterval in any room.
func (h *Hub) presenceInterval(n int) time.Duration {
	return h.cfg.PresenceInterval * time.Duration(max(1, (n+presenceFrames-1)/presenceFrames))
}

// presenceFrames bounds the presence frames a room costs per
// PresenceInterval; see presenceInterval.
const presenceFrames = 1000

// Shutdown sends close 1001 to every client, waits until their queues are
// flushed and they are torn down, or until ctx ends, then closes what is
// left and stops the writers. It returns ctx's error if the deadline cut the
// flush short. Shutdown is idempotent.
func (h *Hub) Shutdown(ctx context.Context) error {
	for _, r := range h.snapshotRooms(nil) {
		r.mu.Lock()
		for _, c := range r.members {
			c.Close(protocol.CloseGoingAway, metrics.CloseShutdown)
		}
		r.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { h.live.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		// Unblock writers stuck on peers that do not read; their write
		// fails and they tear the client down.
		for _, r := range h.snapshotRooms(nil) {
			r.mu.Lock()
			for _, c := range r.members {
				c.conn.Close()
			}
			r.mu.Unlock()
		}
		<-done
	}
	h.stopOnce.Do(func() { close(h.stop) })
	h.workers.Wait()
	return err
}
