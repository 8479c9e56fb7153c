package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestServePrintsTokenURL starts nst serve on a free port and checks the
// URL it prints (127.0.0.1, a 48-hex-digit token), that the API refuses a
// request without the token and answers one with it, and that SIGINT ends
// the server with exit status 0.
func TestServePrintsTokenURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runs := filepath.Join(t.TempDir(), "runs")
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--addr", "127.0.0.1:0", "--runs", runs)
	cmd.Env = append(os.Environ(), actAsNST+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("nst serve printed nothing: %v", sc.Err())
	}
	m := regexp.MustCompile(`^nst studio: (http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]{48})$`).FindStringSubmatch(sc.Text())
	if m == nil {
		t.Fatalf("first line %q; want nst studio: http://127.0.0.1:PORT/?token=TOKEN", sc.Text())
	}
	for _, c := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"x" + m[2][1:], http.StatusUnauthorized}, {m[2], http.StatusOK}} {
		req, _ := http.NewRequest("GET", m[1]+"/api/runs", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET /api/runs with token %q: %d, want %d", c.token, resp.StatusCode, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(runs, ".uploads")); err != nil {
		t.Errorf("uploads folder: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v, want exit status 0", err)
	}
}
