package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/ui"
)

// The browser tests drive the dashboard in headless Chromium. They look for the browser in
// $NANGO_TEST_CHROMIUM, then for Debian's chromium on the PATH, and skip when there is none.
// Screenshots of every page go to $NANGO_UI_SCREENSHOTS (a directory) or to a temporary one;
// NANGO_UI_README_SCREENSHOT=1 also writes the overview to docs/dashboard.png for the README.

func chromiumPath() string {
	if p := os.Getenv("NANGO_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// tab is a browser tab for one test.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots string
	base  string
}

func newTab(t *testing.T, base string) *tab {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("no Chromium found: install Debian's chromium (apt-get install chromium) or set NANGO_TEST_CHROMIUM; the browser tests skip")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first call starts the browser; it lives as long as ctx.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	shots := os.Getenv("NANGO_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	return &tab{t: t, ctx: ctx, shots: shots, base: base}
}

// do runs steps, each run bounded by a minute.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

func run[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(b.t, err)
	return v
}

func (b *tab) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

func (b *tab) text(sel string) string {
	b.t.Helper()
	return run(b, chromedp.Text(chromedp.CSS(sel)))
}

// wait polls a JavaScript condition until it holds (at most 30 seconds). The page may reload
// meanwhile: the poll starts again on the new page.
func (b *tab) wait(js string) {
	b.t.Helper()
	var err error
	for range 15 {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(2*time.Second)))
		cancel()
		if err == nil {
			return
		}
	}
	b.shot("failed")
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	b.t.Fatalf("waiting for %s: %v; the page says:\n%s", js, err, text)
}

// click clicks an element and waits for the page it loads to show sel.
func (b *tab) click(el, sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(el)), chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *tab) shot(name string) string {
	b.t.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	p := filepath.Join(b.shots, name+".png")
	require.NoError(b.t, os.WriteFile(p, png, 0o644))
	return p
}

// a11yCheck lists what fails basic accessibility checks on the page: form fields without a
// label, buttons without text, other than one h1, a missing lang, and visible text with a
// contrast below 4.5:1 against its background (WCAG AA).
const a11yCheck = `(() => {
  const bad = [];
  const lum = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(',').map(parseFloat);
    if (p.length === 4 && p[3] === 0) return null;
    const [r, g, b] = p.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const bg = (el) => { for (; el; el = el.parentElement) { const l = lum(getComputedStyle(el).backgroundColor); if (l !== null) return l; } return 1; };
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea'))
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) bad.push('no label: ' + (el.name || el.id));
  for (const el of document.querySelectorAll('button, a'))
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) bad.push('no text: ' + el.outerHTML.slice(0, 60));
  if (document.querySelectorAll('h1').length !== 1) bad.push('h1 count ' + document.querySelectorAll('h1').length);
  if (!document.documentElement.lang) bad.push('no lang');
  for (const el of document.querySelectorAll('body *')) {
    if (!el.getClientRects().length || el.closest('.skip, .sr-only, [hidden]')) continue;
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const f = lum(getComputedStyle(el).color), k = bg(el);
    const ratio = (Math.max(f, k) + 0.05) / (Math.min(f, k) + 0.05);
    if (ratio < 4.5) bad.push('contrast ' + ratio.toFixed(2) + ': ' + el.tagName + '.' + el.className + ' ' + el.textContent.trim().slice(0, 30));
  }
  return bad;
})()`

func (b *tab) checkA11y(page string) {
	b.t.Helper()
	bad := run(b, chromedp.Evaluate[[]string](a11yCheck))
	require.Empty(b.t, bad, "accessibility of %s", page)
}

// browserFixture is the engine the browser tests look at: two integrations, three
// connections, runs that succeeded, failed with a panic and were refused deletions, and a
// webhook receiver that refuses until it is told to accept.
type browserFixture struct {
	*fixture
	accept   *atomic.Bool
	received chan string // ids of the deliveries the receiver accepted
}

