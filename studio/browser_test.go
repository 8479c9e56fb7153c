package studio

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
// twice, stops and resumes the run, and finds it in the gallery. With
// NST_STUDIO_SCREENSHOTS=DIR it saves the composer, the live run and the
// gallery as DIR/composer.png, live.png and gallery.png.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	e := newEnv(t, Options{Layers: []string{"relu1_1", "relu2_1", "relu3_1"}})
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

	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			if err := os.MkdirAll(shots, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
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

	var errText, state string
	var progress int
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
