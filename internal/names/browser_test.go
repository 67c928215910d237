package names

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatplatform/chat/internal/testkit"

	"github.com/chromedp/chromedp"

	"github.com/chatplatform/chat/web"
)

// namesPage loads web/names.js as the chat page does (a module under
// /static/) and exposes checkName.
const namesPage = `<!doctype html><title>names</title>
<script type="module">import { checkName } from "/static/names.js"; window.checkName = checkName; window.namesReady = true;</script>`

// openNamesPage serves web.Files and namesPage, opens the page in headless
// Chromium and waits for names.js to load. Without Chromium the test is
// skipped, or fails when CI is set.
func openNamesPage(t *testing.T) context.Context {
	t.Helper()
	ctx := testkit.Chromium(t)
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web.Files)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, namesPage) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("open the names page: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.namesReady === true`))
		if err == nil && ok {
			return ctx
		}
		if time.Now().After(deadline) {
			t.Fatalf("names.js did not load (last error: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsResult is what checkName returns.
type jsResult struct {
	Value string `json:"value"`
	Error string `json:"error"`
}

// jsCodePoints is in as code points for String.fromCodePoint; invalid UTF-8
// becomes a lone surrogate, the browser's own kind of malformed text.
func jsCodePoints(in string) []rune {
	cps := []rune{}
	for len(in) > 0 {
		r, size := utf8.DecodeRuneInString(in)
		if r == utf8.RuneError && size <= 1 {
			r = 0xD800
		}
		cps = append(cps, r)
		in = in[size:]
	}
	return cps
}

func TestBrowserAgreesOnTheTable(t *testing.T) {
	ctx := openNamesPage(t)
	type jsCase struct {
		CPs  []rune `json:"cps"`
		Kind string `json:"kind"`
	}
	in := make([]jsCase, len(cases))
	for i, c := range cases {
		in[i] = jsCase{CPs: jsCodePoints(c.in), Kind: "room"}
		if c.clientID {
			in[i].Kind = "client_id"
		}
	}
	arg, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]jsResult](
		fmt.Sprintf(`%s.map(c => checkName(String.fromCodePoint(...c.cps), c.kind))`, arg)))
	if err != nil {
		t.Fatalf("run checkName: %v", err)
	}
	if len(got) != len(cases) {
		t.Fatalf("%d results for %d cases", len(got), len(cases))
	}
	for i, c := range cases {
		want := jsResult{Value: c.want, Error: c.reason}
		if got[i] != want {
			t.Errorf("%s: checkName(%+q, %s) = %+v, want %+v", c.name, c.in, in[i].Kind, got[i], want)
		}
	}
}

// singleKey is the reason a room of the single code point r is refused
// with, without the code point it names, or "ok".
func singleKey(r rune) string {
	s := string(r)
	if !utf8.ValidRune(r) {
		s = "\xed\xa0\x80" // the UTF-8 form of a surrogate: invalid
	}
	_, err := Room(s)
	if err == nil {
		return "ok"
	}
	reason := err.Error()
	if i := strings.LastIndex(reason, " (U+"); i >= 0 && strings.HasSuffix(reason, ")") {
		reason = reason[:i]
	}
	return reason
}

// TestBrowserAgreesOnEveryCodePoint checks each code point alone (those
// codePoints yields) as a room name in both. Where the browser's Unicode is
// newer, a code point unassigned in Go's tables may be assigned there: only
// those may differ.
func TestBrowserAgreesOnEveryCodePoint(t *testing.T) {
	ctx := openNamesPage(t)
	// Runs of [first code point, reason without its code point].
	runs, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]any](`(() => {
		const runs = [];
		let last = null;
		for (let cp = 0; cp <= 0x10FFFF; cp++) {
			const r = checkName(String.fromCodePoint(cp), "room");
			const key = r.error === "" ? "ok" : r.error.replace(/ \(U\+[0-9A-F]{4,6}\)$/, "");
			if (key !== last) { runs.push([cp, key]); last = key; }
		}
		return runs;
	})()`))
	if err != nil {
		t.Fatalf("run checkName over every code point: %v", err)
	}
	newer, bad := 0, 0
	for i, run := range runs {
		first, key := rune(run[0].(float64)), run[1].(string)
		end := rune(utf8.MaxRune + 1)
		if i+1 < len(runs) {
			end = rune(runs[i+1][0].(float64))
		}
		for r := first; r < end; r++ {
			if skipped(r) {
				continue
			}
			goKey := singleKey(r)
			switch {
			case goKey == key:
			case goKey == "contains an unassigned code point":
				newer++
			default:
				if bad++; bad <= 20 {
					t.Errorf("%U: browser %q, Go %q", r, key, goKey)
				}
			}
		}
	}
	if bad > 20 {
		t.Errorf("... %d code points disagree in all", bad)
	}
	t.Logf("%d code points unassigned in Go's Unicode %s are assigned in the browser's", newer, unicode.Version)
}
