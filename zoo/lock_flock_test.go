//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package zoo

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment of the helper process of TestFetchTwoProcesses.
const (
	helperURL = "ZOO_TEST_HELPER_URL"
	helperDir = "ZOO_TEST_HELPER_DIR"
)

// TestFetchHelperProcess is the second process of TestFetchTwoProcesses;
// it does nothing when run as a test.
func TestFetchHelperProcess(t *testing.T) {
	u, dir := os.Getenv(helperURL), os.Getenv(helperDir)
	if u == "" {
		t.Skip("helper process only")
	}
	f := &Fetcher{Registry: Registry{testEntry(u)}, Dir: dir, IdleTimeout: 20 * time.Second, Progress: os.Stdout}
	path, err := f.Fetch(context.Background(), "tiny")
	if err != nil {
		fmt.Println("helper error:", err)
		os.Exit(1)
	}
	fmt.Println("helper got", path)
}

// TestFetchTwoProcesses checks the lock across processes: while this one
// downloads, another nst process (the test binary again) waits for the
// lock, then uses the file without a request of its own.
func TestFetchTwoProcesses(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := newFakeServer(t, map[string][]step{"/tiny.onnx": {func(s *fakeServer, w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-s.done: // the test failed and is ending
			return
		}
		serve()(s, w, r)
	}}})
	dir := t.TempDir()
	f := &Fetcher{Registry: Registry{testEntry(srv.URL + "/tiny.onnx")}, Dir: dir, IdleTimeout: 20 * time.Second}
	mine := make(chan error, 1)
	go func() {
		_, err := f.Fetch(context.Background(), "tiny")
		mine <- err
	}()
	<-arrived // this process holds the lock

	cmd := exec.Command(os.Args[0], "-test.run=^TestFetchHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperURL+"="+srv.URL+"/tiny.onnx", helperDir+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // a no-op once it has exited
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	waiting := false
	timeout := time.After(30 * time.Second)
	for !waiting {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the helper ended without waiting:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			waiting = strings.Contains(l, "waiting for another nst process to finish downloading tiny.onnx")
		case <-timeout:
			t.Fatalf("the helper did not wait for the lock:\n%s", strings.Join(seen, "\n"))
		}
	}
	close(release)
	if err := <-mine; err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		seen = append(seen, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, strings.Join(seen, "\n"))
	}
	out2 := strings.Join(seen, "\n")
	if !strings.Contains(out2, "helper got "+dir+"/tiny.onnx") || strings.Contains(out2, "zoo: downloading") {
		t.Errorf("helper output, want it to use the file without downloading:\n%s", out2)
	}
	if got := srv.seen(); len(got) != 1 {
		t.Errorf("requests %v, want one download", got)
	}
	checkInstalled(t, dir+"/tiny.onnx")
}
