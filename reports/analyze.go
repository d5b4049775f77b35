package reports

import (
	"cmp"
	"errors"
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
// these (their exit code is ExitRunning).
func (s *Summary) settled() bool {
	return s.Complete || s.Stopped != "" || s.ExitCode > ExitOK
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
	var seen bitset
	err = eachResult(f, path, func(r *Result) {
		if r.Row <= 0 || seen.has(r.Row) {
			return
		}
		seen.set(r.Row)
		c[r.Status]++
		k.add(r)
		if !r.Status.Failure() {
			return
		}
		e := errs[r.ErrorCode]
		if e == nil {
			e = &ErrorCount{Code: r.ErrorCode, Example: *r}
			errs[r.ErrorCode] = e
		}
		e.Rows++
	})
	return c, k, true, err
}
