package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// mountTmpfs mounts a tmpfs of size (e.g. "32k") at a new folder, or skips
// the test when that cannot be done (not root, no mount namespace rights).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("a full disk needs a small tmpfs, and mounting one failed (%v): run the tests as root to include this one", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestDiskFull runs with the run folder on a filesystem that fills up
// mid-run: the run stops at the first result it cannot write (exit 3,
// naming the file and the error), sends nothing more than what was in
// flight, and once space is freed, a resume gives every row exactly one
// outcome.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	const n, workers = 3000, 8
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(n, n))
	small := mountTmpfs(t, "32k")
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	args := []string{"run", "--input", "in.ndjson", "--report-dir", small, "--run-id", "full",
		"--rate", "unlimited", "--workers", "8", "--log-format", "json"}

	got := runIn(t, dir, vars, args...)
	if got.code != exitAborted || !strings.Contains(got.stderr, "results.csv") || !strings.Contains(got.stderr, "no space left on device") ||
		!strings.Contains(got.stderr, "resume with --run-id full") {
		t.Fatalf("run on a full disk: exit %d, want 3 with the file, the error and how to resume\nstderr:\n%s", got.code, got.stderr)
	}
	runDir := filepath.Join(small, "full")
	recorded := len(results(t, runDir))
	if recorded == 0 || recorded >= n {
		t.Fatalf("%d results written before the disk filled, want some and not all", recorded)
	}
	if sum, err := reports.ReadSummary(runDir); err == nil && sum != nil && sum.Complete {
		t.Errorf("summary.json says complete after a full disk: %+v", sum)
	}
	applied := srv.Stats().WritesApplied
	if applied > int64(recorded+workers) {
		t.Errorf("%d writes sent, %d results written: the run went on after the disk filled", applied, recorded)
	}

	// Free space, and resume.
	if err := syscall.Mount("", small, "", syscall.MS_REMOUNT, "size=8m"); err != nil {
		t.Fatalf("remount: %v", err)
	}
	got = runIn(t, dir, vars, args...)
	if got.code != exitOK {
		t.Fatalf("resume: exit %d\nstderr:\n%s", got.code, got.stderr)
	}
	if res := results(t, runDir); len(res) != n {
		t.Errorf("%d results after the resume, want %d, each once", len(res), n)
	}
	if extra := srv.Stats().WritesApplied - n; extra > workers {
		t.Errorf("%d writes beyond one per row, want at most the %d in flight when the disk filled", extra, workers)
	}
}
