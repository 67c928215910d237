package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatplatform/chat/internal/auth"
)

// run runs the command and returns its status, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSecretFlow(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "chat.secret")
	if code, out, errOut := run(t, "-gen-secret", secret); code != exitOK || !strings.Contains(out, "-auth-secret-file "+secret) {
		t.Fatalf("-gen-secret: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	st, err := os.Stat(secret)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	if st.Size() != 2*secretBytes+1 {
		t.Errorf("secret file is %d bytes, want %d hex digits and a newline", st.Size(), 2*secretBytes)
	}
	// A second run must not replace the secret.
	if code, _, errOut := run(t, "-gen-secret", secret); code != exitFailed || !strings.Contains(errOut, "exists") {
		t.Errorf("-gen-secret over an existing file: status %d, stderr %q", code, errOut)
	}

	code, out, errOut := run(t, "-secret-file", secret, "-sub", "cafe\u0301", "-rooms", "general,dev", "-ttl", "10m")
	if code != exitOK || errOut != "" {
		t.Fatalf("mint: status %d, stderr %q", code, errOut)
	}
	token := strings.TrimSuffix(out, "\n")
	if strings.ContainsAny(token, "\n ") {
		t.Fatalf("stdout %q is not one token and a newline", out)
	}
	v, err := auth.LoadVerifier(secret, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(token, "caf\u00e9", "dev")
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if strings.Join(c.Rooms, ",") != "general,dev" {
		t.Errorf("rooms claim %q", c.Rooms)
	}
	if _, err := v.Verify(token, "caf\u00e9", "ops"); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("room outside -rooms: %v", err)
	}
}

func TestEd25519Flow(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "chat")
	if code, out, errOut := run(t, "-gen-ed25519", prefix); code != exitOK || !strings.Contains(out, "-auth-public-key-file "+prefix+".pub") {
		t.Fatalf("-gen-ed25519: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	for file, perm := range map[string]os.FileMode{prefix + ".key": 0o600, prefix + ".pub": 0o644} {
		if st, err := os.Stat(file); err != nil || st.Mode().Perm() != perm {
			t.Errorf("%s: %v, want mode %v", file, err, perm)
		}
	}
	code, out, errOut := run(t, "-private-key-file", prefix+".key", "-sub", "ana", "-rooms", "*")
	if code != exitOK {
		t.Fatalf("mint: status %d, stderr %q", code, errOut)
	}
	v, err := auth.LoadVerifier("", prefix+".pub")
	if err != nil {
		t.Fatal(err)
	}
	if v.Alg() != auth.AlgEdDSA {
		t.Errorf("verifier alg %s", v.Alg())
	}
	if _, err := v.Verify(strings.TrimSpace(out), "ana", "anything"); err != nil {
		t.Errorf("minted token does not verify: %v", err)
	}
	if code, _, _ := run(t, "-gen-ed25519", prefix); code != exitFailed {
		t.Errorf("-gen-ed25519 over existing files: status %d, want %d", code, exitFailed)
	}
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "s")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"-secret-file", secret, "-sub", "ana", "extra"}, `unexpected argument "extra"`},
		{[]string{"-sub", "ana"}, "give -secret-file or -private-key-file"},
		{[]string{"-secret-file", secret, "-private-key-file", secret, "-sub", "ana"}, "not both"},
		{[]string{"-secret-file", secret}, "bad -sub: empty"},
		{[]string{"-secret-file", secret, "-sub", "ana/bob"}, "bad -sub: contains a slash (/)"},
		{[]string{"-secret-file", secret, "-sub", "ana", "-rooms", "general, dev"}, "bad room in -rooms: starts or ends with a space"},
		{[]string{"-secret-file", secret, "-sub", "ana", "-ttl", "0s"}, "-ttl 0s: must be positive"},
		{[]string{"-secret-file", secret, "-sub", "ana", "-ttl", "soon"}, "invalid value"},
		{[]string{"-gen-secret", filepath.Join(dir, "x"), "-gen-ed25519", filepath.Join(dir, "y")}, "separate runs"},
		{[]string{"-gen-secret", filepath.Join(dir, "x"), "-sub", "ana"}, "separate runs"},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != exitBadFlag || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errOut, exitBadFlag, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Errorf("a refused run wrote a file")
	}
}

func TestUnusableKeys(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-secret-file", short, "-sub", "ana"}, "is 9 bytes; at least 32 are needed"},
		{[]string{"-secret-file", filepath.Join(dir, "absent"), "-sub", "ana"}, "no such file"},
		{[]string{"-private-key-file", short, "-sub", "ana"}, "no PEM block"},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != exitFailed || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errOut, exitFailed, tc.want)
		}
	}
}
