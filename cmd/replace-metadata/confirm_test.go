package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
)

const (
	liveKey = "sk_live_confirmtest0123456789"
	prompt  = "Type yes to go on"
)

// screen is what a terminal showed, written by one goroutine and read by
// another.
type screen struct {
	mu  sync.Mutex
	b   strings.Builder
	hit chan struct{} // closed when the prompt shows
}

func (s *screen) add(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if strings.Contains(s.b.String(), prompt) {
		select {
		case <-s.hit:
		default:
			close(s.hit)
		}
	}
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOnTerminal runs the built command with stdin, stdout and stderr on a
// pseudo-terminal, as a person at a shell would. If the confirmation
// prompt shows, it types answer. It returns the exit code, whether the
// prompt showed, and the whole screen.
func runOnTerminal(t *testing.T, dir string, vars map[string]string, answer string, args ...string) (int, bool, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal in this environment (%v): the confirmation on a terminal is not tested", err)
	}
	defer ptmx.Close()
	// A safety net only: a prompt nobody answers would wait forever.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TERM=dumb"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		tty.Close()
		t.Fatal(err)
	}
	tty.Close() // the child holds the terminal now; reads end when it exits

	scr := &screen{hit: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			scr.add(buf[:n])
			if err != nil {
				return // EIO once the child has exited
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	prompted := false
	var waitErr error
	select {
	case <-scr.hit:
		prompted = true
		io.WriteString(ptmx, answer+"\n")
		waitErr = <-exited
	case waitErr = <-exited:
	}
	<-read
	code := 0
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		code = ee.ExitCode()
	} else if waitErr != nil {
		t.Fatal(waitErr)
	}
	if ctx.Err() != nil {
		t.Fatalf("the command was still running after %v\nscreen:\n%s", time.Minute, scr)
	}
	return code, prompted, scr.String()
}

// TestLiveKeyConfirmation: with a live key, run asks on a terminal and
// sends nothing unless the answer is yes; it never asks with --yes, with a
// test key, or without a terminal (a CronJob must run unattended).
func TestLiveKeyConfirmation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		terminal bool
		key      string
		answer   string
		args     []string
		prompted bool
		code     int
	}{
		{"no on a terminal", true, liveKey, "no", nil, true, exitUsage},
		{"y is not yes", true, liveKey, "y", nil, true, exitUsage},
		{"empty answer", true, liveKey, "", nil, true, exitUsage},
		{"yes on a terminal", true, liveKey, "yes", nil, true, exitOK},
		{"--yes on a terminal", true, liveKey, "", []string{"--yes"}, false, exitOK},
		{"test key on a terminal", true, testKey, "", nil, false, exitOK},
		{"live key without a terminal", false, liveKey, "", nil, false, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, emulator.Config{Keys: []string{tt.key}})
			srv.AddUser("user_a", nil, nil, nil)
			srv.AddUser("user_b", nil, nil, nil)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "in.ndjson"), ndRow("user_a", `{"v":1}`)+"\n"+ndRow("user_b", `{"v":2}`)+"\n")
			vars := map[string]string{"CLERK_SECRET_KEY": tt.key, "CLERK_API_URL": url}
			args := append([]string{"run", "--input", "in.ndjson", "--run-id", "confirm", "--rate", "unlimited"}, tt.args...)

			var code int
			var prompted bool
			var out string
			if tt.terminal {
				code, prompted, out = runOnTerminal(t, dir, vars, tt.answer, args...)
			} else {
				got := runBinary(t, dir, vars, args...)
				code, out = got.code, got.stdout+got.stderr
				prompted = strings.Contains(out, prompt)
			}
			if code != tt.code || prompted != tt.prompted {
				t.Fatalf("exit %d, prompted %v; want exit %d, prompted %v\noutput:\n%s", code, prompted, tt.code, tt.prompted, out)
			}
			st := srv.Stats()
			switch {
			case tt.code == exitUsage:
				if st.Requests != 0 {
					t.Errorf("the emulator received %d requests after the run was not confirmed", st.Requests)
				}
				if !strings.Contains(out, "not confirmed") {
					t.Errorf("no word that the run was not confirmed:\n%s", out)
				}
				if _, err := os.Stat(filepath.Join(dir, "runs")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a run that was not confirmed left a report folder: %v", err)
				}
			case st.WritesApplied != 2:
				t.Errorf("the emulator applied %d writes, want 2\noutput:\n%s", st.WritesApplied, out)
			}
			if prompted && (!strings.Contains(out, "PRODUCTION") || !strings.Contains(out, url)) {
				t.Errorf("the prompt does not say it writes to production at %s:\n%s", url, out)
			}
			if tt.code == exitOK {
				kind := "development instance (test key)"
				if tt.key == liveKey {
					kind = "PRODUCTION instance (live key)"
				}
				if !strings.Contains(out, kind) || !strings.Contains(out, url) {
					t.Errorf("the start log does not say %q and %s:\n%s", kind, url, out)
				}
			}
		})
	}
}
