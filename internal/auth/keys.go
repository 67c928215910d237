package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadVerifier returns the Verifier the server's flags ask for: HS256 with
// the secret in secretFile (-auth-secret-file), or EdDSA or ES256 with the
// PEM public key in publicKeyFile (-auth-public-key-file). With neither it
// returns nil and no error: the server is anonymous. Both is an error.
func LoadVerifier(secretFile, publicKeyFile string) (*Verifier, error) {
	switch {
	case secretFile != "" && publicKeyFile != "":
		return nil, errors.New("auth: give a secret file or a public key file, not both")
	case secretFile != "":
		secret, err := LoadSecret(secretFile)
		if err != nil {
			return nil, err
		}
		return New(Config{Secret: secret})
	case publicKeyFile != "":
		key, err := LoadPublicKey(publicKeyFile)
		if err != nil {
			return nil, err
		}
		return New(Config{PublicKey: key})
	}
	return nil, nil
}

// LoadSecret reads an HS256 secret: the file's bytes, less one trailing
// newline ("\n" or "\r\n") if there is one, so that a secret written by
// echo or an editor is the same key as one written without. The secret
// must be at least MinSecretBytes long. Whatever else mints tokens must
// use the same bytes.
func LoadSecret(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("auth: read the secret: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("auth: the secret in %s is %d bytes; at least %d are needed (chattoken -gen-secret FILE writes one)", file, len(b), MinSecretBytes)
	}
	return b, nil
}

// LoadPublicKey reads a PEM "PUBLIC KEY" (PKIX) file holding an Ed25519 or
// an ECDSA P-256 key.
func LoadPublicKey(file string) (crypto.PublicKey, error) {
	block, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("auth: %s holds a PEM %q block; want \"PUBLIC KEY\"", file, block.Type)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: parse the public key in %s: %w", file, err)
	}
	if _, err := publicKeyAlg(key); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, file)
	}
	return key, nil
}

// LoadPrivateKey reads a PEM private key, PKCS #8 ("PRIVATE KEY", Ed25519
// or ECDSA P-256) or SEC 1 ("EC PRIVATE KEY", as openssl ecparam writes),
// and returns it with the algorithm it signs with.
func LoadPrivateKey(file string) (crypto.Signer, string, error) {
	block, err := readPEM(file)
	if err != nil {
		return nil, "", err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("auth: %s holds a PEM %q block; want \"PRIVATE KEY\" or \"EC PRIVATE KEY\"", file, block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("auth: parse the private key in %s: %w", file, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, "", fmt.Errorf("auth: unsupported private key type %T in %s", key, file)
	}
	switch signer.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey:
	default:
		return nil, "", fmt.Errorf("auth: unsupported private key type %T in %s (want Ed25519 or ECDSA P-256)", key, file)
	}
	alg, err := publicKeyAlg(signer.Public())
	if err != nil {
		return nil, "", fmt.Errorf("%w (in %s)", err, file)
	}
	return signer, alg, nil
}

// LoadSigningKey returns the key Mint needs and its algorithm: the HS256
// secret in secretFile, or the private key in privateKeyFile. Exactly one
// must be given.
func LoadSigningKey(secretFile, privateKeyFile string) (key any, alg string, err error) {
	switch {
	case secretFile != "" && privateKeyFile != "":
		return nil, "", errors.New("auth: give a secret file or a private key file, not both")
	case secretFile != "":
		secret, err := LoadSecret(secretFile)
		return secret, AlgHS256, err
	case privateKeyFile != "":
		return LoadPrivateKey(privateKeyFile)
	}
	return nil, "", errors.New("auth: give a secret file or a private key file")
}

func readPEM(file string) (*pem.Block, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("auth: read the key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("auth: %s holds no PEM block", file)
	}
	return block, nil
}
