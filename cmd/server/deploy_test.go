package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// TestDeployCommands parses the chat nodes' command lines in
// deploy/compose.yaml and the Dockerfile's CMD with the server's flags:
// a flag renamed or removed fails here, not in a container. (No
// container runs in the tests.)
func TestDeployCommands(t *testing.T) {
	var lines [][]byte
	for _, f := range []struct{ path, pattern string }{
		{"../../deploy/compose.yaml", `(?m)^\s+command: (\[.*\])\s*$`},
		{"../../deploy/Dockerfile", `(?m)^CMD (\[.*\])\s*$`},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(f.pattern).FindAllSubmatch(b, -1) {
			lines = append(lines, m[1])
		}
	}
	nodes := 0
	for _, l := range lines {
		var args []string
		if err := json.Unmarshal(l, &args); err != nil {
			t.Fatalf("command %s: %v", l, err)
		}
		if len(args) == 0 || args[0] != "-addr" {
			continue // another service's
		}
		nodes++
		var stderr bytes.Buffer
		if _, err := parseFlags(args, &stderr); err != nil {
			t.Errorf("command %q: %v %s", args, err, stderr.String())
		}
	}
	if nodes != 4 {
		t.Fatalf("%d chat command lines, want 4 (three nodes and the Dockerfile's)", nodes)
	}
}
