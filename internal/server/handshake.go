package server

import (
	"bytes"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/netpoll"
)

// headLimit bounds the head of a request read by the accept path; a larger
// head gets 431.
const headLimit = 8 << 10

// headBuffer is where a request head is read.
type headBuffer struct {
	b [headLimit]byte
	n int // bytes of b filled
}

// headBuffers holds head buffers; a handshake holds one only while bytes of
// its head have arrived and the head is not complete.
var headBuffers = sync.Pool{New: func() any { return new(headBuffer) }}

// handshake is an accepted connection whose request head is being read
// through the poller: no goroutine waits on it, and it holds a head buffer
// only once bytes arrive. Its descriptor is used only under mu, until the
// handshake is done and the descriptor is handed on or closed.
type handshake struct {
	// Static after start.
	srv    *Server
	fd     int // non-blocking, owned by the handshake until done
	remote netip.AddrPort
	web    *chanListener
	start  int64 // pool clock when accepted

	// Guarded by handshakes.mu.
	prev, next *handshake
	listed     bool

	mu         sync.Mutex
	buf        *headBuffer // from headBuffers while part of the head is in; guarded by mu
	registered bool        // the descriptor is in the poller; guarded by mu
	done       bool        // handed on, refused or dropped; guarded by mu
	// handed is set once the descriptor has a new owner (a session, the
	// page server, or the refusal that closes it): the handshake no longer
	// touches it, even when a panic unwinds through it. Guarded by mu.
	handed bool
}

// handOver gives the descriptor to its next owner and returns it.
func (h *handshake) handOver() int {
	h.handed = true
	return h.fd
}

// handshakes is the list of handshakes in progress, oldest first, capped
// by the descriptors left (at least Config.MaxHandshakes): past the cap the
// oldest is dropped, so that silent peers can never stop the server from
// accepting.
type handshakes struct {
	srv *Server

	mu             sync.Mutex
	oldest, newest *handshake // guarded by mu
	count          int        // guarded by mu
}

func newHandshakes(s *Server) *handshakes { return &handshakes{srv: s} }

// start reads the head of an accepted connection, from remote, or
// registers it with the poller to read it when it arrives, dropping the
// oldest handshake if every slot is taken.
func (hs *handshakes) start(fd int, remote netip.AddrPort, web *chanListener) {
	s := hs.srv
	h := &handshake{srv: s, fd: fd, remote: remote, web: web, start: s.pool.Clock()}
	// Heads may use every descriptor the other connections leave, and
	// always MaxHandshakes: silent peers are evicted only when descriptors
	// are short, and then the oldest first.
	limit := max(s.cfg.MaxHandshakes, s.cfg.MaxDescriptors-DefaultFDReserve-s.sessions.count()-s.web.conns.open())
	evicted := hs.push(h, limit)
	if evicted != nil {
		evicted.drop(metrics.UpgradeHandshakeEvicted)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done { // evicted meanwhile
		return
	}
	// A client usually sends its head right after connecting: read it now,
	// and wait in the poller only for what has not arrived.
	if h.readLocked() {
		return
	}
	perr := s.poller.Add(fd, h)
	h.registered = perr == nil
	if perr != nil {
		h.fail()
	}
}

// push appends h and unlinks the oldest handshake if the list is over
// limit, returning it.
func (hs *handshakes) push(h *handshake, limit int) (evicted *handshake) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h.listed = true
	if hs.newest == nil {
		hs.oldest, hs.newest = h, h
	} else {
		h.prev, hs.newest.next, hs.newest = hs.newest, h, h
	}
	hs.count++
	if hs.count > limit {
		evicted = hs.oldest
		hs.unlinkLocked(evicted)
	}
	hs.srv.metrics.Handshakes.Set(float64(hs.count))
	return evicted
}

func (hs *handshakes) unlink(h *handshake) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.unlinkLocked(h)
	hs.srv.metrics.Handshakes.Set(float64(hs.count))
}

func (hs *handshakes) unlinkLocked(h *handshake) {
	if !h.listed {
		return
	}
	h.listed = false
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		hs.oldest = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		hs.newest = h.prev
	}
	h.prev, h.next = nil, nil
	hs.count--
}

// expired unlinks and returns the handshakes started before cutoff.
func (hs *handshakes) expired(cutoff int64) []*handshake {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []*handshake
	for hs.oldest != nil && hs.oldest.start < cutoff {
		h := hs.oldest
		hs.unlinkLocked(h)
		out = append(out, h)
	}
	if out != nil {
		hs.srv.metrics.Handshakes.Set(float64(hs.count))
	}
	return out
}

