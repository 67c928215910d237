package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	testNow    = time.Date(2026, 11, 25, 17, 41, 35, 0, time.UTC)
)

// sign makes a token with exactly the given claims, for cases Mint cannot
// make (no exp, a fixed time, odd claims).
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// claimsAt is a valid claim set for sub expiring an hour after testNow.
func claimsAt(sub string, more ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix()}
	for i := 0; i+1 < len(more); i += 2 {
		if more[i+1] == nil {
			delete(c, more[i].(string))
		} else {
			c[more[i].(string)] = more[i+1]
		}
	}
	return c
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestVerify(t *testing.T) {
	hs := newVerifier(t, Config{Secret: testSecret})
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed := newVerifier(t, Config{PublicKey: edPub})
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es := newVerifier(t, Config{PublicKey: &ecPriv.PublicKey})
	otherSecret := []byte("another secret, also 32 bytes!!!")

	hsToken := sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana"))
	parts := strings.Split(hsToken, ".")
	tampered := parts[0] + "." + sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("bob"))[len(parts[0])+1:]
	tampered = tampered[:strings.LastIndexByte(tampered, '.')] + "." + parts[2]
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsAt("ana"))
	// Algorithm confusion: an HS256 token made with the public key as its secret.
	confused := sign(t, jwt.SigningMethodHS256, []byte(edPub), claimsAt("ana"))
	// An alg the library does not know: header {"alg":"XX1","typ":"JWT"}.
	unknownAlg := "eyJhbGciOiJYWDEiLCJ0eXAiOiJKV1QifQ." + parts[1] + "." + parts[2]

	tests := []struct {
		name   string
		v      *Verifier
		token  string
		client string
		room   string
		status int // 0: accepted
		label  Label
		reason string
		rooms  []string // accepted: the claims' rooms
	}{
		{name: "HS256", v: hs, token: hsToken, client: "ana", room: "general"},
		{name: "EdDSA", v: ed, token: sign(t, jwt.SigningMethodEdDSA, edPriv, claimsAt("ana")), client: "ana", room: "general"},
		{name: "ES256", v: es, token: sign(t, jwt.SigningMethodES256, ecPriv, claimsAt("ana")), client: "ana", room: "general"},
		{name: "sub normalized", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("cafe\u0301")), client: "caf\u00e9", room: "general"},
		{name: "expired within leeway", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "exp", testNow.Add(-Leeway+time.Second).Unix())), client: "ana", room: "general"},

		{name: "missing", v: hs, token: "", client: "ana", room: "general", status: 401, label: LabelTokenMissing, reason: ReasonMissing},
		{name: "bad signature", v: hs, token: sign(t, jwt.SigningMethodHS256, otherSecret, claimsAt("ana")), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonSignature},
		{name: "tampered payload", v: hs, token: tampered, client: "bob", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonSignature},
		{name: "EdDSA bad signature", v: ed, token: sign(t, jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(make([]byte, 32)), claimsAt("ana")), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonSignature},
		{name: "expired", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "exp", testNow.Add(-Leeway-time.Second).Unix())), client: "ana", room: "general", status: 401, label: LabelTokenExpired, reason: ReasonExpired},
		{name: "no exp", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "exp", nil)), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonNoExp},
		{name: "not valid yet", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "nbf", testNow.Add(time.Minute).Unix())), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonNotYetValid},
		{name: "alg none", v: hs, token: noneToken, client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonAlgorithm},
		{name: "alg none to EdDSA", v: ed, token: noneToken, client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonAlgorithm},
		{name: "HS256 with the public key", v: ed, token: confused, client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonAlgorithm},
		{name: "EdDSA token to HS256", v: hs, token: sign(t, jwt.SigningMethodEdDSA, edPriv, claimsAt("ana")), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonAlgorithm},
		{name: "ES256 token to EdDSA", v: ed, token: sign(t, jwt.SigningMethodES256, ecPriv, claimsAt("ana")), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonAlgorithm},
		{name: "unknown alg", v: hs, token: unknownAlg, client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonAlgorithm},
		{name: "wrong sub", v: hs, token: hsToken, client: "bob", room: "general", status: 401, label: LabelWrongSubject, reason: ReasonWrongSubject},
		{name: "sub differs in case", v: hs, token: hsToken, client: "Ana", room: "general", status: 401, label: LabelWrongSubject, reason: ReasonWrongSubject},
		{name: "no sub", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("")), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonNoSubject},
		{name: "sub not a valid client_id", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("an\u202ea")), client: "an\u202ea", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonBadSubject},
		{name: "sub not a string", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "sub", 7)), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonMalformed},
		{name: "two segments", v: hs, token: parts[0] + "." + parts[1], client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonMalformed},
		{name: "not base64", v: hs, token: "a.b.c", client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonMalformed},
		{name: "padding", v: hs, token: hsToken + "=", client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonMalformed},
		{name: "space", v: hs, token: " " + hsToken, client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonMalformed},
		{name: "too long", v: hs, token: strings.Repeat("a", MaxTokenBytes) + ".b.c", client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonTooLong},

		{name: "rooms grant", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "rooms", []string{"general", "dev"})), client: "ana", room: "dev", rooms: []string{"general", "dev"}},
		{name: "rooms refuse", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "rooms", []string{"general", "dev"})), client: "ana", room: "ops", status: 403, label: LabelForbiddenRoom, reason: ReasonForbiddenRoom},
		{name: "rooms any", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "rooms", []string{"*"})), client: "ana", room: "ops", rooms: []string{"*"}},
		{name: "rooms empty", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "rooms", []string{})), client: "ana", room: "general", status: 403, label: LabelForbiddenRoom, reason: ReasonForbiddenRoom},
		{name: "rooms normalized", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "rooms", []string{"cafe\u0301"})), client: "ana", room: "caf\u00e9", rooms: []string{"caf\u00e9"}},
		{name: "rooms with a bad name", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "rooms", []string{"general", " dev"})), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonBadRoomClaim},
		{name: "rooms not an array", v: hs, token: sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "rooms", "general")), client: "ana", room: "general", status: 401, label: LabelTokenInvalid, reason: ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := tc.v.Verify(tc.token, tc.client, tc.room)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if claims.Subject != tc.client {
					t.Errorf("Subject = %q, want %q", claims.Subject, tc.client)
				}
				if strings.Join(claims.Rooms, ",") != strings.Join(tc.rooms, ",") || (claims.Rooms == nil) != (tc.rooms == nil) {
					t.Errorf("Rooms = %q, want %q", claims.Rooms, tc.rooms)
				}
				if claims.ExpiresAt.IsZero() {
					t.Errorf("ExpiresAt is zero")
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want an *Error", err, err)
			}
			if ae.Status != tc.status || ae.Label != tc.label || ae.Reason != tc.reason {
				t.Errorf("got %d %s %q, want %d %s %q (%v)", ae.Status, ae.Label, ae.Reason, tc.status, tc.label, tc.reason, err)
			}
			want := ErrUnauthorized
			if tc.status == http.StatusForbidden {
				want = ErrForbidden
			}
			if !errors.Is(err, want) {
				t.Errorf("%v does not wrap %v", err, want)
			}
			if len(tc.token) > 10 && (strings.Contains(err.Error(), tc.token) || strings.Contains(err.Error(), tc.token[len(tc.token)-10:])) {
				t.Errorf("error text contains the token: %v", err)
			}
		})
	}
}

