package reports

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// ErrorCount is the rows that ended with one error code, and the first of
// them as an example.
type ErrorCount struct {
	Code    string
	Rows    int
	Example Result
}

// Analysis is a run folder read back for a person or a script: the
// summaries summed over the shards (Merge), with the counts taken from
// results.csv, which holds every recorded row, rather than from
// summary.json, which a killed session leaves as it last rewrote it.
type Analysis struct {
	Totals
	// Errors are the error codes of the failed and invalid rows, most
	// rows first (ties by code).
	Errors []ErrorCount
	// Unsettled lists the shards whose summary.json was never settled: the
	// session was killed, or is still going. Their counts are results.csv's.
	Unsettled []int
	// Backup is set when a backup.ndjson holds the value of a field the
	// run replaced: the run can be rolled back.
	Backup bool
	// ShardIndex and ShardCount name the shard when the folder analyzed is
	// itself one shard's (shard-<i>-of-<n>); ShardCount is 0 otherwise.
	ShardIndex, ShardCount int
}

// Analyze reads the run folder runDir: its summaries (summed over its
// shards, see Merge, which also writes a sharded run's merged failed rows)
// and every shard's results.csv, for the counts by outcome, the paths
// counts, and the error codes with an example each. A folder without
// results.csv (a plan's) keeps its summary's counts.
func Analyze(runDir string) (*Analysis, error) {
	t, err := Merge(runDir)
	if err != nil {
		return nil, err
	}
	a := &Analysis{Totals: *t}
	if m := shardDirRE.FindStringSubmatch(filepath.Base(runDir)); m != nil && len(t.Shards) == 1 && t.Shards[0].Dir == runDir {
		a.ShardIndex, _ = strconv.Atoi(m[1])
		a.ShardCount, _ = strconv.Atoi(m[2])
	}
	var counts Counts
	var keys KeyCounts
	errs := map[string]*ErrorCount{}
	for _, sh := range t.Shards {
		s := sh.Summary
		if !s.settled() {
			a.Unsettled = append(a.Unsettled, sh.Index)
		}
		c, k, found, err := countResults(filepath.Join(sh.Dir, ResultsFile), errs)
		if err != nil {
			return nil, err
		}
		if !found {
			c, k = s.Counts, s.KeyCounts
		}
		counts.Add(c)
		keys.Removed += k.Removed
		keys.Added += k.Added
		keys.Changed += k.Changed
		if st, err := os.Stat(filepath.Join(sh.Dir, BackupFile)); err == nil && st.Size() > 0 {
			a.Backup = true
		}
	}
	a.Counts, a.KeyCounts = counts, keys
	a.Total = max(a.Total, counts.Total())
	if len(a.Unsettled) > 0 {
		a.Complete = false
	}
	if !a.Complete && a.ExitCode != ExitKeyRefused {
		a.ExitCode = ExitStopped
	}
	for _, e := range errs {
		a.Errors = append(a.Errors, *e)
	}
	slices.SortFunc(a.Errors, func(x, y ErrorCount) int {
		return cmp.Or(cmp.Compare(y.Rows, x.Rows), cmp.Compare(x.Code, y.Code))
	})
	return a, nil
}

// settled reports whether the session that wrote the summary lived to
// settle it: a settled summary is complete, or says why it is not, or
// has an exit code; the ones written while the run goes have none of
// these.
func (s *Summary) settled() bool {
	return s.Complete || s.Stopped != "" || s.ExitCode != ExitOK
}

// countResults counts the rows of a results.csv by outcome, their paths,
// and the error codes of the failed and invalid ones into errs. A row
// recorded twice counts once, and a torn last line (a crash mid-write) not
// at all. found is false when there is no such file.
func countResults(path string, errs map[string]*ErrorCount) (c Counts, k KeyCounts, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, k, false, nil
	}
	if err != nil {
		return c, k, false, err
	}
	defer f.Close()
	end, err := lastLineBreak(f)
	if err != nil {
		return c, k, true, fmt.Errorf("read %s: %w", path, err)
	}
	cr := csv.NewReader(bufio.NewReaderSize(io.LimitReader(f, end), 64<<10))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return c, k, true, nil
	}
	if err != nil {
		return c, k, true, fmt.Errorf("read %s: %w", path, err)
	}
	col := map[string]int{}
	for i, name := range header {
		col[name] = i
	}
	for _, name := range []string{"row", "line", "user_id", "status", "error_code", "error_message"} {
		if _, ok := col[name]; !ok {
			return c, k, true, fmt.Errorf("read %s: no %s column", path, name)
		}
	}
	number := func(rec []string, name string) int {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return 0
		}
		n, _ := strconv.Atoi(rec[i])
		return n
	}
	var seen bitset
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return c, k, true, nil
		}
		if err != nil {
			return c, k, true, fmt.Errorf("read %s: %w", path, err)
		}
		n := number(rec, "row")
		status, err := ParseStatus(rec[col["status"]])
		if n <= 0 || err != nil || seen.has(n) {
			continue
		}
		seen.set(n)
		c[status]++
		k.Removed += number(rec, "removed_keys")
		k.Added += number(rec, "added_keys")
		k.Changed += number(rec, "changed_keys")
		if !status.Failure() {
			continue
		}
		code := rec[col["error_code"]]
		e := errs[code]
		if e == nil {
			e = &ErrorCount{Code: code, Example: Result{
				Row: n, Line: number(rec, "line"), UserID: rec[col["user_id"]], Status: status,
				HTTPStatus: number(rec, "http_status"), ErrorCode: code, ErrorMessage: rec[col["error_message"]],
			}}
			errs[code] = e
		}
		e.Rows++
	}
}

// lastLineBreak returns the offset just past f's last line break: what
// follows it is a line a crash tore.
func lastLineBreak(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	for end := st.Size(); end > 0; {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
