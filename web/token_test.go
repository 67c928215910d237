package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

var tokenSecret = []byte("0123456789abcdef0123456789abcdef")

// startAuthServer starts a chat server that requires tokens signed with
// tokenSecret.
func startAuthServer(t *testing.T) *testServer {
	t.Helper()
	file := filepath.Join(t.TempDir(), "chat.secret")
	if err := os.WriteFile(file, tokenSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.LoadVerifier(file, "")
	if err != nil {
		t.Fatal(err)
	}
	return servertest.Start(t, "127.0.0.1:0", server.Config{Auth: v})
}

func pageToken(t *testing.T, sub string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint(tokenSecret, auth.AlgHS256, sub, nil, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTokenFromPageURL opens the page with #token=..., which connects to a
// server that requires tokens; the token leaves the address bar, and
// travels as the bearer subprotocol, not in the WebSocket URL.
func TestTokenFromPageURL(t *testing.T) {
	srv := startAuthServer(t)
	browser := newBrowser(t)
	tok := pageToken(t, "ana", time.Hour)
	for _, where := range []string{"/?room=signed#token=" + tok, "/?room=signed&token=" + tok} {
		p := openPage(t, browser, "ana", "http://"+srv.Addr+where)
		countSockets(p, "")
		if got := eval[string](p, `location.href`); got != "http://"+srv.Addr+"/?room=signed" {
			t.Fatalf("address bar %q still holds the token", got)
		}
		eval[bool](p, `(() => { const W = window.WebSocket; window.WebSocket = class extends W {
			constructor(url, protocols) { window.lastURL = url; window.lastProtocols = protocols; super(url, protocols); } }; return true; })()`)
		p.join("ana")
		p.waitConnected()
		if u := eval[string](p, `window.lastURL`); len(u) == 0 || strings.Contains(u, tok) {
			t.Fatalf("WebSocket URL %q carries the token", u)
		}
		if ps := eval[[]string](p, `window.lastProtocols`); len(ps) != 2 || ps[0] != "chat.v1" || ps[1] != "bearer."+tok {
			t.Fatalf("subprotocols %q", ps)
		}
	}
}

// TestTokenMissingOrExpiredAsksForOne: without a token, or with an expired
// one, the page shows the 401 sentence and the token field; pasting a
// valid token there connects.
func TestTokenMissingOrExpiredAsksForOne(t *testing.T) {
	srv := startAuthServer(t)
	browser := newBrowser(t)
	for _, tc := range []struct{ url, reason string }{
		{"/?room=signed", "token required"},
		{"/?room=signed#token=" + pageToken(t, "ana", -time.Hour), "token expired"},
	} {
		p := openPage(t, browser, "ana", "http://"+srv.Addr+tc.url)
		p.setValue("username", "")
		p.do("join as ana", chromedp.SendKeys("#username", "ana"), chromedp.Click("#connect-btn"))
		p.waitJS(`document.getElementById("status").dataset.state === "disconnected" &&
			!document.getElementById("token-field").hidden &&
			document.getElementById("join-error").textContent.startsWith("This server needs a valid sign-in token (`+tc.reason+`")`,
			"the 401 sentence with "+tc.reason)
		p.setValue("token", pageToken(t, "ana", time.Hour))
		p.do("connect with a token", chromedp.Click("#connect-btn"))
		p.waitConnected()
	}
}

// TestNameRefusedBeforeConnecting: a name that names.js refuses is refused
// with its reason, and no WebSocket is opened.
func TestNameRefusedBeforeConnecting(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	p := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=names")
	countSockets(p, "")
	p.setValue("username", "\u202Eana")
	p.do("connect with a bidi override", chromedp.Click("#connect-btn"))
	p.waitJS(`document.getElementById("join-error").textContent ===
		"The username cannot be used: contains a bidirectional control character (U+202E)." &&
		document.getElementById("username").getAttribute("aria-invalid") === "true"`, "the names.js reason")
	p.setValue("username", "ana")
	p.setValue("room", "gen\u200Beral")
	p.do("connect to a room with a zero-width space", chromedp.Click("#connect-btn"))
	p.waitJS(`document.getElementById("join-error").textContent === "The room name cannot be used: contains an invisible character (U+200B)."`, "the room reason")
	if n := eval[int](p, `window.socketsOpened`); n != 0 {
		t.Fatalf("the page opened %d WebSockets for refused names", n)
	}
}
