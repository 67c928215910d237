package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// ProtocolPrefix starts the Sec-WebSocket-Protocol value that carries a
// token: "bearer.<jwt>", offered beside "chat.v1". The server must never
// echo it; it echoes "chat.v1".
const ProtocolPrefix = "bearer."

// QueryParam is the query parameter that carries a token: ?token=<jwt>.
const QueryParam = "token"

// redacted replaces a token in logged text.
const redacted = "REDACTED"

// BearerProtocol returns the subprotocol value that carries token.
func BearerProtocol(token string) string { return ProtocolPrefix + token }

// TokenFromProtocol returns the token of one Sec-WebSocket-Protocol value
// and whether the value is a bearer one. Whatever follows the prefix is
// the token: Verify refuses anything but base64url and dots, which are the
// only characters a JWS has and are all valid in a header token, so a
// browser can offer any JWT this way.
func TokenFromProtocol(protocol string) (string, bool) {
	return strings.CutPrefix(protocol, ProtocolPrefix)
}

// TokenFromRequest returns the token a WebSocket handshake carries: the
// first bearer subprotocol in Sec-WebSocket-Protocol if there is one (it
// stays out of URLs and so out of access logs), else the token query
// parameter; "" when there is neither.
func TokenFromRequest(r *http.Request) string {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if t, ok := TokenFromProtocol(strings.TrimSpace(p)); ok {
				return t
			}
		}
	}
	return r.URL.Query().Get(QueryParam)
}

// Redact returns s, a request URI ("/ws/ana?room=x&token=…"), a URL or a
// raw query string, with the value of every token query parameter
// (however its name is percent-encoded, between "&" or ";") replaced by
// REDACTED. Everything after the first "?" is the query; a string without
// "?" is taken as a query string. Use it on anything that may reach a log.
func Redact(s string) string {
	start := strings.IndexByte(s, '?') + 1 // 0 without "?": all of s
	var b strings.Builder
	for i := start; i <= len(s); {
		end := i + strings.IndexAny(s[i:], "&;")
		if end < i {
			end = len(s)
		}
		key, _, hasValue := strings.Cut(s[i:end], "=")
		if k, err := url.QueryUnescape(key); hasValue && err == nil && k == QueryParam {
			if b.Len() == 0 {
				b.WriteString(s[:i])
			}
			b.WriteString(key + "=" + redacted)
		} else if b.Len() > 0 {
			b.WriteString(s[i:end])
		}
		if end < len(s) && b.Len() > 0 {
			b.WriteByte(s[end])
		}
		i = end + 1
	}
	if b.Len() == 0 {
		return s
	}
	return b.String()
}

// RedactProtocols returns a Sec-WebSocket-Protocol header value with the
// token of every bearer subprotocol replaced by REDACTED.
func RedactProtocols(header string) string {
	if !strings.Contains(header, ProtocolPrefix) {
		return header
	}
	parts := strings.Split(header, ",")
	for i, p := range parts {
		trimmed := strings.TrimSpace(p)
		if strings.HasPrefix(trimmed, ProtocolPrefix) {
			parts[i] = strings.Replace(p, trimmed, ProtocolPrefix+redacted, 1)
		}
	}
	return strings.Join(parts, ",")
}
