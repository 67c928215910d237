package server_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/server"
)

func TestOrigins(t *testing.T) {
	plain := startServer(t, server.Config{})
	listed := startServer(t, server.Config{AllowedOrigins: []string{"https://chat.example.com", "http://localhost:5173"}})
	any := startServer(t, server.Config{AllowedOrigins: []string{"*"}})
	tests := []struct {
		name   string
		ts     *testServer
		origin string // "-": no Origin header; "self": the server's own
		ok     bool
	}{
		{"same origin", plain, "self", true},
		{"same origin https", plain, "https://self", true},
		{"no Origin", plain, "-", true},
		{"foreign", plain, "http://evil.example", false},
		{"null", plain, "null", false},
		{"look-alike host:port.evil.example", plain, "http://self.evil.example", false},
		{"same host, other port", plain, "http://127.0.0.1:1", false},
		{"other scheme", plain, "ftp://self", false},
		{"listed", listed, "https://chat.example.com", true},
		{"listed, own origin still", listed, "self", true},
		{"listed dev server", listed, "http://localhost:5173", true},
		{"not listed", listed, "https://chat.example.com.evil.example", false},
		{"any", any, "http://evil.example", true},
		{"any, null", any, "null", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			switch tt.origin {
			case "-":
			case "self":
				h.Set("Origin", "http://"+tt.ts.Addr)
			case "https://self":
				h.Set("Origin", "https://"+tt.ts.Addr)
			case "ftp://self":
				h.Set("Origin", "ftp://"+tt.ts.Addr)
			case "http://self.evil.example":
				h.Set("Origin", "http://"+tt.ts.Addr+".evil.example")
			default:
				h.Set("Origin", tt.origin)
			}
			before := tt.ts.counter(t, "chat_upgrade_failures_total", "reason", "forbidden_origin")
			conn, resp, err := websocket.DefaultDialer.Dial("ws://"+tt.ts.Addr+"/ws/"+fmt.Sprint("o", i), h)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v %v", resp, err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("accepted")
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusForbidden || string(body) != "origin not allowed" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			tt.ts.waitCounter(t, before+1, "chat_upgrade_failures_total", "reason", "forbidden_origin")
		})
	}
}

func TestSeparateMetrics(t *testing.T) {
	ts := startServer(t, server.Config{SeparateMetrics: true})
	r, err := http.Get("http://" + ts.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics on the chat listener: %d, want 404", r.StatusCode)
	}
	shared := startServer(t, server.Config{})
	if r, err = http.Get("http://" + shared.Addr + "/metrics"); err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/metrics by default: %d, want 200", r.StatusCode)
	}
}
