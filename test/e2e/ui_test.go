package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// uiCanary pauses 5s at 0% (long enough to watch it progress), then
// gives the canary 20% under a 30s analysis (long enough to abort it).
const uiCanary = `
analysis: t
abortScaleDownDelay: 1s
steps:
  - pause: {duration: 5s}
  - setWeight: 20
  - analysis: {template: t, duration: 30s}
  - setWeight: 100`

// browser is a headless Chromium driven by chromedp, with the page's
// uncaught exceptions, console errors and security messages (a
// Content-Security-Policy violation) collected.
type browser struct {
	ctx   context.Context
	t     *testing.T
	shots string

	mu       sync.Mutex
	problems []string
}

// startBrowser starts headless Chromium, or skips the test when it is
// missing (fails under BLUEJAY_REQUIRE_ENGINES=1).
func startBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		enginetest.Missing(t, "Chromium", fmt.Errorf("the dashboard's browser test needs %s (apt-get install -y chromium): %w", chromiumPath, err))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx, t: t, shots: screenshotDir(t)}
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a timeout
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" && m.Source != "network" || m.Source == "security" {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// screenshotDir is $BLUEJAY_UI_SCREENSHOTS if set, else the test's
// artifact directory (kept with go test -artifacts -outputdir DIR).
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("BLUEJAY_UI_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

// do runs the steps within timeout, failing the test with what on error.
func (b *browser) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + strings.NewReplacer(" ", "-", "/", "-", "→", "to").Replace(what))
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// waitJS polls the page until expr, a JavaScript expression of a
// boolean, is true.
func (b *browser) waitJS(what string, timeout time.Duration, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout),
		chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.shot("failed-" + strings.NewReplacer(" ", "-", "/", "-", "→", "to").Replace(what))
		b.t.Fatalf("browser: waiting %s for %s: %v\npage text:\n%s", timeout, what, err, b.text("main"))
	}
}

// text returns the text of the first element matching the CSS selector,
// "" if there is none.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
	if err != nil {
		b.t.Errorf("browser: reading %s: %v", sel, err)
	}
	return s
}

// shot saves a full-page screenshot as name.png and logs its path.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("saving screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// cookies returns the browser's cookies for url.
func (b *browser) cookies(url string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatalf("browser: reading cookies: %v", err)
	}
	return res.Cookies
}

// location returns the page's URL.
func (b *browser) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("browser: reading the location: %v", err)
	}
	return loc
}

// textHas is a JavaScript expression: the element's text contains all of want.
func textHas(sel string, want ...string) string {
	var conds []string
	for _, w := range want {
		conds = append(conds, fmt.Sprintf(`t.includes(%q)`, w))
	}
	return fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; const t = e.textContent; return %s; })()`,
		sel, strings.Join(conds, " && "))
}

// anyHas is a JS expression: some element matching sel contains every
// string of want.
func anyHas(sel string, want ...string) string {
	var conds []string
	for _, w := range want {
		conds = append(conds, fmt.Sprintf(`t.includes(%q)`, w))
	}
	return fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => { const t = e.textContent; return %s; })`,
		sel, strings.Join(conds, " && "))
}

