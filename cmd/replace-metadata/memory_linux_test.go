package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeRows writes an NDJSON input of n rows, each for a user of its own,
// with an invalid row every 10,000.
func writeRows(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		if i%10_000 == 9_999 {
			fmt.Fprintf(w, `{"user_id":"user_%d","public_metdata":{}}`+"\n", i)
			continue
		}
		fmt.Fprintf(w, `{"user_id":"user_%d","public_metadata":{"plan":"pro","n":%d}}`+"\n", i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// peakRSS runs cmd and returns its peak resident memory, VmHWM in
// /proc/<pid>/status, read every millisecond while it runs: a high-water
// mark, so polling misses at most the last millisecond's growth. (Rusage's
// Maxrss would be simpler, but Linux starts Go's children with vfork, and
// carries the parent's high-water mark over the exec into the child's:
// under -race the test process alone is over 100 MiB.)
func peakRSS(t *testing.T, cmd *exec.Cmd) (int64, error) {
	t.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skipf("no /proc here to read a process's peak memory from: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var peak int64
	for {
		if b, err := os.ReadFile(status); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					peak = max(peak, kb<<10)
				}
			}
		}
		select {
		case err := <-exited:
			if peak == 0 {
				t.Skipf("could not read %s while the process ran", status)
			}
			return peak, err
		case <-tick.C:
		}
	}
}

// TestValidateMemoryFlat: validate streams its input, so 1,000,000 rows
// fit in a bounded memory; only the index of users seen (8-16 bytes a
// user) grows with the input. It measures the peak resident memory of the
// process, not time.
func TestValidateMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command without the race detector and reads 1,000,000 rows")
	}
	// Not parallel: a build and a million rows load the machine, and tests
	// that bound what happens within a flush interval run alongside
	// parallel tests only.
	dir := t.TempDir()
	// The race detector's shadow memory would swamp what is measured.
	plain := filepath.Join(dir, "replace-metadata")
	if out, err := exec.Command("go", "build", "-o", plain, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	peak := func(rows int) int64 {
		t.Helper()
		file := filepath.Join(dir, fmt.Sprintf("rows-%d.ndjson", rows))
		writeRows(t, file, rows)
		defer os.Remove(file)
		cmd := exec.Command(plain, "validate", "--input", file)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		rss, err := peakRSS(t, cmd)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitRows {
			t.Fatalf("validate of %d rows: %v, want exit %d\nstderr:\n%s", rows, err, exitRows, stderr.String())
		}
		invalid := rows / 10_000
		sum := fmt.Sprintf("%d rows: %d valid, %d invalid, 0 repeat", rows, rows-invalid, invalid)
		if !strings.Contains(stdout.String(), sum) || strings.Count(stdout.String(), "(unknown_field)") != invalid {
			t.Fatalf("validate of %d rows printed:\n%.2000s\nwant %d invalid rows and %q", rows, stdout.String(), invalid, sum)
		}
		bound := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
		t.Logf("%d rows: peak resident memory %d MiB (rusage, an upper bound that includes the parent's: %d MiB)", rows, rss>>20, bound>>20)
		return rss
	}
	small := peak(10_000)
	big := peak(1_000_000)
	if big > 100<<20 {
		t.Errorf("validate of 1,000,000 rows peaked at %d MiB, want under 100 MiB (10,000 rows: %d MiB)", big>>20, small>>20)
	}
}
