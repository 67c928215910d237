package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemFile(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return writeFile(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestLoadSecret(t *testing.T) {
	s := string(testSecret)
	for _, tc := range []struct {
		name, file, want string
	}{
		{"as is", s, s},
		{"newline trimmed", s + "\n", s},
		{"CRLF trimmed", s + "\r\n", s},
		{"one newline only", s + "\n\n", s + "\n"},
		{"inner and leading bytes kept", " " + s + "\nx", " " + s + "\nx"},
	} {
		got, err := LoadSecret(writeFile(t, "secret", []byte(tc.file)))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: LoadSecret = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	short := writeFile(t, "secret", []byte(s[:31]+"\n"))
	if _, err := LoadSecret(short); err == nil || !strings.Contains(err.Error(), "is 31 bytes; at least 32 are needed") {
		t.Errorf("short secret: %v", err)
	}
	if _, err := LoadSecret(filepath.Join(t.TempDir(), "absent")); err == nil || !strings.Contains(err.Error(), "read the secret") {
		t.Errorf("absent file: %v", err)
	}
}

func TestLoadVerifier(t *testing.T) {
	secret := writeFile(t, "secret", append(testSecret, '\n'))
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubFile := pemFile(t, "PUBLIC KEY", der)

	if v, err := LoadVerifier("", ""); v != nil || err != nil {
		t.Errorf("no files: %v, %v; want nil, nil (anonymous)", v, err)
	}
	if _, err := LoadVerifier(secret, pubFile); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both files: %v", err)
	}
	v, err := LoadVerifier(secret, "")
	if err != nil || v.Alg() != AlgHS256 {
		t.Fatalf("secret file: %v", err)
	}
	// The trailing newline is not part of the key.
	token, _ := Mint(testSecret, AlgHS256, "ana", nil, time.Hour)
	if _, err := v.Verify(token, "ana", "general"); err != nil {
		t.Errorf("token minted with the trimmed secret: %v", err)
	}
	v, err = LoadVerifier("", pubFile)
	if err != nil || v.Alg() != AlgEdDSA {
		t.Fatalf("public key file: %v", err)
	}
	token, _ = Mint(priv, AlgEdDSA, "ana", nil, time.Hour)
	if _, err := v.Verify(token, "ana", "general"); err != nil {
		t.Errorf("EdDSA token: %v", err)
	}
}

func TestLoadKeys(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix := func(k any) []byte {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, _ := x509.MarshalECPrivateKey(ec)

	for _, tc := range []struct {
		name, typ string
		der       []byte
		alg, err  string
	}{
		{"Ed25519", "PUBLIC KEY", pkix(edPub), AlgEdDSA, ""},
		{"P-256", "PUBLIC KEY", pkix(&ec.PublicKey), AlgES256, ""},
		{"P-384", "PUBLIC KEY", pkix(&p384.PublicKey), "", "ES256 needs P-256"},
		{"RSA", "PUBLIC KEY", pkix(&rsaKey.PublicKey), "", "unsupported public key type *rsa.PublicKey"},
		{"wrong block", "CERTIFICATE", pkix(edPub), "", `PEM "CERTIFICATE" block`},
		{"garbage", "PUBLIC KEY", []byte("nope"), "", "parse the public key"},
	} {
		key, err := LoadPublicKey(pemFile(t, tc.typ, tc.der))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("public %s: %v, want an error containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("public %s: %v", tc.name, err)
			continue
		}
		if v, err := New(Config{PublicKey: key}); err != nil || v.Alg() != tc.alg {
			t.Errorf("public %s: New: %v, want alg %s", tc.name, err, tc.alg)
		}
	}
	if _, err := LoadPublicKey(writeFile(t, "k", []byte("not pem"))); err == nil || !strings.Contains(err.Error(), "no PEM block") {
		t.Errorf("not PEM: %v", err)
	}

	for _, tc := range []struct {
		name, typ string
		der       []byte
		alg, err  string
	}{
		{"Ed25519 PKCS8", "PRIVATE KEY", pkcs8(edPriv), AlgEdDSA, ""},
		{"P-256 PKCS8", "PRIVATE KEY", pkcs8(ec), AlgES256, ""},
		{"P-256 SEC1", "EC PRIVATE KEY", sec1, AlgES256, ""},
		{"P-384", "PRIVATE KEY", pkcs8(p384), "", "ES256 needs P-256"},
		{"RSA", "PRIVATE KEY", pkcs8(rsaKey), "", "unsupported private key type *rsa.PrivateKey"},
		{"public", "PUBLIC KEY", pkix(edPub), "", `PEM "PUBLIC KEY" block`},
	} {
		key, alg, err := LoadPrivateKey(pemFile(t, tc.typ, tc.der))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("private %s: %v, want an error containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || alg != tc.alg {
			t.Errorf("private %s: %v, alg %s; want %s", tc.name, err, alg, tc.alg)
			continue
		}
		token, err := Mint(key, alg, "ana", nil, time.Hour)
		if err != nil {
			t.Fatalf("private %s: Mint: %v", tc.name, err)
		}
		v, _ := New(Config{PublicKey: key.Public()})
		if _, err := v.Verify(token, "ana", "general"); err != nil {
			t.Errorf("private %s: token does not verify: %v", tc.name, err)
		}
	}
}

func TestLoadSigningKey(t *testing.T) {
	secret := writeFile(t, "secret", testSecret)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := pemFile(t, "PRIVATE KEY", der)
	if key, alg, err := LoadSigningKey(secret, ""); err != nil || alg != AlgHS256 || string(key.([]byte)) != string(testSecret) {
		t.Errorf("secret: %v %s %v", key, alg, err)
	}
	if _, alg, err := LoadSigningKey("", keyFile); err != nil || alg != AlgEdDSA {
		t.Errorf("private key: %s %v", alg, err)
	}
	if _, _, err := LoadSigningKey(secret, keyFile); err == nil {
		t.Errorf("both: no error")
	}
	if _, _, err := LoadSigningKey("", ""); err == nil {
		t.Errorf("neither: no error")
	}
}
