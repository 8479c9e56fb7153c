// Command shots takes the README's screenshots of nst studio against a
// real `nst serve` on the shipped example images: two runs of Tübingen
// in the style of The Starry Night (one with color: luminance) made
// through the HTTP API, then, in headless Chromium, the composer set up
// for a third (The Great Wave), that run live, and the gallery with the
// first two side by side and the difference of their configs. It writes
// composer.png, live.png and gallery.png into -out.
//
// usage: go run ./docs/studio/shots -nst PATH [-out docs/studio] [-size 256] [-iterations 80]
//
// Run it from the repository root (the server offers examples/images);
// docs/studio/make.sh builds nst and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

func main() {
	nst := flag.String("nst", "", "the nst binary to serve with (required)")
	out := flag.String("out", "docs/studio", "folder for the screenshots")
	size := flag.Int("size", 256, "the runs' size")
	iterations := flag.Int("iterations", 80, "the runs' iterations")
	flag.Parse()
	if *nst == "" {
		log.Fatal("usage: shots -nst PATH [-out DIR] [-size N] [-iterations N]")
	}
	if err := shoot(*nst, *out, *size, *iterations); err != nil {
		log.Fatal(err)
	}
}

// shoot serves a fresh runs folder with nst, makes the gallery's runs and
// takes the screenshots.
func shoot(nst, out string, size, iterations int) error {
	runs, err := os.MkdirTemp("", "nst-shots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(runs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	srv, base, err := serve(ctx, nst, runs)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	c := client{base: base}

	for _, r := range []struct{ name, extra string }{{"starry", ""}, {"starry-luminance", "color: luminance\n"}} {
		yaml := fmt.Sprintf("content: examples/images/tubingen.jpg\nstyle: [{path: examples/images/starry_night.jpg, weight: 1}]\n"+
			"size: %d\noptimizer: {iterations: %d}\noutput: {dir: %s}\n%s", size, iterations, r.name, r.extra)
		if err := c.run(ctx, yaml); err != nil {
			return fmt.Errorf("run %s: %w", r.name, err)
		}
		log.Printf("run %s done", r.name)
	}
	return browse(ctx, base, out, size, iterations)
}

// serve starts nst serve on a free port with runs as its runs folder and
// returns the process and the URL it printed, token included.
func serve(ctx context.Context, nst, runs string) (*exec.Cmd, *url.URL, error) {
	cmd := exec.CommandContext(ctx, nst, "serve", "--addr", "127.0.0.1:0", "--runs", runs)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s serve: %w", nst, err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, nil, fmt.Errorf("nst serve printed no URL: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	m := regexp.MustCompile(`http://\S+`).FindString(line)
	u, err := url.Parse(m)
	if m == "" || err != nil {
		_ = cmd.Process.Kill()
		return nil, nil, fmt.Errorf("nst serve printed %q, no URL", line)
	}
	return cmd, u, nil
}

// client calls the studio's HTTP API with the URL's token.
type client struct{ base *url.URL }

func (c client) do(ctx context.Context, method, path string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base.Scheme+"://"+c.base.Host+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.base.Query().Get("token"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, v)
}

// run posts a config and waits for its run to finish.
func (c client) run(ctx context.Context, yaml string) error {
	var created struct{ ID string }
	if err := c.do(ctx, "POST", "/api/runs", []byte(yaml), &created); err != nil {
		return err
	}
	for {
		var st struct{ State, Error string }
		if err := c.do(ctx, "GET", "/api/runs/"+created.ID, nil, &st); err != nil {
			return err
		}
		switch st.State {
		case "done":
			return nil
		case "failed", "stopped":
			return fmt.Errorf("run %s %s: %s", created.ID, st.State, st.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// browse drives the page: the composer set up for The Great Wave, its run
// live a third of the way through, and the gallery comparing the first two
// runs.
func browse(ctx context.Context, base *url.URL, out string, size, iterations int) error {
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		return errors.New("no chromium on PATH; run scripts/install-chromium.sh")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			log.Printf("%s.png", name)
			return os.WriteFile(filepath.Join(out, name+".png"), buf, 0o644)
		})
	}
	until := func(cond string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(5*time.Minute))
	}
	// set gives a control a value as a user would, with its event.
	set := func(id, value, event string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %q;
				el.dispatchEvent(new Event(%q, {bubbles: true})); return true; })()`, id, value, event))(ctx, tg)
			return err
		})
	}
	// pick chooses the option of a select by its label, as a user would.
	pick := func(id, label string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const el = document.getElementById(%q);
				const o = [...el.options].find((o) => o.textContent === %q); if (!o) { return false; }
				el.value = o.value; el.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`, id, label))(ctx, tg)
			if err == nil && !ok {
				err = fmt.Errorf("%s offers no %q", id, label)
			}
			return err
		})
	}
	return chromedp.Do(bctx,
		chromedp.Navigate(base.String()),
		until(`document.getElementById('yaml').value.includes('content:')`),
		set("name", "great-wave", "input"),
		set("size", fmt.Sprint(size), "input"),
		set("iterations", fmt.Sprint(iterations), "input"),
		pick("content-select", "tubingen.jpg"),
		pick("style-select", "hokusai_great_wave.jpg"),
		until(`!document.getElementById('check-ok').hidden`),
		until(`document.getElementById('content-preview').complete && document.getElementById('style-preview').complete`),
		shot("composer"),
		chromedp.Click(chromedp.CSS("#start")),
		until(fmt.Sprintf(`Number(document.getElementById('progress').value) >= %d && document.getElementById('live-image').complete`, iterations/3)),
		chromedp.Sleep(time.Second), // the curve and the image of that step
		shot("live"),
		until(`document.getElementById('live-state').dataset.state === 'done'`),
		chromedp.Click(chromedp.CSS("#tab-compare")),
		until(`[...document.querySelectorAll('.gallery-item img')].length === 3 &&
			[...document.querySelectorAll('.gallery-item img')].every((i) => i.complete)`),
		set("diff-a", "starry", "change"),
		set("diff-b", "starry-luminance", "change"),
		until(`document.querySelectorAll('#diff .add').length > 0 && document.getElementById('diff-b-img').complete`),
		shot("gallery"),
	)
}
