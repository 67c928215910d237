// Package web holds the browser client, embedded into the server binary.
//
// The files are served by the chat server: index.html at "/", the rest
// under "/static/". The client is dependency-free ES module JavaScript
// (chat.js) and one stylesheet (chat.css); there is no build step. It speaks
// wire protocol v1: it joins a room at /ws/{client_id}?room=NAME, resumes
// with &since=SEQ after a reconnect, and renders user text only as text.
//
// Serving it:
//
//	index, _ := fs.ReadFile(web.Files, "index.html")
//	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.Write(index) })
//	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web.Files)))
//
// The package's tests drive the page in headless Chromium (/usr/bin/chromium)
// against a real server; TestScreenshot with -screenshot FILE saves a PNG
// of a conversation.
package web

import "embed"

// Files holds index.html, the assets it loads and names.js, the name rules
// (the same as the server's internal/names) as an ES module.
//
//go:embed index.html chat.js chat.css names.js
var Files embed.FS