// TestUIDashboard drives the dashboard in headless Chromium against a
// real `bluejay serve`: it logs in through the form (a wrong token first),
// sees the services view, watches a canary failing half its requests
// progress and then roll back with the analysis' reason, aborts another
// canary from the page with the confirmation, and reads the history.
func TestUIDashboard(t *testing.T) {
	b := startBrowser(t)
	s := startServer(t, canaryOptions(uiCanary, errorRateTemplate(20)))
	l := startLoad(t, s.proxy)
	l.waitServed(t, "v1", 20, 10*time.Second)
	base := "http://" + s.admin

	// Log in: a wrong token gets the form again with its error.
	b.do("opening /ui", 20*time.Second,
		chromedp.Navigate(base+"/ui"),
		chromedp.WaitVisible(chromedp.CSS("#login-token")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), "not-the-token"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	b.shot("01-login-refused")
	b.do("logging in", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#login-token"), s.token),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`tr.service-row[data-service="web"]`)))
	if loc := b.location(); loc != base+"/ui/" || strings.Contains(loc, s.token) {
		t.Errorf("after login the page is at %q, want %s/ui/ (and never the token in a URL)", loc, base)
	}
	cookies := b.cookies(base)
	var session *network.Cookie
	for _, c := range cookies {
		if c.Name == "bluejay_session" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || session.Value == s.token {
		t.Errorf("session cookie: %+v", session)
	}

	// The services view: stable v1 with all traffic, healthy instances.
	b.waitJS("the services view showing v1 with all traffic", 10*time.Second,
		textHas(`tr.service-row[data-service="web"]`, "v1", "v1 100%", "ready", "Completed"))
	b.shot("02-services")

	// A canary failing half its requests: seen progressing, then rolled
	// back with the analysis' reason.
	s.mustCLI(0, deployCanary("v2", false, "--error-rate", "0.5")...)
	b.waitJS("rollout v1 → v2 progressing at step 1/4", 30*time.Second,
		textHas("#rollout-title", "v1 → v2")+" && "+textHas("#rollout-step", "step 1/4")+" && "+textHas("#rollout-phase", "Progressing"))
	b.shot("03-canary-progressing")
	b.waitJS("rollout v2 RolledBack with the error-rate reason", 60*time.Second,
		textHas("#rollout-title", "v1 → v2")+" && "+textHas("#rollout-phase", "RolledBack")+" && "+textHas("#rollout-reason", "error-rate", "canary", "baseline"))
	// Any RolledBack row: later events of the rollout (stopping v2 after
	// its abort delay) are RolledBack too, and come first (regression: a
	// flake when the stop was recorded before this check).
	b.waitJS("the decision log's RolledBack row and the history row", 10*time.Second,
		anyHas(`#events tr[data-phase="RolledBack"]`, "error-rate")+" && "+anyHas(`#history tr[data-phase="RolledBack"]`, "v1 → v2", "canary", "error-rate"))
	// The page measures the sides for a few seconds after the end: the
	// last windows hold the canary's failures.
	b.waitJS("the error-rate chart with canary, baseline and limit lines, the canary's above 20%", 15*time.Second,
		`['canary','baseline','limit'].every(s => { const p = document.querySelector('#chart-errorRate polyline[data-series="'+s+'"]'); return p && +p.dataset.count >= 2; })`+
			` && +document.querySelector('#chart-errorRate polyline[data-series="canary"]').dataset.max > 0.2`+
			` && +document.querySelector('#chart-errorRate polyline[data-series="baseline"]').dataset.max < 0.05`+
			` && !!document.querySelector('#chart-p99 polyline[data-series="canary"]')`)
	// Each limit is drawn and named once, though the step's analysis and
	// the background one share a metric.
	b.waitJS("a legend without repeated entries", 5*time.Second,
		`(() => { const t = [...document.querySelectorAll('#chart-errorRate .legend li')].map(li => li.textContent.replace(/: [^:]*$/, ''));`+
			` return t.length >= 3 && new Set(t).size === t.length; })()`)
	b.shot("04-canary-rolled-back")
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	if reason := b.text("#rollout-reason"); st.Rollout.Phase != "RolledBack" || reason != st.Rollout.Reason {
		t.Errorf("the page shows reason %q; the API says %s %q", reason, st.Rollout.Phase, st.Rollout.Reason)
	}

	// A healthy canary, aborted from the page at its analysis step.
	s.mustCLI(0, deployCanary("v3", false)...)
	b.waitJS("rollout v1 → v3 at step 3/4 with 20% of traffic", 40*time.Second,
		textHas("#rollout-title", "v1 → v3")+" && "+textHas("#rollout-step", "step 3/4")+" && "+textHas("#traffic", "20%"))
	b.waitJS("the analysis under way", 10*time.Second, textHas("#analyses", "step analysis t", "v3 (canary) vs v1 (baseline)"))
	b.do("clicking Abort", 10*time.Second,
		chromedp.Click(chromedp.CSS("#action-abort")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-yes")))
	if q := b.text("#confirm-text"); !strings.Contains(q, "Abort web") || !strings.Contains(q, "Progressing") {
		t.Errorf("the confirmation says %q", q)
	}
	b.shot("05-abort-confirmation")
	b.do("confirming", 10*time.Second, chromedp.Click(chromedp.CSS("#confirm-yes")))
	b.waitJS("the abort's result", 15*time.Second, textHas("#action-result", "Abort done", "abort requested"))
	b.waitJS("rollout v3 rolled back to v1 with all traffic", 20*time.Second,
		textHas("#rollout-title", "v1 → v3")+" && "+textHas("#rollout-phase", "RolledBack")+" && "+
			textHas(`tr.service-row[data-service="web"]`, "v1 100%")+" && "+anyHas(`#history tr[data-phase="RolledBack"]`, "v1 → v3", "abort requested"))
	b.shot("06-aborted")
	st = s.waitStatus("v3 rolled back by the abort", 10*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v3" && st.Rollout.Phase == "RolledBack" && onlyStable(st.Weights, "v1")
	})
	if !strings.Contains(st.Rollout.Reason, "abort requested") {
		t.Errorf("the API's reason for v3's end: %q, want the abort", st.Rollout.Reason)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser console: %s", p)
	}
}
