package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// testSecret is an HS256 secret of the minimum length.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// verifier loads a verifier from a secret file, as -auth-secret-file does.
func verifier(t *testing.T) *auth.Verifier {
	t.Helper()
	file := filepath.Join(t.TempDir(), "chat.secret")
	if err := os.WriteFile(file, append(testSecret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.LoadVerifier(file, "")
	if err != nil || v == nil {
		t.Fatalf("LoadVerifier: %v %v", v, err)
	}
	return v
}

func mint(t *testing.T, sub string, rooms []string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, auth.AlgHS256, sub, rooms, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signed returns a token with exactly claims, signed with method and key.
func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialToken connects as id to room with token passed as the query
// parameter, or as the bearer subprotocol when bearer is set.
func dialToken(addr, id, room, token string, bearer bool) (*websocket.Conn, *http.Response, error) {
	u := "ws://" + addr + "/ws/" + url.PathEscape(id) + "?room=" + url.QueryEscape(room)
	d := &websocket.Dialer{Subprotocols: []string{protocol.Subprotocol}}
	if bearer {
		d.Subprotocols = append(d.Subprotocols, auth.BearerProtocol(token))
	} else if token != "" {
		u += "&token=" + url.QueryEscape(token)
	}
	return d.Dial(u, nil)
}

func TestTokens(t *testing.T) {
	ts := startServer(t, server.Config{Auth: verifier(t)})
	exp := time.Now().Add(time.Hour).Unix()
	tests := []struct {
		name, id, room, token string
		bearer                bool
		status                int
		reason, label         string
	}{
		{name: "valid", id: "ana", room: "general", token: mint(t, "ana", nil, time.Hour)},
		{name: "valid bearer", id: "ana", room: "dev", token: mint(t, "ana", []string{"dev"}, time.Hour), bearer: true},
		{name: "NFD sub for an NFC path", id: "café", room: "general", token: mint(t, "cafe\u0301", nil, time.Hour)},
		{name: "rooms claim with *", id: "ana", room: "any", token: mint(t, "ana", []string{"*"}, time.Hour)},
		{name: "missing", id: "ana", room: "general", status: 401,
			reason: "token required: pass ?token= or the bearer.<token> subprotocol", label: "token_missing"},
		{name: "bad signature", id: "ana", room: "general", status: 401, reason: "invalid token: bad signature", label: "token_invalid",
			token: signed(t, jwt.SigningMethodHS256, []byte("another secret, also 32 bytes long"), jwt.MapClaims{"sub": "ana", "exp": exp})},
		{name: "bad signature bearer", id: "ana", room: "general", bearer: true, status: 401, reason: "invalid token: bad signature", label: "token_invalid",
			token: signed(t, jwt.SigningMethodHS256, []byte("another secret, also 32 bytes long"), jwt.MapClaims{"sub": "ana", "exp": exp})},
		{name: "expired", id: "ana", room: "general", token: mint(t, "ana", nil, -time.Hour), status: 401, reason: "token expired", label: "token_expired"},
		{name: "no exp", id: "ana", room: "general", status: 401, reason: "invalid token: no exp claim", label: "token_invalid",
			token: signed(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "ana"})},
		{name: "alg none", id: "ana", room: "general", status: 401, reason: "invalid token: signing algorithm not accepted", label: "token_invalid",
			token: signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "ana", "exp": exp})},
		{name: "wrong sub", id: "bob", room: "general", token: mint(t, "ana", nil, time.Hour), status: 401,
			reason: "token is for another client_id", label: "token_subject"},
		{name: "malformed", id: "ana", room: "general", token: "not-a-jwt", status: 401, reason: "invalid token: malformed", label: "token_invalid"},
		{name: "rooms claim", id: "ana", room: "ops", token: mint(t, "ana", []string{"general", "dev"}, time.Hour), status: 403,
			reason: "token does not grant this room", label: "forbidden_room"},
		{name: "rooms claim bearer", id: "ana", room: "ops", bearer: true, token: mint(t, "ana", []string{"dev"}, time.Hour), status: 403,
			reason: "token does not grant this room", label: "forbidden_room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.counter(t, "chat_upgrade_failures_total", "reason", tt.label)
			conn, resp, err := dialToken(ts.Addr, tt.id, tt.room, tt.token, tt.bearer)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("dial: %v (%v)", err, resp)
				}
				defer conn.Close()
				// The server echoes chat.v1, never the bearer value.
				if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != protocol.Subprotocol {
					t.Fatalf("Sec-WebSocket-Protocol %q, want only %q", got, protocol.Subprotocol)
				}
				var w event
				if err := conn.ReadJSON(&w); err != nil || w.Type != protocol.TypeWelcome || w.ClientID != tt.id {
					t.Fatalf("welcome %+v, %v", w, err)
				}
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(body) != tt.reason {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.reason)
			}
			ts.waitCounter(t, before+1, "chat_upgrade_failures_total", "reason", tt.label)
			if tt.bearer {
				return
			}
			// A plain GET of the same URL gets the same answer, for pages
			// that cannot see why their WebSocket failed.
			u := "http://" + ts.Addr + "/ws/" + url.PathEscape(tt.id) + "?room=" + url.QueryEscape(tt.room) + "&token=" + url.QueryEscape(tt.token)
			r, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != tt.status || string(body) != tt.reason {
				t.Fatalf("plain GET: %d %q, want %d %q", r.StatusCode, body, tt.status, tt.reason)
			}
		})
	}
}

