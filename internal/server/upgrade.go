package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/metrics"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
)

// wsRequest is what a WebSocket request asks for.
type wsRequest struct {
	clientID string
	room     string
	since    int64
	epoch    string
	extended bool
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
	var err error
	if cerr := h.raw.Control(func(fd uintptr) { err = s.poller.Del(int(fd)) }); cerr != nil || err != nil {
		h.conn.Close()
		return
	}
	s.web.hand(h.web, &prefixConn{Conn: h.conn, prefix: prefix})
}

// upgrade completes the WebSocket handshake of a connection whose request
// head is head; rest holds bytes the client sent after it.
func (s *Server) upgrade(h *handshake, head, rest []byte) {
	var (
		req      wsRequest
		ref      *refusal
		host     []byte
		origin   []byte
		reserved bool
	)
	if key := headerValue(head, "Sec-WebSocket-Key"); key != nil && !validKey(string(key)) {
		ref = badKey
	}
	u := ws.Upgrader{
		Protocol: func(p []byte) bool { return string(p) == protocol.Subprotocol },
		OnRequest: func(uri []byte) error {
			if ref != nil {
				return ref.rejection()
			}
			var err error
			req, err = parseRequest(string(uri))
			ref, _ = err.(*refusal)
			if ref != nil {
				return ref.rejection()
			}
			return nil
		},
		OnHost: func(b []byte) error { host = bytes.Clone(b); return nil },
		OnHeader: func(key, value []byte) error {
			if strings.EqualFold(string(key), "Origin") {
				origin = bytes.Clone(value)
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if ref = s.checkOrigin(origin, string(host)); ref != nil {
				return nil, ref.rejection()
			}
			if ref = s.reserve(); ref != nil {
				return nil, ref.rejection()
			}
			reserved = true
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
	if err != nil {
		if reserved {
			s.sessions.unreserve()
		}
		if ref == nil {
			ref = &refusal{label: metrics.UpgradeBadHandshake}
		}
		s.metrics.UpgradeFailures.WithLabelValues(string(ref.label)).Inc()
		s.log.Debug("upgrade refused", zap.String("reason", string(ref.label)), zap.Error(err))
		h.release()
		h.raw.Control(func(fd uintptr) { s.poller.Del(int(fd)) })
		h.conn.Write(response.Bytes()) // the refusal, with its reason
		h.conn.Close()
		return
	}
	req.extended = hs.Protocol == protocol.Subprotocol
	early := bytes.Clone(rest)
	h.release()
	if err := s.attach(h.conn, req, response.Bytes(), early, true); err != nil {
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
	ref := func() *refusal {
		if key := r.Header.Get("Sec-WebSocket-Key"); key != "" && !validKey(key) {
			return badKey
		}
		_, err := parseRequest(r.URL.RequestURI())
		if ref, ok := err.(*refusal); ok {
			return ref
		}
		var origin []byte
		if o, ok := r.Header["Origin"]; ok && len(o) > 0 {
			origin = []byte(o[0])
		}
		return s.checkOrigin(origin, r.Host)
	}()
	upgrading := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if ref == nil && !upgrading {
		switch s.sessions.available() {
		case errFull:
			ref = s.fullRefusal()
		case errDraining:
			ref = drainingRefusal
		default:
			ref = &refusal{status: http.StatusUpgradeRequired, label: metrics.UpgradeNotWebSocket,
				reason: "this is a WebSocket endpoint: connect with a WebSocket client"}
			w.Header().Set("Upgrade", "websocket")
		}
	}
	if ref == nil {
		ref = s.reserve()
	}
	if ref != nil {
		s.metrics.UpgradeFailures.WithLabelValues(string(ref.label)).Inc()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(ref.status)
		io.WriteString(w, ref.reason)
		return
	}
	req, _ := parseRequest(r.URL.RequestURI())
	u := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == protocol.Subprotocol }}
	conn, rw, hs, err := u.Upgrade(r, w)
	if err != nil {
		s.sessions.unreserve()
		s.metrics.UpgradeFailures.WithLabelValues(string(metrics.UpgradeBadHandshake)).Inc()
		if conn != nil {
			conn.Close()
		}
		return
	}
	// The page server's deadlines would make every raw read and write of
	// the session fail once they pass.
	conn.SetDeadline(time.Time{})
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
	if err := s.attach(conn, req, nil, early, false); err != nil {
		s.log.Warn("attach connection", zap.Error(err))
	}
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
	if err == nil && strings.Contains(id, "/") {
		err = errors.New("contains a slash")
	}
	if err == nil {
		err = protocol.ValidateName(id)
	}
	if err != nil {
		return req, bad(metrics.UpgradeBadClientID, "bad client_id: "+strings.TrimPrefix(err.Error(), protocol.ErrBadName.Error()+": "))
	}
	req.clientID = id
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return req, bad(metrics.UpgradeBadHandshake, "bad query string")
	}
	if q.Has("room") {
		if err := protocol.ValidateName(q.Get("room")); err != nil {
			return req, bad(metrics.UpgradeBadRoom, "bad room: "+strings.TrimPrefix(err.Error(), protocol.ErrBadName.Error()+": "))
		}
		req.room = q.Get("room")
	}
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

// headerValue returns the value of the first header called name in a
// request head, trimmed, or nil if there is none.
func headerValue(head []byte, name string) []byte {
	for line := range bytes.Lines(head) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(k)), name) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// refuseRaw answers a connection the page server never saw with a plain
// HTTP error and closes it.
func (s *Server) refuseRaw(conn net.Conn, status int, reason string, label metrics.UpgradeFailure) {
	s.metrics.UpgradeFailures.WithLabelValues(string(label)).Inc()
	fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), len(reason), reason)
	conn.Close()
}