// sweep drops handshakes older than the handshake timeout until the server
// stops.
func (hs *handshakes) sweep() {
	defer hs.srv.sweepers.Done()
	timeout := hs.srv.cfg.HandshakeTimeout
	t := time.NewTicker(min(max(timeout/10, 10*time.Millisecond), 500*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-hs.srv.stop:
			return
		case <-t.C:
		}
		for _, h := range hs.expired(hs.srv.pool.Clock() - int64(timeout)) {
			h.drop(metrics.UpgradeHandshakeTimeout)
		}
	}
}

// closeAll drops every handshake in progress: the server is shutting down.
func (hs *handshakes) closeAll() {
	for _, h := range hs.expired(1 << 62) {
		h.drop(metrics.UpgradeDraining)
	}
}

// drop closes a handshake that took too long or was evicted, unless it was
// handed on meanwhile.
func (h *handshake) drop(reason metrics.UpgradeFailure) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return
	}
	h.done = true
	h.release()
	h.srv.metrics.UpgradeFailures.WithLabelValues(string(reason)).Inc()
	h.unregister()
	unix.Close(h.fd)
}

// release returns the head buffer to its pool.
func (h *handshake) release() {
	if h.buf != nil {
		headBuffers.Put(h.buf)
		h.buf = nil
	}
}

// OnReady reads what arrived of the request head, without blocking, and
// once it is complete upgrades the connection or hands it to the page
// server.
func (h *handshake) OnReady(netpoll.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done || h.readLocked() {
		return
	}
	if err := h.srv.poller.Resume(h.fd); err != nil {
		h.fail()
	}
}

// readLocked reads what has arrived of the head and acts on it. It reports
// whether the handshake is over (handed on, refused or failed); false means
// the rest of the head is still to come.
func (h *handshake) readLocked() (over bool) {
	s := h.srv
	defer func() {
		if v := recover(); v != nil {
			s.metrics.Panics.Inc()
			s.log.Error("panic in handshake", zap.Any("panic", v), zap.Stack("stack"))
			h.fail()
			over = true
		}
	}()
	if h.buf == nil {
		h.buf = headBuffers.Get().(*headBuffer)
		h.buf.n = 0
	}
	hb := h.buf
	for {
		got, err := unix.Read(h.fd, hb.b[hb.n:])
		if err == unix.EAGAIN {
			if hb.n == 0 {
				h.release() // a silent peer holds no buffer
			}
			return false
		}
		if err != nil || got <= 0 {
			h.fail() // the peer went away before finishing its head
			return true
		}
		hb.n += got
		buf := hb.b[:hb.n]
		if end := headEnd(buf); end > 0 {
			h.finishLocked()
			s.dispatch(h, buf[:end], buf[end:])
			return true
		}
		if hb.n == headLimit {
			h.finishLocked()
			h.release()
			h.unregister()
			s.refuseRaw(h.handOver(), 431, "request head is too large", metrics.UpgradeBadHandshake)
			return true
		}
		if !mayBeWebSocket(buf) && bytes.IndexByte(buf, '\n') >= 0 {
			// Not a WebSocket request: the page server reads the rest.
			h.finishLocked()
			s.toPage(h, buf, nil)
			return true
		}
	}
}

// unregister takes the descriptor out of the poller, if it is in.
func (h *handshake) unregister() error {
	if !h.registered {
		return nil
	}
	h.registered = false
	return h.srv.poller.Del(h.fd)
}

// finishLocked takes h off the list: it is being handed on or refused.
func (h *handshake) finishLocked() {
	h.done = true
	h.srv.handshakes.unlink(h)
}

// fail drops a handshake whose connection failed or ended, and closes its
// descriptor unless it was handed over (a panic past the hand-over must not
// close a number the new owner closes, and another connection may reuse).
func (h *handshake) fail() {
	h.finishLocked()
	h.release()
	if h.handed {
		return
	}
	h.unregister()
	unix.Close(h.fd)
}

// headEnd returns the length of the request head at the start of b (up to
// and including the empty line that ends it, CRLF or bare LF), or 0 if it
// is not complete yet.
func headEnd(b []byte) int {
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return j + 1
		}
		k := bytes.IndexByte(b[i+1:], '\n')
		if k < 0 {
			return 0
		}
		i += 1 + k
	}
	return 0
}

// wsPrefix starts the request line of a WebSocket request in origin form.
const wsPrefix = "GET /ws/"

// mayBeWebSocket reports whether the bytes start like a WebSocket request
// in origin form (or could still, if fewer than the prefix arrived).
func mayBeWebSocket(b []byte) bool {
	if len(b) < len(wsPrefix) {
		return bytes.HasPrefix([]byte(wsPrefix), b)
	}
	return bytes.HasPrefix(b, []byte(wsPrefix))
}