func newBrowserFixture(t *testing.T) *browserFixture {
	t.Helper()
	bf := &browserFixture{accept: new(atomic.Bool), received: make(chan string, 100)}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bf.accept.Load() {
			http.Error(w, "no hook here", http.StatusGone)
			return
		}
		bf.received <- r.Header.Get("X-Nango-Delivery-Id")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(receiver.Close)
	bf.fixture = newFixture(t, fixtureOptions{
		cfg:      &ui.Config{SecretKeys: []string{secret}, PageSize: 5},
		webhooks: &nango.WebhookConfig{URLs: []string{receiver.URL + "/nango-webhooks"}, SigningKeys: [][]byte{[]byte("whsec")}},
	})
	ctx := t.Context()
	f := bf.fixture
	f.src.contacts = contacts(12, "Ada")
	_, err := f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	f.src.contacts[2]["name"], f.src.contacts[7]["name"] = "Grace Hopper", "Edsger Dijkstra"
	_, err = f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	f.src.panicMsg = "runtime error: index out of range [3] with length 3"
	_, err = f.eng.RunSync(ctx, "crm", "contacts", "globex", nil)
	require.Error(t, err)
	f.src.panicMsg = ""
	_, err = f.eng.DeliverWebhooks(ctx) // refused: dead
	require.NoError(t, err)
	// Scheduled, with the next runs far enough away not to start during the test.
	require.NoError(t, f.eng.Start(ctx, nango.SyncSelector{Integration: "crm"}))
	for _, c := range []string{"acme", "globex"} {
		require.NoError(t, f.eng.SetFrequency(ctx, "crm", "contacts", c, "every day"))
		require.NoError(t, f.eng.SetFrequency(ctx, "crm", "deals", c, ""))
	}
	f.runEngine(t)
	return bf
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	bf := newBrowserFixture(t)
	f := bf.fixture
	b := newTab(t, f.url)
	var consoleMu sync.Mutex
	var console []string
	go func() {
		for m, err := range chromedp.Console(b.ctx) {
			if err != nil {
				return
			}
			// The error pages answer 4xx on purpose; the browser logs that.
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && !strings.Contains(m.Text, "Failed to load resource") {
				consoleMu.Lock()
				console = append(console, m.String())
				consoleMu.Unlock()
			}
		}
	}()

	// Signing in: the page asks for a key and comes back to where the browser was going.
	b.open("/r/crm/acme/Contact")
	b.do(chromedp.WaitVisible(chromedp.CSS("#key")))
	b.checkA11y("sign-in")
	b.shot("signin")
	b.do(chromedp.SendKeys(chromedp.CSS("#key"), secret), chromedp.Submit(chromedp.CSS("#key")), chromedp.WaitVisible(chromedp.CSS("#records")))
	require.True(t, strings.HasSuffix(run(b, chromedp.Location()), "/ui/r/crm/acme/Contact"))

	t.Run("overview lists what the engine has", func(t *testing.T) {
		b.t = t
		b.open("/")
		b.do(chromedp.WaitVisible(chromedp.CSS("#syncs")))
		rows := run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#syncs tbody tr')].map(tr =>
			[...tr.querySelectorAll('td')].slice(0, 4).map(td => td.innerText.trim()).join(' '))`))
		require.Equal(t, []string{
			"acme crm contacts success", "acme crm deals stopped", "globex crm contacts error",
			"globex crm deals stopped", "initech helpdesk tickets paused",
		}, rows)
		require.Equal(t, "3", b.text("#total-connections"))
		require.Contains(t, b.text("#syncs"), "every day (override)")
		require.Contains(t, b.text("#syncs"), "12 Contact")
		b.checkA11y("overview")
		p := b.shot("overview")
		if os.Getenv("NANGO_UI_README_SCREENSHOT") == "1" {
			png, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "docs", "dashboard.png"), png, 0o644))
		}

		// Filters.
		b.do(chromedp.SetValue(chromedp.CSS("#f-state"), "error"), chromedp.Submit(chromedp.CSS("#f-state")))
		b.wait(`location.search.includes('state=error') && !!document.querySelector('#syncs')`)
		require.Equal(t, 1, run(b, chromedp.Evaluate[int](`document.querySelectorAll('#syncs tbody tr').length`)))
		require.Contains(t, b.text("#syncs"), "globex")

		// A phone: the rows become cards, and nothing scrolls sideways.
		b.open("/")
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.WaitVisible(chromedp.CSS("#syncs")))
		require.Equal(t, `"Connection"`, run(b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#syncs td'), '::before').content`)),
			"each cell is labelled")
		require.Equal(t, "absolute", run(b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#syncs thead')).position`)),
			"the header row is visually hidden")
		require.LessOrEqual(t, run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)), 390)
		b.shot("overview-phone")
		b.open("/s/crm/contacts/acme")
		b.do(chromedp.WaitVisible(chromedp.CSS("#runs")))
		require.LessOrEqual(t, run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)), 390)
		b.shot("sync-phone")
		b.do(chromedp.EmulateViewport(1280, 860))
	})

	t.Run("a trigger from the page shows progress and result", func(t *testing.T) {
		b.t = t
		gate := make(chan struct{})
		f.src.mu.Lock()
		f.src.contacts, f.src.gate = contacts(10, "Lin"), gate
		f.src.mu.Unlock()
		b.open("/s/crm/contacts/acme")
		b.do(chromedp.WaitVisible(chromedp.CSS("#runs")))
		b.checkA11y("sync")
		runsBefore := run(b, chromedp.Evaluate[int](`document.querySelectorAll('#runs tbody tr').length`))

		// With the keyboard: the skip link comes first, then the button and the confirmation.
		b.do(chromedp.KeyEvent("\t"))
		require.Equal(t, "skip", run(b, chromedp.Evaluate[string](`document.activeElement.className`)))
		b.do(chromedp.Focus(chromedp.CSS("#action-trigger")), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS("#confirm")))
		require.Equal(t, "confirm", run(b, chromedp.Evaluate[string](`document.activeElement.id`)), "the confirmation has the focus")
		b.checkA11y("confirm")
		b.shot("confirm")
		b.do(chromedp.KeyEvent("\r"))
		b.wait(`(document.querySelector('#flash') || {}).textContent === 'Triggered: the run starts as soon as a slot is free.'`)

		// The first half is committed (five contacts it had, with new names), the run waits: the
		// page shows it without a reload.
		b.wait(`(() => { const l = document.querySelector('#live'); return l && !l.hidden &&
			/Contact\s*0\s*5\s*0\s*0/.test(l.querySelector('tbody').innerText); })()`)
		require.Contains(t, b.text("#live"), "Running: run run_")
		require.Contains(t, b.text("#sync-state"), "running")
		b.shot("progress")

		close(gate)
		b.wait(fmt.Sprintf(`document.querySelectorAll('#runs tbody tr').length === %d &&
			document.querySelector('#runs tbody tr .state').textContent === 'success'`, min(runsBefore+1, 5)))
		require.Contains(t, b.text("#runs tbody tr"), "~10")
		require.False(t, run(b, chromedp.Evaluate[bool](`!!document.querySelector('#flash')`)), "the reload drops the old answer")
		require.Contains(t, b.text("#runs tbody tr"), "−2", "TrackDeletes: the two contacts the run did not see")
		b.shot("sync")

		// The run's page, and the page of the run that panicked.
		b.click("#runs tbody tr a", "#run-results")
		require.Contains(t, b.text("#run-results"), "10")
		require.Contains(t, b.text("#run-log"), "fetched contacts count=10")
		b.checkA11y("run")
		b.shot("run")
		b.open("/s/crm/contacts/globex")
		b.click("#runs tbody tr a", "#panic-stack")
		require.Contains(t, b.text("#run-error"), "index out of range [3] with length 3")
		require.Contains(t, b.text("#panic-stack"), "contactsSync")
		b.shot("run-panic")
	})

	t.Run("pause and start change the state", func(t *testing.T) {
		b.t = t
		b.open("/s/crm/deals/acme")
		b.do(chromedp.WaitVisible(chromedp.CSS("#action-pause")))
		require.Equal(t, "stopped", b.text("#sync-state"))
		b.click("#action-pause", "#confirm")
		b.click("#confirm", "#flash")
		require.Contains(t, b.text("#flash"), "Paused")
		require.Equal(t, "paused", b.text("#sync-state"))
		b.click("#action-start", "#confirm")
		// Start runs the sync now: the page answers "Started", and reloads when that run ends.
		b.do(chromedp.Click(chromedp.CSS("#confirm")))
		// Waiting for success, not running, also waits for that reload.
		b.wait(`(() => { const s = document.querySelector('#sync-state');
			return !!s && s.textContent === 'success' && !!document.querySelector('#action-pause'); })()`)
	})

	t.Run("the records page pages with cursors", func(t *testing.T) {
		b.t = t
		b.open("/r/crm/acme/Contact")
		var ids []string
		for range 5 {
			b.do(chromedp.WaitVisible(chromedp.CSS("#records")))
			ids = append(ids, run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#records code')].map(c => c.textContent)`))...)
			if !run(b, chromedp.Evaluate[bool](`!!document.querySelector('#next-page')`)) {
				break
			}
			b.do(chromedp.Navigate(run(b, chromedp.Evaluate[string](`document.querySelector('#next-page').href`))))
		}
		// Twelve contacts: the ten of the last run and the two it deleted, each once.
		require.Len(t, ids, 12)
		slices.Sort(ids)
		require.Equal(t, slices.Compact(slices.Clone(ids)), ids)
		require.Contains(t, run(b, chromedp.Location()), "cursor=")

		b.open("/r/crm/acme/Contact")
		b.do(chromedp.Click(chromedp.CSS(`input[value="deleted"]`)), chromedp.Click(chromedp.CSS(`form.filters button`)))
		b.wait(`location.search.includes('filter=deleted') && !!document.querySelector('#records')`)
		deleted := run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#records tbody tr')].map(tr =>
			tr.querySelector('code').textContent + ' ' + tr.querySelector('.state').textContent)`))
		require.Equal(t, []string{"011 deleted", "012 deleted"}, deleted)
		b.checkA11y("records")
		b.do(chromedp.Click(chromedp.CSS("#records details summary")))
		b.shot("records")
		b.click("#records tbody tr a", "#record-json")
		require.Contains(t, b.text("#record-json"), `"_nango_metadata"`)
		require.Contains(t, b.text("#record-json"), `"last_action": "DELETED"`)
		require.Contains(t, b.text("#record-json"), `"name": "Ada 11"`)
		b.checkA11y("record")
		b.shot("record")
	})

	t.Run("bad input shows a clear message", func(t *testing.T) {
		b.t = t
		b.open("/r/crm/acme/Contact")
		b.do(chromedp.WaitVisible(chromedp.CSS("#next-page")))
		next := run(b, chromedp.Evaluate[string](`document.querySelector('#next-page').href`))
		b.open(strings.TrimPrefix(next[:len(next)-4]+"AAAA", f.url))
		msg := b.text("#error-message")
		require.Contains(t, msg, "The cursor in this address is not valid for this list")
		b.checkA11y("error")
		b.shot("error-cursor")
		b.open("/s/crm/contacts/nobody")
		require.Equal(t, `There is no connection "nobody" in integration "crm".`, b.text("#error-message"))
		require.NotContains(t, run(b, chromedp.Evaluate[string](`document.body.innerText`)), "goroutine")
		b.shot("error-connection")
	})

	t.Run("a dead webhook is redelivered from the page", func(t *testing.T) {
		b.t = t
		b.open("/webhooks?state=dead")
		b.do(chromedp.WaitVisible(chromedp.CSS("#deliveries")))
		ids := run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#deliveries tbody tr')].map(tr => tr.id.replace('delivery-', ''))`))
		require.NotEmpty(t, ids)
		require.Contains(t, b.text("#deliveries"), "HTTP 410")
		b.checkA11y("webhooks")
		b.shot("webhooks")
		bf.accept.Store(true)
		b.click("#redeliver-"+ids[0], "#confirm")
		b.shot("webhook-confirm")
		b.click("#confirm", "#flash")
		require.Contains(t, b.text("#flash"), "Queued again")
		select {
		case got := <-bf.received:
			require.Equal(t, ids[0], got)
		case <-time.After(time.Minute): // a bound, not a wait: the engine delivers at once
			t.Fatal("the redelivered webhook did not arrive")
		}
		// The engine records the delivery once the receiver's answer is in: reload until the
		// page lists it (each reload is a round trip; the loop is bounded).
		listed := false
		for i := 0; i < 500 && !listed; i++ {
			b.open("/webhooks?state=delivered")
			listed = run(b, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.getElementById(%q)`, "delivery-"+ids[0])))
		}
		require.True(t, listed, "the redelivered webhook is listed as delivered")
		b.shot("webhooks-delivered")
	})

	b.t = t
	consoleMu.Lock()
	defer consoleMu.Unlock()
	require.Empty(t, console, "errors in the browser console (a CSP violation shows there)")
	t.Logf("screenshots in %s", b.shots)
}
