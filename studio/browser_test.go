package studio

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nst-project/nst/builtinimg"
)

// chromium finds a Chromium or Chrome to drive. Without one the browser
// test fails under CI=true (scripts/install-chromium.sh installs it) and
// is skipped elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH; run scripts/install-chromium.sh")
	}
	t.Skip("no chromium on PATH (scripts/install-chromium.sh installs it)")
	return ""
}

// TestBrowser drives the real page in headless Chromium against an
// in-process server: it composes a 10-iteration run with the controls,
// sees the checker's inline error, watches the live image change at least
// twice, stops and resumes the run, finds it in the gallery, and asks
// Compare for the contact sheet of relu2_1's units with the run's config,
// which appears in the page and in the list of sheets. With
// NST_STUDIO_SCREENSHOTS=DIR it saves the composer, the live run, the
// gallery (whole pages) and the units' part of Compare as DIR/composer.png,
// live.png, gallery.png and units.png.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	e := newEnv(t, Options{Layers: []string{"relu1_1", "relu2_1", "relu3_1"}})
	// Two pictures among the examples, for the units' patches.
	for _, name := range []string{"village", "swirls"} {
		img, err := builtinimg.Load(builtinimg.Prefix + name)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(e.examples, name+".png"), buf.Bytes())
	}
	// Slow each step down so that a person, or this test, can watch.
	e.srv.queue.stepDelay = 400 * time.Millisecond
	shots := os.Getenv("NST_STUDIO_SCREENSHOTS")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer tcancel()

	// shotOf saves the part of the page css selects; "" the whole page.
	shotOf := func(name, css string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			take := chromedp.FullScreenshot(100)
			if css != "" {
				take = chromedp.Screenshot(chromedp.CSS(css))
			}
			buf, err := take(ctx, tg)
			if err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			if err := os.MkdirAll(shots, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	shot := func(name string) chromedp.Action[chromedp.Void] { return shotOf(name, "") }
	// until waits for a JavaScript condition to hold.
	until := func(cond string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))
	}
	// set gives a control a value as a user would, with its input event.
	set := func(id, value string) chromedp.Action[chromedp.Void] {
		return into(chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %q;
			el.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`, id, value)), nil)
	}
	untick := func(layer string) chromedp.Action[chromedp.Void] {
		return into(chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const c = document.querySelector('#style-layers input[value=%q]');
			c.checked = false; c.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, layer)), nil)
	}

	var errText, state, sheetName string
	var progress, sheetWidth int
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/?token="+e.srv.Token()),
		until(`document.getElementById('yaml').value.includes('content:')`),
		// Compose: the checker's error shows inline before anything runs.
		set("size", "3"),
		until(`document.querySelectorAll('#check-errors li').length > 0`),
		into(chromedp.Text(chromedp.CSS(`#check-errors li`)), &errText),
		set("size", "32"),
		set("iterations", "10"),
		set("name", "browser"),
		set("style-weight", "1.6"),
		set("content-select", "builtin:village"),
		set("style-select", "builtin:swirls"),
		set("content-layer", "relu2_1"),
		untick("relu3_1"),
		until(`!document.getElementById('check-ok').hidden`),
		until(`document.getElementById('content-preview').complete && document.getElementById('style-preview').complete`),
		shot("composer"),
		chromedp.Click(chromedp.CSS("#start")),
		// Watch: the live image changes at least twice.
		until(`Number(document.getElementById('live-image').dataset.loads || 0) >= 2 &&
			Number(document.getElementById('progress').value) >= 2`),
		shot("live"),
		chromedp.Click(chromedp.CSS("#stop")),
		until(`document.getElementById('live-state').dataset.state === 'stopped'`),
		chromedp.Click(chromedp.CSS("#resume")),
		until(`document.getElementById('live-state').dataset.state === 'done'`),
		into(chromedp.Evaluate[int](`Number(document.getElementById('progress').value)`), &progress),
		into(chromedp.Evaluate[string](`document.getElementById('live-state').dataset.state`), &state),
		// Compare: the run is in the gallery.
		chromedp.Click(chromedp.CSS("#tab-compare")),
		until(`!!document.querySelector('.gallery-item[data-name="browser"] img') &&
			document.querySelector('.gallery-item[data-name="browser"] img').complete`),
		shot("gallery"),
		// Compare: the sheet of relu2_1's units, with the run's config.
		until(`[...document.querySelectorAll('#units-config option')].some((o) => o.value === 'browser')`),
		set("units-config", "browser"),
		until(`[...document.querySelectorAll('#units-layer option')].some((o) => o.value === 'relu2_1')`),
		set("units-layer", "relu2_1"),
		until(`document.getElementById('units-range').value === '0-7'`),
		set("units-size", "128"),
		chromedp.Click(chromedp.CSS("#units-make")),
		until(`document.getElementById('units-state').dataset.state === 'done' &&
			document.getElementById('units-sheet').complete && document.getElementById('units-sheet').naturalWidth > 0 &&
			!!document.querySelector('#units-sheets .card.sel img') && document.querySelector('#units-sheets .card.sel img').complete`),
		into(chromedp.Evaluate[string](`document.getElementById('units-sheet').dataset.name`), &sheetName),
		into(chromedp.Evaluate[int](`document.getElementById('units-sheet').naturalWidth`), &sheetWidth),
		shotOf("units", "#units-panel"),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if errText == "" {
		t.Errorf("no inline checker error for size 3")
	}
	if state != StateDone || progress != 10 {
		t.Errorf("after resume: state %q at iteration %d; want done at 10", state, progress)
	}
	var g []GalleryRun
	e.api(t, "GET", "/api/gallery", nil, 200, &g)
	if len(g) != 1 || g[0].Name != "browser" || g[0].Iterations != 10 || g[0].Status != "completed" {
		t.Fatalf("gallery %+v; want the browser run, completed, 10 iterations", g)
	}
	var sheets []UnitSheet
	e.api(t, "GET", "/api/units", nil, 200, &sheets)
	if len(sheets) != 1 || sheets[0].Name != sheetName || sheets[0].Layer != "relu2_1" || len(sheets[0].Units) != 8 || sheets[0].Images != 3 {
		t.Fatalf("sheets %+v; want the page's %q, relu2_1, 8 units, 3 example images", sheets, sheetName)
	}
	code, data := e.do(t, "GET", sheets[0].URL, e.srv.Token(), nil)
	if code != 200 {
		t.Fatalf("GET %s: %d", sheets[0].URL, code)
	}
	if w := decodePNG(t, data).Bounds().Dx(); w != sheetWidth {
		t.Errorf("the page shows a sheet %d pixels wide; the sheet is %d", sheetWidth, w)
	}
}

// into runs a and stores its value in dst (nil to drop it).
func into[T any](a chromedp.Action[T], dst *T) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		v, err := a(ctx, tg)
		if err == nil && dst != nil {
			*dst = v
		}
		return err
	})
}
