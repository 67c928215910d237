package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/names"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
)

// wsRequest is what a WebSocket request asks for, and what its checks
// found.
type wsRequest struct {
	clientID string // normalized by names.ClientID
	room     string // normalized by names.Room
	since    int64
	epoch    string
	extended bool
	token    string // from ?token= or the bearer subprotocol; cleared by authorize

	addr    netip.Addr // the client's address, for logs (realip)
	expires int64      // pool clock at which the token expires; 0 without tokens
	held    *session   // an anonymous connection's hold on its client_id: its session, to be attached
}

// refusal is why a WebSocket request is refused: the HTTP status and the
// plain-text reason it is answered with, and the metric label.
type refusal struct {
	status int
	reason string
	label  metrics.UpgradeFailure
}

func (r *refusal) Error() string { return r.reason }

// rejection is r as a gobwas/ws rejection, which writes the response.
func (r *refusal) rejection() error {
	return ws.RejectConnectionError(ws.RejectionStatus(r.status), ws.RejectionReason(r.reason))
}

// dispatch acts on a complete request head read by a handshake: a
// WebSocket upgrade in origin form, with CRLF line ends, is upgraded here
// without net/http; anything else (pages, absolute-form targets, bare-LF
// heads, plain GETs of a WebSocket URL) goes to the page server, which
// upgrades or answers it too.
func (s *Server) dispatch(h *handshake, head, rest []byte) {
	if mayBeWebSocket(head) && bytes.HasSuffix(head, []byte("\r\n\r\n")) && headerValue(head, "Upgrade") != nil {
		s.upgrade(h, head, rest)
		return
	}
	s.toPage(h, head, rest)
}

// toPage hands a handshake's connection, with the bytes already read, to
// the page server.
func (s *Server) toPage(h *handshake, head, rest []byte) {
	prefix := make([]byte, 0, len(head)+len(rest))
	prefix = append(append(prefix, head...), rest...)
	h.release()
	if err := h.unregister(); err != nil {
		unix.Close(h.handOver())
		return
	}
	conn, err := netConn(h.handOver())
	if err != nil {
		s.log.Warn("page connection", zap.Error(err))
		return
	}
	s.web.hand(h.web, &prefixConn{Conn: conn, prefix: prefix})
}

// netConn turns the connection of descriptor fd into a net.Conn, for the
// page server, which reads and writes it through the runtime's poller. It
// takes fd over: the net.Conn has a duplicate, and fd is closed.
func netConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	defer f.Close()
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("page connection: %w", err)
	}
	return conn, nil
}

// upgrade completes the WebSocket handshake of a connection whose request
// head is head; rest holds bytes the client sent after it.
func (s *Server) upgrade(h *handshake, head, rest []byte) {
	var (
		req      wsRequest
		ref      *refusal
		uri      string
		host     []byte
		origin   []byte
		xff      []string
		reserved bool
	)
	if key := headerValue(head, "Sec-WebSocket-Key"); key != nil && !validKey(string(key)) {
		ref = badKey
	}
	u := ws.Upgrader{
		Protocol: func(p []byte) bool { return string(p) == protocol.Subprotocol },
		OnRequest: func(b []byte) error {
			uri = string(b)
			if ref != nil {
				return ref.rejection()
			}
			var err error
			req, err = parseRequest(uri)
			ref, _ = err.(*refusal)
			if ref != nil {
				return ref.rejection()
			}
			return nil
		},
		OnHost: func(b []byte) error { host = bytes.Clone(b); return nil },
		OnHeader: func(key, value []byte) error {
			switch {
			case strings.EqualFold(string(key), "Origin"):
				origin = bytes.Clone(value)
			case strings.EqualFold(string(key), "X-Forwarded-For"):
				xff = append(xff, string(value))
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if ref = s.checkOrigin(origin, string(host)); ref != nil {
				return nil, ref.rejection()
			}
			if ref = s.authorize(&req, bearerToken(headerValues(head, "Sec-WebSocket-Protocol"))); ref != nil {
				return nil, ref.rejection()
			}
			if ref = s.reserve(); ref != nil {
				return nil, ref.rejection()
			}
			reserved = true
			if ref = s.claim(&req, true); ref != nil {
				return nil, ref.rejection()
			}
			return nil, nil
		},
	}
	// The response is kept and written together with the client's first
	// frames: one system call instead of two.
	var response bytes.Buffer
	hs, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), &response})
	req.addr = s.realip.PeerClientAddr(h.remote.Addr(), xff)
	if err != nil {
		if reserved {
			s.sessions.unreserve()
		}
		if req.held != nil {
			s.identities.release(req.held)
		}
		if ref == nil {
			ref = &refusal{label: metrics.UpgradeBadHandshake}
		}
		s.metrics.UpgradeFailures.WithLabelValues(string(ref.label)).Inc()
		if ce := s.log.Check(zap.DebugLevel, "upgrade refused"); ce != nil {
			ce.Write(zap.Stringer("addr", req.addr), zap.String("uri", auth.Redact(uri)),
				zap.String("protocols", auth.RedactProtocols(string(headerValue(head, "Sec-WebSocket-Protocol")))),
				zap.String("reason", string(ref.label)), zap.Error(err))
		}
		h.release()
		h.unregister()
		fd := h.handOver()
		unix.Write(fd, response.Bytes()) // the refusal, with its reason: a new socket has room
		unix.Close(fd)
		return
	}
	req.extended = hs.Protocol == protocol.Subprotocol
	// rest is in the head buffer, which attach is done with when it
	// returns: the decoder copies what it keeps.
	err = s.attach(h.handOver(), req, response.Bytes(), rest, h.registered)
	h.release()
	if err != nil {
		s.log.Warn("attach connection", zap.Error(err))
	}
}

