package reports

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// VerifyFile is a verify pass's report: a line per field a run wrote.
const VerifyFile = "verify.csv"

// The verdicts of a field in verify.csv.
const (
	VerifyOK         = "ok"          // Clerk holds what the run last wrote
	VerifyMismatch   = "mismatch"    // it holds something else
	VerifyMissing    = "missing"     // the user is gone
	VerifyReadFailed = "read_failed" // the user could not be read
)

// VerifyWriter records a verify pass: it implements the job's Recorder,
// each Result's Changes being one field's verdict. It is safe for
// concurrent use.
type VerifyWriter struct {
	mu     sync.Mutex
	f      *os.File
	buf    *bufio.Writer
	csv    *csv.Writer
	err    error
	counts map[string]int
	users  int
	done   int
}

// OpenVerify creates dir/verify.csv (0600), replacing an earlier one.
func OpenVerify(dir string) (*VerifyWriter, error) {
	f, err := os.OpenFile(filepath.Join(dir, VerifyFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", VerifyFile, err)
	}
	f.Chmod(0o600)
	v := &VerifyWriter{f: f, buf: bufio.NewWriterSize(f, 64<<10), counts: map[string]int{}}
	v.csv = csv.NewWriter(v.buf)
	v.csv.Write([]string{"row", "line", "user_id", "field", "status", "removed", "added", "changed"})
	return v, nil
}

// Seen reports false: a verify pass is made whole.
func (v *VerifyWriter) Seen(int, []byte) bool { return false }

// Backup does nothing: a verify pass writes nothing to Clerk.
func (v *VerifyWriter) Backup(string, clerkapi.Metadata) error { return nil }

// Record writes a line per field of r: r.Changes holds each field's verdict
// and, for a mismatch, the paths from the value written to the one stored.
func (v *VerifyWriter) Record(r Result, _ []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return v.err
	}
	v.users++
	v.done++
	for _, c := range r.Changes {
		v.counts[c.Verdict]++
		v.csv.Write([]string{strconv.Itoa(r.Row), strconv.Itoa(r.Line), safeCell(cleanID(r.UserID)), c.Field, c.Verdict,
			paths(c.Removed), paths(c.Added), paths(c.Changed)})
	}
	v.csv.Flush()
	if err := v.csv.Error(); err != nil {
		v.err = fmt.Errorf("write %s: %w", VerifyFile, err)
	}
	return v.err
}

// paths writes a list of paths as a JSON array, "" when empty.
func paths(p []string) string {
	if len(p) == 0 {
		return ""
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// Verdicts returns how many fields got each verdict so far.
func (v *VerifyWriter) Verdicts() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]int, len(v.counts))
	for k, n := range v.counts {
		out[k] = n
	}
	return out
}

// Done returns how many rows were verified.
func (v *VerifyWriter) Done() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.done
}

// Keys and TopRemoved are empty for a verify pass.
func (v *VerifyWriter) Keys() KeyCounts { return KeyCounts{} }

// TopRemoved returns nothing: a verify pass removes nothing.
func (v *VerifyWriter) TopRemoved(int) []PathCount { return nil }

// Close flushes and syncs verify.csv.
func (v *VerifyWriter) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	err := v.err
	if e := v.buf.Flush(); err == nil && e != nil {
		err = e
	}
	if e := v.f.Sync(); err == nil && e != nil {
		err = e
	}
	if e := v.f.Close(); err == nil && e != nil {
		err = e
	}
	return err
}
