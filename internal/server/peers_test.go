package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/server"
)

func TestParsePeers(t *testing.T) {
	servers, origins, err := server.ParsePeers([]string{"http://10.0.0.2:8080", "https://chat-b.example.com/", "ws://[::1]:9000", "wss://c.example"})
	if err != nil {
		t.Fatal(err)
	}
	wantServers := []string{"ws://10.0.0.2:8080", "wss://chat-b.example.com", "ws://[::1]:9000", "wss://c.example"}
	wantOrigins := []string{"http://10.0.0.2:8080", "https://chat-b.example.com", "http://[::1]:9000", "https://c.example"}
	for i := range wantServers {
		if servers[i] != wantServers[i] || origins[i] != wantOrigins[i] {
			t.Fatalf("got %q and %q, want %q and %q", servers, origins, wantServers, wantOrigins)
		}
	}
	for _, bad := range []string{"10.0.0.2:8080", "ftp://h", "http://", "http://h/ws", "http://h?x=1", "http://u:p@h", "http://h#f", "%"} {
		if _, _, err := server.ParsePeers([]string{bad}); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	if _, err := server.New(server.Config{Peers: []string{"h:1"}}); err == nil {
		t.Error("New accepted a bad peer")
	}
}

// TestPeers checks what a peer list gives: GET /peers lists the peers'
// WebSocket URLs, a page served by a peer may open a WebSocket, and may
// read why one was refused; other origins stay refused.
func TestPeers(t *testing.T) {
	ts := startServer(t, server.Config{Peers: []string{"http://127.0.0.1:1", "https://b.example"}})
	resp, err := http.Get("http://" + ts.Addr + "/peers")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Servers []string }
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || len(got.Servers) != 2 || got.Servers[0] != "ws://127.0.0.1:1" || got.Servers[1] != "wss://b.example" {
		t.Fatalf("GET /peers: %+v, %v", got, err)
	}

	for i, origin := range []string{"http://127.0.0.1:1", "https://b.example"} {
		c, resp, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://%s/ws/peer%d?room=r", ts.Addr, i), http.Header{"Origin": {origin}})
		if err != nil {
			t.Fatalf("origin %s refused: %v %v", origin, resp, err)
		}
		c.Close()
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.Addr+"/ws/x?room=r", http.Header{"Origin": {"http://127.0.0.1:2"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another origin: %v, %v", resp, err)
	}

	// The refusal check a page makes with a plain GET is readable from a
	// peer's origin, and only from there.
	for origin, readable := range map[string]bool{"https://b.example": true, "https://evil.example": false} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ts.Addr+"/ws/bad%2Fname?room=r", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if allow := resp.Header.Get("Access-Control-Allow-Origin"); (allow == origin) != readable || (!readable && allow != "") {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q (status %d)", origin, allow, resp.StatusCode)
		}
	}
}
