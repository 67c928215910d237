// Command chattoken mints the signed tokens the chat server verifies with
// -auth-secret-file or -auth-public-key-file, and makes the keys to try it.
//
// Usage:
//
//	chattoken -gen-secret chat.secret                 # a random secret, mode 0600
//	chattoken -secret-file chat.secret -sub ana -rooms general,dev -ttl 1h
//	chattoken -gen-ed25519 chat                       # chat.key (0600) and chat.pub
//	chattoken -private-key-file chat.key -sub ana     # EdDSA (or ES256 with a P-256 key)
//
// The token is printed on standard output. Exit status: 0 on success, 1
// when a file cannot be read or written, 2 for bad flags.
package main

import "os"

func main() {
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}