// serveWebSocketHTTP answers a request for a WebSocket URL that reached the
// page server: an upgrade arriving on a reused keep-alive connection, with
// an absolute-form target or bare-LF line ends is upgraded; a plain GET
// gets the answer an upgrade would get (its refusal, or 426 Upgrade
// Required), so that a browser page, which cannot see why its WebSocket
// was refused, can ask.
func (s *Server) serveWebSocketHTTP(w http.ResponseWriter, r *http.Request) {
	upgrading := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	var req wsRequest
	ref := func() *refusal {
		if key := r.Header.Get("Sec-WebSocket-Key"); key != "" && !validKey(key) {
			return badKey
		}
		var err error
		req, err = parseRequest(r.URL.RequestURI())
		if ref, ok := err.(*refusal); ok {
			return ref
		}
		var origin []byte
		if o, ok := r.Header["Origin"]; ok && len(o) > 0 {
			origin = []byte(o[0])
		}
		if ref := s.checkOrigin(origin, r.Host); ref != nil {
			return ref
		}
		return s.authorize(&req, bearerToken(r.Header.Values("Sec-WebSocket-Protocol")))
	}()
	if ref == nil && !upgrading {
		switch s.sessions.available() {
		case errFull:
			ref = s.fullRefusal()
		case errDraining:
			ref = drainingRefusal
		default:
			if ref = s.claim(&req, false); ref == nil {
				ref = &refusal{status: http.StatusUpgradeRequired, label: metrics.UpgradeNotWebSocket,
					reason: "this is a WebSocket endpoint: connect with a WebSocket client"}
				w.Header().Set("Upgrade", "websocket")
			}
		}
	}
	if ref == nil {
		ref = s.reserve()
		if ref == nil {
			if ref = s.claim(&req, true); ref != nil {
				s.sessions.unreserve()
			}
		}
	}
	req.addr = s.realip.FromRequest(r)
	if ref != nil {
		s.metrics.UpgradeFailures.WithLabelValues(string(ref.label)).Inc()
		if ce := s.log.Check(zap.DebugLevel, "upgrade refused"); ce != nil {
			ce.Write(zap.Stringer("addr", req.addr), zap.String("uri", auth.Redact(r.RequestURI)),
				zap.String("protocols", auth.RedactProtocols(strings.Join(r.Header.Values("Sec-WebSocket-Protocol"), ", "))),
				zap.String("reason", string(ref.label)), zap.Int("status", ref.status))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if o := r.Header.Get("Origin"); o != "" && (s.anyOrigin || s.origins[o]) {
			// A page of another allowed origin (a peer's) may read why.
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Add("Vary", "Origin")
		}
		w.WriteHeader(ref.status)
		io.WriteString(w, ref.reason)
		return
	}
	u := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == protocol.Subprotocol }}
	conn, rw, hs, err := u.Upgrade(r, w)
	if err != nil {
		s.unadmit(&req)
		s.metrics.UpgradeFailures.WithLabelValues(string(metrics.UpgradeBadHandshake)).Inc()
		if conn != nil {
			conn.Close()
		}
		return
	}
	req.extended = hs.Protocol == protocol.Subprotocol
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		early = bytes.Clone(b)
	}
	if pc, ok := conn.(*prefixConn); ok {
		early = append(early, pc.prefix...)
		pc.prefix = nil
	}
	fd, err := takeFD(conn)
	if err != nil {
		s.unadmit(&req)
		s.log.Warn("attach connection", zap.Error(err))
		return
	}
	if err := s.attach(fd, req, nil, early, false); err != nil {
		s.log.Warn("attach connection", zap.Error(err))
	}
}