func TestExpiredTokenClosesConnection(t *testing.T) {
	ts := startServer(t, server.Config{Auth: verifier(t)})
	// exp passed, but within the leeway: accepted, and closed when the
	// leeway ends too, two seconds from now at most.
	tok := mint(t, "ana", nil, -auth.Leeway+2*time.Second)
	conn, resp, err := dialToken(ts.Addr, "ana", "general", tok, true)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	c := &client{t: t, id: "ana", conn: conn}
	c.expect(protocol.TypeWelcome)
	c.expect(protocol.TypeConnection)
	if code := c.expectClose(); code != auth.CloseTokenExpired || code != int(protocol.CloseTokenExpired.Code) {
		t.Fatalf("close %d, want %d", code, auth.CloseTokenExpired)
	}
	ts.waitCounter(t, 1, "chat_connections_closed_total", "reason", "token_expired")
}

// TestTokensNeverLogged runs connects and refusals through both upgrade
// paths and both transports with debug logging, and looks for the tokens
// in every log entry.
func TestTokensNeverLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts := servertest.Start(t, "127.0.0.1:0", server.Config{Auth: verifier(t), Logger: zap.New(core)})
	good := mint(t, "ana", []string{"general"}, time.Hour)
	forbidden := mint(t, "bob", []string{"general"}, time.Hour)
	expired := mint(t, "carl", nil, -time.Hour)
	for _, bearer := range []bool{false, true} {
		conn, resp, err := dialToken(ts.Addr, "ana", "general", good, bearer)
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		conn.WriteMessage(websocket.TextMessage, []byte("hi"))
		conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		(&client{t: t, id: "ana", conn: conn}).expectClose()
		conn.Close()
		if _, resp, err := dialToken(ts.Addr, "bob", "ops", forbidden, bearer); err == nil || resp.StatusCode != 403 {
			t.Fatalf("forbidden room: %v %v", resp, err)
		}
		if _, resp, err := dialToken(ts.Addr, "carl", "general", expired, bearer); err == nil || resp.StatusCode != 401 {
			t.Fatalf("expired: %v %v", resp, err)
		}
	}
	// The net/http path: an absolute-form upgrade and a plain GET.
	for _, tok := range []string{good, forbidden, expired} {
		r, err := http.Get("http://" + ts.Addr + "/ws/ana?token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		req, _ := http.NewRequest("GET", "http://"+ts.Addr+"/ws/dan", nil)
		req.Header.Set("Sec-WebSocket-Protocol", "chat.v1, bearer."+tok)
		if r, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	ts.Stop()
	if logs.FilterMessage("upgrade refused").Len() == 0 || logs.FilterMessage("connected").Len() == 0 {
		t.Fatalf("the cycle logged no connect or refusal: %d entries", logs.Len())
	}
	for _, e := range logs.All() {
		text := e.Message
		for k, v := range e.ContextMap() {
			text += " " + k + "=" + fmt.Sprint(v)
		}
		for _, tok := range []string{good, forbidden, expired} {
			// The signature alone must not appear either.
			if sig := tok[strings.LastIndexByte(tok, '.')+1:]; strings.Contains(text, sig) {
				t.Fatalf("log entry carries a token: %s", text)
			}
		}
	}
}