func TestExpiresAtIsTheExpClaim(t *testing.T) {
	v := newVerifier(t, Config{Secret: testSecret})
	exp := testNow.Add(90 * time.Second)
	c, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana", "exp", exp.Unix())), "ana", "general")
	if err != nil {
		t.Fatal(err)
	}
	if !c.ExpiresAt.Equal(exp) {
		t.Errorf("ExpiresAt = %v, want %v", c.ExpiresAt, exp)
	}
}

func TestVerifyUsesTheClock(t *testing.T) {
	now := testNow
	v := newVerifier(t, Config{Secret: testSecret, Now: func() time.Time { return now }})
	token := sign(t, jwt.SigningMethodHS256, testSecret, claimsAt("ana"))
	if _, err := v.Verify(token, "ana", "general"); err != nil {
		t.Fatalf("before exp: %v", err)
	}
	now = testNow.Add(time.Hour + Leeway + time.Second)
	var ae *Error
	if _, err := v.Verify(token, "ana", "general"); !errors.As(err, &ae) || ae.Label != LabelTokenExpired {
		t.Fatalf("after exp and leeway: %v, want token_expired", err)
	}
}

func TestNew(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"short secret", Config{Secret: testSecret[:31]}, "the HS256 secret is 31 bytes; at least 32 are needed"},
		{"both", Config{Secret: testSecret, PublicKey: edKey.Public()}, "both a secret and a public key"},
		{"none", Config{}, "no secret and no public key"},
		{"P-384", Config{PublicKey: &p384.PublicKey}, "ES256 needs P-256"},
		{"private key as public", Config{PublicKey: edKey}, "unsupported public key type ed25519.PrivateKey"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	for cfg, alg := range map[*Config]string{{Secret: testSecret}: AlgHS256, {PublicKey: edKey.Public()}: AlgEdDSA} {
		if v, err := New(*cfg); err != nil || v.Alg() != alg {
			t.Errorf("New: %v, alg %v, want %s", err, v, alg)
		}
	}
}

