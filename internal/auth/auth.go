package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/chatplatform/chat/internal/names"
)

// Signing algorithms, as named in a token's alg header.
const (
	AlgHS256 = "HS256" // HMAC-SHA256 with a shared secret
	AlgEdDSA = "EdDSA" // Ed25519
	AlgES256 = "ES256" // ECDSA on P-256 with SHA-256
)

// Leeway is the clock skew allowed between the host that mints tokens and
// the server, on exp and nbf.
const Leeway = 30 * time.Second

// MinSecretBytes is the shortest HS256 secret accepted: 256 bits, the size
// of the HMAC-SHA256 output (RFC 7518 section 3.2).
const MinSecretBytes = 32

// MaxTokenBytes bounds the token Verify looks at: a chat token (header,
// sub, exp, iat, a few rooms, signature) is a few hundred bytes.
const MaxTokenBytes = 4096

// AnyRoom in the rooms claim grants every room.
const AnyRoom = "*"

// CloseTokenExpired is the WebSocket close code of a connection whose
// token has expired; CloseTokenExpiredText is its reason. The client
// reconnects with a fresh token.
const (
	CloseTokenExpired     = 4002
	CloseTokenExpiredText = "token expired"
)

// Label is a refusal's value for the reason label of
// chat_upgrade_failures_total. The set is closed: the constants below.
type Label string

// Labels, one per kind of refusal.
const (
	LabelTokenMissing  Label = "token_missing"  // no token in the request
	LabelTokenInvalid  Label = "token_invalid"  // malformed, bad signature, algorithm, claims
	LabelTokenExpired  Label = "token_expired"  // exp passed
	LabelWrongSubject  Label = "token_subject"  // sub is not the path's client_id
	LabelForbiddenRoom Label = "forbidden_room" // the rooms claim does not grant the room
)

// Labels lists every Label, for initialising metric series.
var Labels = []Label{LabelTokenMissing, LabelTokenInvalid, LabelTokenExpired, LabelWrongSubject, LabelForbiddenRoom}

// Sentinels wrapped by every *Error: ErrUnauthorized for a 401,
// ErrForbidden for a 403.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

// Error is a refused token: the HTTP status to answer with, a plain-text
// reason safe to send to the client (it never contains the token) and the
// metric label.
type Error struct {
	Status int    // http.StatusUnauthorized or http.StatusForbidden
	Reason string // e.g. "token expired"
	Label  Label
	cause  error // the verification error, if any; it does not contain the token either
}

var _ error = (*Error)(nil)

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Reason + ": " + e.cause.Error()
	}
	return e.Reason
}

// Unwrap returns ErrUnauthorized or ErrForbidden, and the underlying
// verification error if there is one.
func (e *Error) Unwrap() []error {
	sentinel := ErrUnauthorized
	if e.Status == http.StatusForbidden {
		sentinel = ErrForbidden
	}
	if e.cause == nil {
		return []error{sentinel}
	}
	return []error{sentinel, e.cause}
}

// Reasons sent with a 401 or 403.
const (
	ReasonMissing       = "token required: pass ?token= or the bearer.<token> subprotocol"
	ReasonMalformed     = "invalid token: malformed"
	ReasonTooLong       = "invalid token: too long"
	ReasonAlgorithm     = "invalid token: signing algorithm not accepted"
	ReasonSignature     = "invalid token: bad signature"
	ReasonNoExp         = "invalid token: no exp claim"
	ReasonNotYetValid   = "invalid token: not valid yet"
	ReasonClaims        = "invalid token: bad claims"
	ReasonNoSubject     = "invalid token: no sub claim"
	ReasonBadSubject    = "invalid token: sub is not a valid client_id"
	ReasonExpired       = "token expired"
	ReasonWrongSubject  = "token is for another client_id"
	ReasonForbiddenRoom = "token does not grant this room"
	ReasonBadRoomClaim  = "invalid token: rooms claim holds an invalid room name"
)

func unauthorized(label Label, reason string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Reason: reason, Label: label, cause: cause}
}

// Config selects how tokens are verified: exactly one of Secret and
// PublicKey is set.
type Config struct {
	// Secret is the HS256 key, at least MinSecretBytes long.
	Secret []byte
	// PublicKey is an ed25519.PublicKey (EdDSA) or an *ecdsa.PublicKey on
	// P-256 (ES256): the server verifies tokens it cannot mint.
	PublicKey crypto.PublicKey
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	// Static after construction.
	alg    string
	key    any
	parser *jwt.Parser
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{}
	switch {
	case cfg.Secret != nil && cfg.PublicKey != nil:
		return nil, errors.New("auth: both a secret and a public key given; pick one")
	case cfg.Secret != nil:
		if len(cfg.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth: the HS256 secret is %d bytes; at least %d are needed", len(cfg.Secret), MinSecretBytes)
		}
		v.alg, v.key = AlgHS256, slices.Clone(cfg.Secret)
	case cfg.PublicKey != nil:
		alg, err := publicKeyAlg(cfg.PublicKey)
		if err != nil {
			return nil, err
		}
		v.alg, v.key = alg, cfg.PublicKey
	default:
		return nil, errors.New("auth: no secret and no public key given")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{v.alg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// publicKeyAlg returns the algorithm a public key verifies.
func publicKeyAlg(key crypto.PublicKey) (string, error) {
	switch k := key.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("auth: Ed25519 public key of %d bytes", len(k))
		}
		return AlgEdDSA, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("auth: ECDSA key on %s; ES256 needs P-256", k.Curve.Params().Name)
		}
		return AlgES256, nil
	}
	return "", fmt.Errorf("auth: unsupported public key type %T (want Ed25519 or ECDSA P-256)", key)
}

