package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/names"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1 // a file could not be read or written
	exitBadFlag = 2
)

// defaultTTL is a token's lifetime unless -ttl says otherwise.
const defaultTTL = time.Hour

// secretBytes is the entropy of a generated secret; it is written
// hex-encoded, so the key (the file's text) is twice as long, well over
// auth.MinSecretBytes.
const secretBytes = 32

// config is the parsed command line.
type config struct {
	secretFile, privateKeyFile string
	sub                        string
	rooms                      []string // nil: no rooms claim
	ttl                        time.Duration
	genSecret, genEd25519      string
}

// errUsage marks a flag error, already explained; the status is exitBadFlag.
var errUsage = errors.New("usage")

// Run runs chattoken with args (without the program name), printing the
// token or what was written to stdout and problems to stderr, and returns
// the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "chattoken: %v\n", err)
		}
		return exitBadFlag
	}
	switch {
	case cfg.genSecret != "":
		err = genSecret(cfg.genSecret, stdout)
	case cfg.genEd25519 != "":
		err = genEd25519(cfg.genEd25519, stdout)
	default:
		err = mint(cfg, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "chattoken: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func parse(args []string, stderr io.Writer) (config, error) {
	var cfg config
	var rooms string
	fs := flag.NewFlagSet("chattoken", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.secretFile, "secret-file", "", "HS256 secret `file`, as the server's -auth-secret-file (one trailing newline is not part of the key)")
	fs.StringVar(&cfg.privateKeyFile, "private-key-file", "", "PEM private key `file` (Ed25519 for EdDSA, P-256 for ES256) matching the server's -auth-public-key-file")
	fs.StringVar(&cfg.sub, "sub", "", "the client_id the token is for (required to mint)")
	fs.StringVar(&rooms, "rooms", "", "comma-separated rooms the token opens, * for any (default: no rooms claim, every room)")
	fs.DurationVar(&cfg.ttl, "ttl", defaultTTL, "token lifetime, e.g. 30m or 24h")
	fs.StringVar(&cfg.genSecret, "gen-secret", "", "write a random secret to `file` (mode 0600) and exit")
	fs.StringVar(&cfg.genEd25519, "gen-ed25519", "", "write an Ed25519 key pair to `prefix`.key (0600) and prefix.pub and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  chattoken -secret-file FILE | -private-key-file FILE -sub CLIENT_ID [-rooms A,B] [-ttl 1h]\n  chattoken -gen-secret FILE\n  chattoken -gen-ed25519 PREFIX\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	modes := 0
	for _, set := range []bool{cfg.genSecret != "", cfg.genEd25519 != "", cfg.secretFile != "" || cfg.privateKeyFile != "" || cfg.sub != "" || rooms != ""} {
		if set {
			modes++
		}
	}
	switch {
	case modes == 0:
		fs.Usage()
		return cfg, errUsage
	case modes > 1:
		return cfg, errors.New("-gen-secret, -gen-ed25519 and minting are separate runs")
	case cfg.genSecret != "" || cfg.genEd25519 != "":
		return cfg, nil
	case cfg.secretFile != "" && cfg.privateKeyFile != "":
		return cfg, errors.New("give -secret-file or -private-key-file, not both")
	case cfg.secretFile == "" && cfg.privateKeyFile == "":
		return cfg, errors.New("give -secret-file or -private-key-file")
	case cfg.ttl <= 0:
		return cfg, fmt.Errorf("-ttl %v: must be positive", cfg.ttl)
	}
	sub, err := names.ClientID(cfg.sub)
	if err != nil {
		return cfg, fmt.Errorf("bad -sub: %v", err)
	}
	cfg.sub = sub
	if rooms != "" {
		for r := range strings.SplitSeq(rooms, ",") {
			if r != auth.AnyRoom {
				if r, err = names.Room(r); err != nil {
					return cfg, fmt.Errorf("bad room in -rooms: %v", err)
				}
			}
			cfg.rooms = append(cfg.rooms, r)
		}
	}
	return cfg, nil
}

func mint(cfg config, stdout io.Writer) error {
	key, alg, err := auth.LoadSigningKey(cfg.secretFile, cfg.privateKeyFile)
	if err != nil {
		return err
	}
	token, err := auth.Mint(key, alg, cfg.sub, cfg.rooms, cfg.ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// genSecret writes secretBytes random bytes, hex-encoded, and a newline to
// a new file.
func genSecret(file string, stdout io.Writer) error {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	if err := writeNew(file, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d random bytes, hex-encoded; keep it secret)\nrun the server with -auth-secret-file %s\n", file, secretBytes, file)
	return nil
}

// genEd25519 writes a new key pair: PKCS #8 private key and PKIX public
// key, both PEM.
func genEd25519(prefix string, stdout io.Writer) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	keyFile, pubFile := prefix+".key", prefix+".pub"
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (private, keep it where tokens are minted) and %s\nrun the server with -auth-public-key-file %s\n", keyFile, pubFile, pubFile)
	return nil
}

// writeNew writes data to a file that must not exist yet, with mode perm.
func writeNew(file string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