func TestMintVerifies(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		alg string
		key any
		cfg Config
	}{
		{AlgHS256, testSecret, Config{Secret: testSecret}},
		{AlgEdDSA, edPriv, Config{PublicKey: edPub}},
		{AlgES256, ecPriv, Config{PublicKey: &ecPriv.PublicKey}},
	} {
		v, err := New(tc.cfg) // real clock: Mint stamps time.Now
		if err != nil {
			t.Fatal(err)
		}
		token, err := Mint(tc.key, tc.alg, "ana", []string{"general", "dev"}, time.Hour)
		if err != nil {
			t.Fatalf("%s: Mint: %v", tc.alg, err)
		}
		c, err := v.Verify(token, "ana", "dev")
		if err != nil {
			t.Fatalf("%s: Verify: %v", tc.alg, err)
		}
		if d := time.Until(c.ExpiresAt); d < 59*time.Minute || d > time.Hour {
			t.Errorf("%s: expires in %v, want an hour", tc.alg, d)
		}
		if _, err := v.Verify(token, "ana", "ops"); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: room outside the claim: %v", tc.alg, err)
		}
		expired, err := Mint(tc.key, tc.alg, "ana", nil, -time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var ae *Error
		if _, err := v.Verify(expired, "ana", "ops"); !errors.As(err, &ae) || ae.Label != LabelTokenExpired {
			t.Errorf("%s: expired token: %v", tc.alg, err)
		}
		// Without rooms, every room; with an empty list, none.
		any, _ := Mint(tc.key, tc.alg, "ana", nil, time.Hour)
		if _, err := v.Verify(any, "ana", "ops"); err != nil {
			t.Errorf("%s: no rooms claim: %v", tc.alg, err)
		}
		none, _ := Mint(tc.key, tc.alg, "ana", []string{}, time.Hour)
		if _, err := v.Verify(none, "ana", "general"); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: empty rooms claim: %v", tc.alg, err)
		}
	}
}

func TestMintRefuses(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name string
		key  any
		alg  string
		sub  string
		ttl  time.Duration
		want string
	}{
		{"empty sub", testSecret, AlgHS256, "", time.Hour, "empty sub"},
		{"zero ttl", testSecret, AlgHS256, "ana", 0, "zero lifetime"},
		{"short secret", testSecret[:8], AlgHS256, "ana", time.Hour, "the secret is 8 bytes"},
		{"wrong key", edPriv, AlgHS256, "ana", time.Hour, "needs a []byte secret"},
		{"wrong key EdDSA", testSecret, AlgEdDSA, "ana", time.Hour, "needs an ed25519.PrivateKey"},
		{"P-384", p384, AlgES256, "ana", time.Hour, "ES256 needs P-256"},
		{"alg", testSecret, "HS512", "ana", time.Hour, `unsupported algorithm "HS512"`},
	} {
		if _, err := Mint(tc.key, tc.alg, tc.sub, nil, tc.ttl); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Mint error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func benchmarkVerify(b *testing.B, v *Verifier, token string) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(token, "ana", "general"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	token, err := Mint(testSecret, AlgHS256, "ana", []string{"general", "dev"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	v, _ := New(Config{Secret: testSecret})
	benchmarkVerify(b, v, token)
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	token, err := Mint(priv, AlgEdDSA, "ana", []string{"general", "dev"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	v, _ := New(Config{PublicKey: pub})
	benchmarkVerify(b, v, token)
}

func BenchmarkVerifyES256(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	token, err := Mint(priv, AlgES256, "ana", []string{"general", "dev"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	v, _ := New(Config{PublicKey: &priv.PublicKey})
	benchmarkVerify(b, v, token)
}