// Alg returns the one signing algorithm v accepts.
func (v *Verifier) Alg() string { return v.alg }

// Claims are what a verified token says.
type Claims struct {
	// Subject is the sub claim, normalized as names.ClientID does.
	Subject string
	// Rooms is the rooms claim, each normalized as names.Room does: nil when
	// the claim is absent (every room), possibly holding AnyRoom.
	Rooms []string
	// ExpiresAt is the exp claim. The server closes the connection with
	// CloseTokenExpired when it passes.
	ExpiresAt time.Time
}

// Allows reports whether the claims grant room (normalized as names.Room
// returns it).
func (c Claims) Allows(room string) bool {
	return c.Rooms == nil || slices.Contains(c.Rooms, AnyRoom) || slices.Contains(c.Rooms, room)
}

// tokenClaims is the JSON payload of a chat token.
type tokenClaims struct {
	Rooms []string `json:"rooms,omitzero"` // nil: absent (every room); empty: no room
	jwt.RegisteredClaims
}

// Verify checks token for a connection of clientID to room (both as
// names.ClientID and names.Room return them) and returns its claims. The
// error is an *Error: 401 when the token is missing, malformed, badly
// signed, of another algorithm, without exp, expired (beyond Leeway) or
// for another client_id; 403 when it does not grant room.
func (v *Verifier) Verify(token, clientID, room string) (Claims, error) {
	if token == "" {
		return Claims{}, unauthorized(LabelTokenMissing, ReasonMissing, nil)
	}
	if len(token) > MaxTokenBytes {
		return Claims{}, unauthorized(LabelTokenInvalid, ReasonTooLong, nil)
	}
	if !isCompactJWS(token) {
		return Claims{}, unauthorized(LabelTokenInvalid, ReasonMalformed, nil)
	}
	var tc tokenClaims
	tok, err := v.parser.ParseWithClaims(token, &tc, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return Claims{}, v.refusal(tok, err)
	}
	c := Claims{ExpiresAt: tc.ExpiresAt.Time}
	if tc.Subject == "" {
		return Claims{}, unauthorized(LabelTokenInvalid, ReasonNoSubject, nil)
	}
	if c.Subject, err = names.ClientID(tc.Subject); err != nil {
		return Claims{}, unauthorized(LabelTokenInvalid, ReasonBadSubject, err)
	}
	if c.Subject != clientID {
		return Claims{}, unauthorized(LabelWrongSubject, ReasonWrongSubject, nil)
	}
	if tc.Rooms != nil {
		c.Rooms = make([]string, len(tc.Rooms))
		for i, r := range tc.Rooms {
			if r == AnyRoom {
				c.Rooms[i] = r
				continue
			}
			if c.Rooms[i], err = names.Room(r); err != nil {
				return Claims{}, unauthorized(LabelTokenInvalid, ReasonBadRoomClaim, err)
			}
		}
	}
	if !c.Allows(room) {
		return Claims{}, &Error{Status: http.StatusForbidden, Reason: ReasonForbiddenRoom, Label: LabelForbiddenRoom}
	}
	return c, nil
}

// refusal turns a jwt parse error into an *Error.
func (v *Verifier) refusal(tok *jwt.Token, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthorized(LabelTokenInvalid, ReasonMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable),
		errors.Is(err, jwt.ErrTokenSignatureInvalid) && tok != nil && tok.Method != nil && tok.Method.Alg() != v.alg:
		return unauthorized(LabelTokenInvalid, ReasonAlgorithm, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized(LabelTokenInvalid, ReasonSignature, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthorized(LabelTokenInvalid, ReasonNoExp, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized(LabelTokenExpired, ReasonExpired, nil)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized(LabelTokenInvalid, ReasonNotYetValid, err)
	}
	return unauthorized(LabelTokenInvalid, ReasonClaims, err)
}

// isCompactJWS reports whether s has the characters of a JWS in compact
// serialization: base64url without padding and two dots. These are all
// valid HTTP token characters, so such a token can travel as a
// Sec-WebSocket-Protocol value.
func isCompactJWS(s string) bool {
	dots := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}
