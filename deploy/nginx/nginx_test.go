// Package nginx_test runs Debian's nginx with chat.conf, TLS with a
// throwaway certificate, in front of a real chat server, and chats through
// it over wss:// and from the page over https://.
package nginx_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatplatform/chat/internal/testkit"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

const (
	waitTimeout  = 20 * time.Second
	pollInterval = 50 * time.Millisecond
)

// certs writes a throwaway CA and a certificate it signed for 127.0.0.1
// and localhost into dir, and returns the certificate and key paths and a
// pool trusting the CA.
func certs(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chat test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey := newKey()
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "chat.crt"), filepath.Join(dir, "chat.key")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return certFile, keyFile, roots
}

// proxy is nginx running chat.conf.
type proxy struct {
	https, http string // host:port of the TLS and the plain listener
	dir         string
	roots       *x509.CertPool
}

// startNginx writes chat.conf with the deployment's addresses replaced by
// test ones, wraps it in a minimal nginx.conf whose files all live in a
// temporary prefix, and runs nginx in the foreground until the test ends.
func startNginx(t *testing.T, upstream string) *proxy {
	t.Helper()
	bin := testkit.Need(t, "/usr/sbin/nginx", "nginx")
	dir := t.TempDir()
	certFile, keyFile, roots := certs(t, dir)
	p := &proxy{
		https: servertest.FreeAddr(t),
		http:  servertest.FreeAddr(t),
		dir:   dir,
		roots: roots,
	}
	conf, err := os.ReadFile("chat.conf")
	if err != nil {
		t.Fatal(err)
	}
	// Each deployment value of chat.conf and what it becomes here. Every one
	// must still be in the file: the test runs the committed directives.
	for _, r := range []struct {
		old, new string
		count    int
	}{
		{"server 127.0.0.1:8080;", "server " + upstream + ";", 2},
		{"listen 443 ssl;", "listen " + p.https + " ssl;", 1},
		{"listen [::]:443 ssl;", "", 1},
		{"listen 80;", "listen " + p.http + ";", 1},
		{"listen [::]:80;", "", 1},
		{"/etc/letsencrypt/live/chat.example.com/fullchain.pem", certFile, 1},
		{"/etc/letsencrypt/live/chat.example.com/privkey.pem", keyFile, 1},
		{"/var/log/nginx/chat.access.log", filepath.Join(dir, "access.log"), 2},
	} {
		if n := strings.Count(string(conf), r.old); n != r.count {
			t.Fatalf("chat.conf holds %q %d times, the test expects %d: update the test with the file", r.old, n, r.count)
		}
		conf = []byte(strings.ReplaceAll(string(conf), r.old, r.new))
	}
	if err := os.WriteFile(filepath.Join(dir, "chat.conf"), conf, 0o600); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read the temporary prefix, which only its owner can
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
events { worker_connections 256; }
http {
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/chat.conf;
}
`, user, dir)
	mainFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainFile, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	errorLog := filepath.Join(dir, "error.log")
	args := []string{"-p", dir, "-c", mainFile, "-e", errorLog, "-g", "daemon off;"}
	if out, err := exec.Command(bin, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful stop
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(errorLog)
			t.Logf("nginx output:\n%s\nerror log:\n%s", stderr.String(), log)
		}
	})
	// Ready when /healthz answers through TLS.
	client := p.client()
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := client.Get("https://" + p.https + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not serving /healthz after %v: %v", waitTimeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// tlsConfig trusts the throwaway CA only.
func (p *proxy) tlsConfig() *tls.Config { return &tls.Config{RootCAs: p.roots} }

// client is an HTTPS client trusting the throwaway CA that does not follow
// redirects.
func (p *proxy) client() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: p.tlsConfig()},
		Timeout:       waitTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// dial opens a WebSocket through nginx.
func (p *proxy) dial(t *testing.T, path string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: p.tlsConfig(), HandshakeTimeout: waitTimeout}
	conn, resp, err := d.Dial("wss://"+p.https+path, nil)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial wss://%s%s: %v %s", p.https, path, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// event is the part of a server event the test looks at.
type event struct {
	Type     string `json:"type"`
	ClientID string `json:"client_id"`
	Message  string `json:"message"`
}

// waitEvent reads events from conn until one of type typ from clientID
// (with message text, if not empty) arrives.
func waitEvent(t *testing.T, who string, conn *websocket.Conn, typ, clientID, text string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		var ev event
		if err := conn.ReadJSON(&ev); err != nil {
			t.Fatalf("%s: waiting for %s from %s: %v", who, typ, clientID, err)
		}
		if ev.Type == typ && ev.ClientID == clientID && (text == "" || ev.Message == text) {
			return
		}
	}
}

func TestChatThroughNginx(t *testing.T) {
	srv := servertest.Start(t, "127.0.0.1:0", server.Config{})
	p := startNginx(t, srv.Addr)
	client := p.client()

	t.Run("page over https", func(t *testing.T) {
		resp, err := client.Get("https://" + p.https + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="join-form"`) {
			t.Errorf("GET /: %s, page %.100q", resp.Status, body)
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
			t.Errorf("no HSTS header: %q", hsts)
		}
	})

	t.Run("metrics denied", func(t *testing.T) {
		resp, err := client.Get("https://" + p.https + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET /metrics through nginx: %s, want 403", resp.Status)
		}
	})

	t.Run("http redirects to https", func(t *testing.T) {
		resp, err := client.Get("http://" + p.http + "/?room=x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "https://"+p.http+"/?room=x" {
			t.Errorf("GET http://: %s to %q, want 301 to https", resp.Status, loc)
		}
	})

	t.Run("wss", func(t *testing.T) {
		const secret = "eyJtoken.not.logged" // a token in the query must stay out of the access log
		ana := p.dial(t, "/ws/ana?room=tls&token="+secret)
		waitEvent(t, "ana", ana, "connection", "ana", "")
		bob := p.dial(t, "/ws/bob?room=tls")
		waitEvent(t, "ana", ana, "connection", "bob", "")
		const text = "hello over wss"
		if err := ana.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, "bob", bob, "message", "ana", text)
		waitEvent(t, "ana", ana, "message", "ana", text) // the sender gets its own message
		ana.Close()
		bob.Close()

		// nginx logs a WebSocket request when it ends.
		logFile := filepath.Join(p.dir, "access.log")
		deadline := time.Now().Add(waitTimeout)
		for {
			log, _ := os.ReadFile(logFile)
			if strings.Contains(string(log), "GET /ws/ana HTTP/1.1") {
				if strings.Contains(string(log), secret) || strings.Contains(string(log), "token=") {
					t.Errorf("the access log shows the token:\n%s", log)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no log line for /ws/ana in %s:\n%s", logFile, log)
			}
			time.Sleep(pollInterval)
		}
	})

	t.Run("forwarded headers", func(t *testing.T) {
		// What the chat server sees: read it from a plain backend behind
		// the same configuration.
		got := make(chan http.Header, 1)
		backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/probe" {
				return // startNginx's readiness checks
			}
			h := r.Header.Clone()
			h.Set("Host", r.Host)
			got <- h
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go backend.Serve(ln)
		t.Cleanup(func() { backend.Close() })
		p2 := startNginx(t, ln.Addr().String())
		req, _ := http.NewRequest("GET", "https://"+p2.https+"/probe", nil)
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		resp, err := p2.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := <-got
		if xff := h.Get("X-Forwarded-For"); xff != "6.6.6.6, 127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want the client's list with nginx's peer appended", xff)
		}
		if proto := h.Get("X-Forwarded-Proto"); proto != "https" {
			t.Errorf("X-Forwarded-Proto = %q", proto)
		}
		if host := h.Get("Host"); host != p2.https {
			t.Errorf("Host = %q, want %q as the browser sent it", host, p2.https)
		}
		if c := h.Get("Connection"); c != "" {
			t.Errorf("Connection = %q on a page request, want none (keepalive)", c)
		}
		if addr, err := netip.ParseAddr(strings.TrimSpace(strings.Split(h.Get("X-Forwarded-For"), ",")[1])); err != nil || !addr.IsLoopback() {
			t.Errorf("last X-Forwarded-For hop %v is not nginx's peer", addr)
		}
	})

	t.Run("browser page over https", func(t *testing.T) {
		ctx := newBrowser(t)
		watcher := p.dial(t, "/ws/watcher?room=web")
		waitEvent(t, "watcher", watcher, "connection", "watcher", "")
		if err := chromedp.Do(ctx, chromedp.Navigate("https://"+p.https+"/?room=web")); err != nil {
			t.Fatalf("open the page: %v", err)
		}
		waitJS(t, ctx, `document.readyState === "complete" && !!document.getElementById("join-form")`, "the page")
		const text = "hello from the page over https"
		fill(t, ctx, "join-form", map[string]string{"username": "carol", "room": "web"})
		waitJS(t, ctx, `!document.getElementById("messageInput").disabled`, "the page to connect")
		fill(t, ctx, "send-form", map[string]string{"messageInput": text})
		waitEvent(t, "watcher", watcher, "message", "carol", text)
		waitJS(t, ctx, fmt.Sprintf(`document.getElementById("messages").textContent.includes(%q)`, text), "the page to show its message")
	})
}

// newBrowser starts a headless Chromium that accepts the throwaway
// certificate, stopped when the test ends; see testkit.Chromium.
func newBrowser(t *testing.T) context.Context {
	return testkit.Chromium(t, chromedp.Flag("ignore-certificate-errors", true))
}

// fill sets the inputs of a form as typing would (with input events) and
// submits it as pressing Enter would.
func fill(t *testing.T, ctx context.Context, form string, values map[string]string) {
	t.Helper()
	b, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	js := fmt.Sprintf(`(() => {
		for (const [id, v] of Object.entries(%s)) {
			const e = document.getElementById(id);
			e.value = v;
			e.dispatchEvent(new Event("input", {bubbles: true}));
		}
		document.getElementById(%q).requestSubmit();
		return true;
	})()`, b, form)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
		t.Fatalf("fill and submit #%s: %v", form, err)
	}
}

// waitJS polls the JavaScript condition cond until it holds.
func waitJS(t *testing.T, ctx context.Context, cond, what string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("condition false")
			}
			t.Fatalf("timed out after %v waiting for %s: %v", waitTimeout, what, err)
		}
		time.Sleep(pollInterval)
	}
}
