package hugemem

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestReexec runs this test binary as a child that calls
// Reexec and prints the tunables it ends up with.
func TestReexec(t *testing.T) {
	if os.Getenv("NST_TEST_REEXEC_CHILD") != "" {
		if err := Reexec(); err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
		}
		os.Stdout.WriteString("tunables=" + os.Getenv("GLIBC_TUNABLES") + "\n")
		os.Exit(0)
	}
	thp := offered()
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"restarts with huge pages", nil, map[bool]string{true: hugePagesTunable, false: ""}[thp]},
		{"keeps the user's tunables", []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2"}, "glibc.malloc.arena_max=2"},
		{"opted out", []string{"NST_NO_REEXEC=1"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestReexec$")
			cmd.Env = append(filteredEnv(), append(c.env, "NST_TEST_REEXEC_CHILD=1")...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != "tunables="+c.want {
				t.Errorf("child printed %q, want tunables=%s", got, c.want)
			}
		})
	}
}

// filteredEnv is this process's environment without the variables the
// test sets for its children.
func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GLIBC_TUNABLES=") && !strings.HasPrefix(kv, "NST_NO_REEXEC=") && !strings.HasPrefix(kv, "NST_TEST_REEXEC_CHILD=") {
			env = append(env, kv)
		}
	}
	return env
}
