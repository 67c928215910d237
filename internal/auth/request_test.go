package auth

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestTokenFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		target    string
		protocols []string
		want      string
	}{
		{"none", "/ws/ana", nil, ""},
		{"query", "/ws/ana?room=dev&token=a.b.c", nil, "a.b.c"},
		{"query escaped", "/ws/ana?%74oken=a.b.c", nil, "a.b.c"},
		{"subprotocol", "/ws/ana", []string{"chat.v1, bearer.x.y.z"}, "x.y.z"},
		{"subprotocol first", "/ws/ana", []string{"bearer.x.y.z,chat.v1"}, "x.y.z"},
		{"second header", "/ws/ana", []string{"chat.v1", "bearer.x.y.z"}, "x.y.z"},
		{"subprotocol wins over query", "/ws/ana?token=a.b.c", []string{"chat.v1, bearer.x.y.z"}, "x.y.z"},
		{"only chat.v1", "/ws/ana?token=a.b.c", []string{"chat.v1"}, "a.b.c"},
		{"prefix must start the value", "/ws/ana", []string{"chat.v1, xbearer.x.y.z"}, ""},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		for _, p := range tc.protocols {
			r.Header.Add("Sec-WebSocket-Protocol", p)
		}
		if got := TokenFromRequest(r); got != tc.want {
			t.Errorf("%s: TokenFromRequest = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got, ok := TokenFromProtocol(BearerProtocol("a.b.c")); !ok || got != "a.b.c" {
		t.Errorf("TokenFromProtocol(BearerProtocol) = %q, %v", got, ok)
	}
	if _, ok := TokenFromProtocol("chat.v1"); ok {
		t.Errorf("chat.v1 taken for a bearer protocol")
	}
}

func TestRedact(t *testing.T) {
	for _, in := range []struct{ in, want string }{
		{"/ws/ana", "/ws/ana"},
		{"/ws/ana?room=dev", "/ws/ana?room=dev"},
		{"/ws/ana?token=SECRET", "/ws/ana?token=REDACTED"},
		{"/ws/ana?room=dev&token=SECRET&since=4", "/ws/ana?room=dev&token=REDACTED&since=4"},
		{"/ws/ana?token=SECRET&token=MORE", "/ws/ana?token=REDACTED&token=REDACTED"},
		{"/ws/ana?%74oken=SECRET", "/ws/ana?%74oken=REDACTED"},
		{"/ws/ana?room=dev;token=SECRET", "/ws/ana?room=dev;token=REDACTED"},
		{"/ws/ana?tokens=keep&xtoken=keep", "/ws/ana?tokens=keep&xtoken=keep"},
		{"/ws/ana?token", "/ws/ana?token"},
		{"wss://chat.example/ws/ana?room=a&token=SECRET", "wss://chat.example/ws/ana?room=a&token=REDACTED"},
		{"room=dev&token=SECRET", "room=dev&token=REDACTED"},
		{"token=SECRET", "token=REDACTED"},
		{"token=SECRET&", "token=REDACTED&"},
		{"", ""},
	} {
		if got := Redact(in.in); got != in.want {
			t.Errorf("Redact(%q) = %q, want %q", in.in, got, in.want)
		}
	}
	for _, in := range []struct{ in, want string }{
		{"chat.v1", "chat.v1"},
		{"chat.v1, bearer.a.b.c", "chat.v1, bearer.REDACTED"},
		{"bearer.a.b.c,chat.v1", "bearer.REDACTED,chat.v1"},
	} {
		if got := RedactProtocols(in.in); got != in.want {
			t.Errorf("RedactProtocols(%q) = %q, want %q", in.in, got, in.want)
		}
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("/ws/ana?room=dev&token=a.b.c")
	f.Add("token=x;token=y&&token")
	f.Fuzz(func(t *testing.T, s string) {
		out := Redact(s)
		// ParseQuery skips a malformed pair and reports it, as the server does.
		query, _ := url.ParseQuery(out[strings.IndexByte(out, '?')+1:])
		for _, v := range query[QueryParam] {
			if v != "" && v != redacted {
				t.Fatalf("Redact(%q) = %q: the server would still read token %q", s, out, v)
			}
		}
	})
}
