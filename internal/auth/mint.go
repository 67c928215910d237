package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mint returns a token for sub, valid for ttl from now, signed with key:
// a []byte secret for AlgHS256, an ed25519.PrivateKey for AlgEdDSA, an
// *ecdsa.PrivateKey on P-256 for AlgES256 (LoadSigningKey returns the
// pair). rooms, when not nil, becomes the rooms claim (AnyRoom for every
// room). A negative ttl makes a token that has already expired, for tests.
func Mint(key any, alg, sub string, rooms []string, ttl time.Duration) (string, error) {
	if sub == "" {
		return "", errors.New("auth: mint: empty sub")
	}
	if ttl == 0 {
		return "", errors.New("auth: mint: zero lifetime")
	}
	var method jwt.SigningMethod
	switch alg {
	case AlgHS256:
		secret, ok := key.([]byte)
		if !ok {
			return "", fmt.Errorf("auth: mint: %s needs a []byte secret, not %T", alg, key)
		}
		if len(secret) < MinSecretBytes {
			return "", fmt.Errorf("auth: mint: the secret is %d bytes; at least %d are needed", len(secret), MinSecretBytes)
		}
		method = jwt.SigningMethodHS256
	case AlgEdDSA:
		if _, ok := key.(ed25519.PrivateKey); !ok {
			return "", fmt.Errorf("auth: mint: %s needs an ed25519.PrivateKey, not %T", alg, key)
		}
		method = jwt.SigningMethodEdDSA
	case AlgES256:
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return "", fmt.Errorf("auth: mint: %s needs an *ecdsa.PrivateKey, not %T", alg, key)
		}
		if _, err := publicKeyAlg(&k.PublicKey); err != nil {
			return "", err
		}
		method = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("auth: mint: unsupported algorithm %q (want %s, %s or %s)", alg, AlgHS256, AlgEdDSA, AlgES256)
	}
	now := time.Now()
	claims := tokenClaims{
		Rooms: rooms,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(method, claims).SignedString(key)
}