// takeFD returns a duplicate of conn's descriptor, for a session, and
// closes conn: the session reads and writes through its own poller, and
// the page server's deadlines no longer apply.
func takeFD(conn net.Conn) (int, error) {
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("connection %T has no descriptor", conn)
	}
	return dupFD(sc)
}

// dupFD returns a close-on-exec duplicate of c's descriptor.
func dupFD(c syscall.Conn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("raw connection: %w", err)
	}
	fd := -1
	var derr error
	if err := raw.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		derr = err
	}
	if derr != nil {
		return -1, fmt.Errorf("duplicate descriptor: %w", derr)
	}
	return fd, nil
}

var (
	badKey = &refusal{status: http.StatusBadRequest, label: metrics.UpgradeBadKey,
		reason: "bad Sec-WebSocket-Key: want the base64 encoding of 16 bytes"}
	drainingRefusal = &refusal{status: http.StatusServiceUnavailable, label: metrics.UpgradeDraining,
		reason: "server shutting down"}
)

func (s *Server) fullRefusal() *refusal {
	return &refusal{status: http.StatusServiceUnavailable, label: metrics.UpgradeServerFull,
		reason: fmt.Sprintf("server full: %d connections", s.cfg.MaxConnections)}
}

// reserve admits one more WebSocket connection, or returns its refusal.
func (s *Server) reserve() *refusal {
	switch s.sessions.reserve() {
	case errFull:
		return s.fullRefusal()
	case errDraining:
		return drainingRefusal
	}
	return nil
}

// unadmit gives back what admitting req took, its reservation and its
// claim, when its upgrade fails.
func (s *Server) unadmit(req *wsRequest) {
	s.sessions.unreserve()
	if req.held != nil {
		s.identities.release(req.held)
	}
}

// authorize checks req's token, when the server requires tokens: the
// bearer subprotocol's token if there is one, else the ?token= one. It
// records when the token expires and forgets the token.
func (s *Server) authorize(req *wsRequest, bearer string) *refusal {
	token := req.token
	req.token = ""
	if bearer != "" {
		token = bearer
	}
	if s.cfg.Auth == nil {
		return nil
	}
	claims, err := s.cfg.Auth.Verify(token, req.clientID, req.room)
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			ae = &auth.Error{Status: http.StatusUnauthorized, Reason: "invalid token", Label: auth.LabelTokenInvalid}
		}
		return &refusal{status: ae.Status, reason: ae.Reason, label: metrics.UpgradeFailure(ae.Label)}
	}
	if !claims.ExpiresAt.IsZero() {
		// Verify accepts a token up to auth.Leeway past its exp; the
		// connection lasts as long.
		req.expires = s.pool.Clock() + int64(time.Until(claims.ExpiresAt.Add(auth.Leeway)))
	}
	return nil
}

// claim takes, or with take false only checks, the client_id of an
// anonymous connection in its room (see identities).
func (s *Server) claim(req *wsRequest, take bool) *refusal {
	if s.identities == nil {
		return nil
	}
	held, ref := s.identities.acquire(req.room, req.clientID, take)
	req.held = held
	return ref
}

// bearerToken returns the token of the first bearer subprotocol offered in
// the Sec-WebSocket-Protocol header values, or "".
func bearerToken(values []string) string {
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			if t, ok := auth.TokenFromProtocol(strings.TrimSpace(p)); ok {
				return t
			}
		}
	}
	return ""
}

