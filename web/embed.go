// Package web holds the browser client, embedded into the server binary.
//
// The files are served by the chat server: index.html at "/", the rest
// under "/static/".
package web

import "embed"

// Files holds index.html and the assets it loads.
//
//go:embed index.html chat.js chat.css
var Files embed.FS
