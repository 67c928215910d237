package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// ParsePeers checks the public base URLs of a cluster's other nodes
// (http://, https://, ws:// or wss://, a host and nothing but an optional
// "/" path) and returns them as WebSocket base URLs (ws://host:port or
// wss://host:port) and the Origin values of the pages those nodes serve.
func ParsePeers(peers []string) (servers, origins []string, err error) {
	for _, p := range peers {
		u, err := url.Parse(p)
		if err != nil {
			return nil, nil, fmt.Errorf("peer %q: %w", p, err)
		}
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, nil, fmt.Errorf("peer %q: want a base URL such as http://host:8080", p)
		}
		var ws, page string
		switch u.Scheme {
		case "http", "ws":
			ws, page = "ws", "http"
		case "https", "wss":
			ws, page = "wss", "https"
		default:
			return nil, nil, fmt.Errorf("peer %q: scheme %q, want http, https, ws or wss", p, u.Scheme)
		}
		servers = append(servers, ws+"://"+u.Host)
		origins = append(origins, page+"://"+u.Host)
	}
	return servers, origins, nil
}

// servePeers answers GET /peers with the WebSocket base URLs of the
// cluster's other nodes, {"servers":["ws://host:port",...]}: the web client
// reconnects to them when its own node is gone.
func (s *Server) servePeers(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(struct {
		Servers []string `json:"servers"`
	}{s.peers})
}
