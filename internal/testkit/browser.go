package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's Chromium, which .ci/run installs.
const ChromiumPath = "/usr/bin/chromium"

// Need returns path, a system program a test needs (a name on PATH or an
// absolute path), when it is there. Otherwise the test is skipped with a
// reason naming the Debian package pkg, or fails when the environment
// variable CI is set, so that CI never skips it.
func Need(t testing.TB, path, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		msg := fmt.Sprintf("%s not found (install the Debian package %q): %v", path, pkg, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Chromium starts a headless Chromium with a fresh profile and the given
// options on top of the defaults, and returns a context for it; the browser
// stops when the test ends. Without Chromium the test is skipped, or fails
// when CI is set.
func Chromium(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Need(t, ChromiumPath, "chromium")
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last-in first-out)
	all := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.Flag("no-sandbox", true),
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(all, opts...)...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return bctx
}
