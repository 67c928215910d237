package web_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// countSockets makes the page count the WebSockets it opens in
// window.socketsOpened; with badID, every one asks for that client id
// instead, as a page whose name rules lag the server's would.
func countSockets(p *page, badID string) {
	p.t.Helper()
	eval[bool](p, `(() => {
		const W = window.WebSocket;
		window.socketsOpened = 0;
		window.WebSocket = class extends W {
			constructor(url, protocols) {
				window.socketsOpened++;
				const bad = `+jsString(badID)+`;
				super(bad ? url.replace(/\/ws\/[^?]*/, "/ws/" + encodeURIComponent(bad)) : url, protocols);
			}
		};
		return true;
	})()`)
}

// A name the server refuses (HTTP 400 at the upgrade, which the page
// cannot see) stops the page with the server's reason: no retry loop.
func TestRefusalBadNameStops(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	p := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=refused")
	countSockets(p, strings.Repeat("x", 33))
	p.do("connect", chromedp.SendKeys("#username", "ana"), chromedp.Click("#connect-btn"))
	p.waitJS(`document.getElementById("status").dataset.state === "disconnected" &&
		document.getElementById("join-error").textContent === "The server refused to connect: bad client_id: longer than 32 characters." &&
		document.getElementById("retry-btn").hidden &&
		document.getElementById("username").getAttribute("aria-invalid") === "true" &&
		!document.getElementById("username").disabled`, "the refusal with the server's reason, and no retry")
	if n := eval[int](p, `window.socketsOpened`); n != 1 {
		t.Errorf("the page opened %d WebSockets for a refused name, want 1", n)
	}
}

// plainGet returns the status of a plain GET of a WebSocket URL on addr.
func plainGet(t *testing.T, addr, path string) int {
	t.Helper()
	r, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	r.Body.Close()
	return r.StatusCode
}

// A full server (503) is retried with backoff, and the page says why.
func TestRefusalServerFullRetries(t *testing.T) {
	srv := servertest.Start(t, "127.0.0.1:0", server.Config{MaxConnections: 1})
	first := dialRaw(t, srv.Addr, "full", "first")
	if code := plainGet(t, srv.Addr, "/ws/ana?room=full"); code != http.StatusServiceUnavailable {
		t.Skipf("the server answers a plain GET of a WebSocket URL with %d, not 503 while full: the page cannot learn why it is refused", code)
	}
	browser := newBrowser(t)
	p := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=full")
	p.do("connect", chromedp.SendKeys("#username", "ana"), chromedp.Click("#connect-btn"))
	p.waitJS(`document.getElementById("status").dataset.state === "reconnecting" &&
		/^Server busy\. Reconnecting in \d+s$/.test(document.getElementById("status-text").textContent) &&
		document.getElementById("conn-note").textContent.startsWith("The server is full or shutting down")`,
		"the busy server explained while retrying")
	first.c.Close()
	p.waitConnected()
	p.waitJS(`document.getElementById("conn-note").hidden`, "the explanation gone once connected")
}

// blockingProxy forwards plain HTTP to a backend and refuses WebSocket
// upgrades, as a proxy that does not carry WebSockets does.
type blockingProxy struct {
	Addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startBlockingProxy(t *testing.T, backend string) *blockingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &blockingProxy{Addr: ln.Addr().String(), ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go p.serve(c, backend)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

// serve forwards one connection whose first request is not an upgrade.
func (p *blockingProxy) serve(c net.Conn, backend string) {
	defer p.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	var head bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	if strings.Contains(strings.ToLower(head.String()), "\r\nupgrade: websocket") {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	b, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	b.Write(head.Bytes())
	done := make(chan struct{})
	go func() {
		io.Copy(c, b)
		c.Close()
		close(done)
	}()
	io.Copy(b, br)
	b.Close()
	<-done
}

// When the server would accept (426 to a plain GET) but the WebSocket
// still fails, the page tries a few times, then stops with a Retry button
// and says what is probably wrong.
func TestRefusalWebSocketBlockedStops(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	if code := plainGet(t, srv.Addr, "/ws/ana?room=blocked"); code != http.StatusUpgradeRequired {
		t.Skipf("the server answers a plain GET of a WebSocket URL it would accept with %d, not 426", code)
	}
	proxy := startBlockingProxy(t, srv.Addr)
	browser := newBrowser(t)
	p := openPage(t, browser, "ana", "http://"+proxy.Addr+"/?room=blocked")
	countSockets(p, "")
	p.do("connect", chromedp.SendKeys("#username", "ana"), chromedp.Click("#connect-btn"))
	p.waitJS(`document.getElementById("status").dataset.state === "disconnected" &&
		document.getElementById("join-error").textContent.includes("the WebSocket connection itself fails") &&
		(b => !b.hidden && b.textContent === "Retry")(document.getElementById("retry-btn"))`,
		"the stop with an explanation and a Retry button")
	if n := eval[int](p, `window.socketsOpened`); n != 3 {
		t.Errorf("the page opened %d WebSockets before it stopped, want 3", n)
	}
	p.do("retry", chromedp.Click("#retry-btn"))
	p.waitJS(`window.socketsOpened > 3`, "another attempt after Retry")
}
