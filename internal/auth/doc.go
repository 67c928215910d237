// Package auth verifies and mints the signed tokens that tie a WebSocket
// connection to a client_id.
//
// A token is a JWT (RFC 7519) signed with one algorithm, chosen by the
// key: HS256 with a shared secret (the server's -auth-secret-file; the
// file's bytes less one trailing newline, at least MinSecretBytes), or
// EdDSA (Ed25519) or ES256 (ECDSA P-256) with a public key
// (-auth-public-key-file, PEM), for deployments where the chat server must
// not hold the key that mints tokens. Only that algorithm is accepted: a
// token with alg "none", or signed with another algorithm (including an
// HS256 token made with a public key as its secret), is refused.
//
// A token must carry exp (accepted up to Leeway after it passes, for clock
// skew) and sub, which must equal the connection's client_id after the
// normalization of package names. The optional rooms claim, an array of
// room names, limits the rooms the token opens; "*" (AnyRoom) is any room,
// and without the claim every room is open.
//
// A client passes its token as the query parameter ?token=JWT, or, kept out
// of URLs, as the WebSocket subprotocol "bearer.JWT" offered beside
// "chat.v1" (browsers cannot set headers on a WebSocket; a JWT's base64url
// characters and dots are valid in the header). The server echoes
// "chat.v1", never the bearer value. Tokens must never reach logs: pass
// request URIs through Redact and Sec-WebSocket-Protocol values through
// RedactProtocols.
//
// A refusal is an *Error with the HTTP status (401, or 403 for a room the
// token does not grant), a plain-text reason for the client and a metric
// label from a closed set. When the token of an open connection expires,
// the server closes it with CloseTokenExpired (4002, "token expired").
//
// Usage, in the server:
//
//	v, err := auth.LoadVerifier(secretFile, publicKeyFile) // nil, nil: anonymous
//	...
//	token := auth.TokenFromRequest(r) // or TokenFromProtocol / the token query parameter
//	claims, err := v.Verify(token, clientID, room) // clientID and room from package names
//	var ae *auth.Error
//	if errors.As(err, &ae) {
//		upgradeFailures.WithLabelValues(string(ae.Label)).Inc()
//		http.Error(w, ae.Reason, ae.Status)
//		return
//	}
//	// close with auth.CloseTokenExpired at claims.ExpiresAt
//
// and to mint one (the chattoken command does this):
//
//	key, alg, err := auth.LoadSigningKey("chat.secret", "")
//	token, err := auth.Mint(key, alg, "ana", []string{"general", "dev"}, time.Hour)
package auth