// validKey reports whether key is the base64 encoding of 16 bytes, as RFC
// 6455 section 4.2.1 requires of Sec-WebSocket-Key.
func validKey(key string) bool {
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// checkOrigin applies the origin policy: no Origin (not a browser) is
// allowed; a browser Origin must match the request's Host, or be allowed by
// Config.AllowedOrigins.
func (s *Server) checkOrigin(origin []byte, host string) *refusal {
	if origin == nil || s.anyOrigin || s.origins[string(origin)] {
		return nil
	}
	if u, err := url.Parse(string(origin)); err == nil && u.Host != "" && strings.EqualFold(u.Host, host) &&
		(u.Scheme == "http" || u.Scheme == "https") {
		return nil
	}
	return &refusal{status: http.StatusForbidden, label: metrics.UpgradeForbiddenOrigin,
		reason: "origin not allowed"}
}

// parseRequest reads client id, room, since and epoch from a request URI
// in origin form; a failure is a *refusal.
func parseRequest(uri string) (wsRequest, error) {
	req := wsRequest{room: protocol.DefaultRoom, since: rooms.NoResume}
	path, rawQuery, _ := strings.Cut(uri, "?")
	rawID, ok := strings.CutPrefix(path, "/ws/")
	if !ok {
		return req, bad(metrics.UpgradeBadClientID, "bad client_id: the path must be /ws/{client_id}")
	}
	id, err := url.PathUnescape(rawID)
	if err != nil {
		return req, bad(metrics.UpgradeBadClientID, "bad client_id: bad percent-encoding")
	}
	if req.clientID, err = names.ClientID(id); err != nil {
		return req, bad(metrics.UpgradeBadClientID, "bad client_id: "+err.Error())
	}
	// The names outlive the request: copied, they do not keep its URI.
	req.clientID = strings.Clone(req.clientID)
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return req, bad(metrics.UpgradeBadHandshake, "bad query string")
	}
	if q.Has("room") {
		if req.room, err = names.Room(q.Get("room")); err != nil {
			return req, bad(metrics.UpgradeBadRoom, "bad room: "+err.Error())
		}
		req.room = strings.Clone(req.room)
	}
	req.token = q.Get(auth.QueryParam)
	if q.Has("since") {
		since, err := strconv.ParseInt(q.Get("since"), 10, 64)
		if err != nil || since < 0 {
			return req, bad(metrics.UpgradeBadHandshake, "bad since: want a message seq, 0 or more")
		}
		req.since = since
	}
	req.epoch = q.Get("epoch")
	if len(req.epoch) > maxEpochBytes {
		return req, bad(metrics.UpgradeBadHandshake, "bad epoch: too long")
	}
	return req, nil
}

// maxEpochBytes bounds the epoch a client may send; epochs are at most 13
// characters.
const maxEpochBytes = 64

func bad(label metrics.UpgradeFailure, reason string) error {
	return &refusal{status: http.StatusBadRequest, label: label, reason: reason}
}

// headerSeq yields the values of the headers called name in a request
// head, trimmed, in order.
func headerSeq(head []byte, name string) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for line := range bytes.Lines(head) {
			k, v, ok := bytes.Cut(line, []byte(":"))
			if ok && strings.EqualFold(string(bytes.TrimSpace(k)), name) && !yield(bytes.TrimSpace(v)) {
				return
			}
		}
	}
}

// headerValues returns the values of every header called name in a
// request head, trimmed.
func headerValues(head []byte, name string) []string {
	var vs []string
	for v := range headerSeq(head, name) {
		vs = append(vs, string(v))
	}
	return vs
}

// headerValue returns the value of the first header called name in a
// request head, trimmed, or nil if there is none.
func headerValue(head []byte, name string) []byte {
	for v := range headerSeq(head, name) {
		return v
	}
	return nil
}

// refuseRaw answers a connection the page server never saw with a plain
// HTTP error and closes it.
func (s *Server) refuseRaw(fd int, status int, reason string, label metrics.UpgradeFailure) {
	s.metrics.UpgradeFailures.WithLabelValues(string(label)).Inc()
	unix.Write(fd, fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(reason), reason))
	unix.Close(fd)
}
