package reports

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// PlanSummaryFile is a plan's summary, kept beside its files: the run that
// applies the plan in its folder rewrites summary.json, and this stays to
// say what the plan was made from (input, API URL, key fingerprint).
const PlanSummaryFile = "plan.json"

// ReadPlan reads dir's plan.json, or returns (nil, nil) when the folder
// holds no plan.
func ReadPlan(dir string) (*Summary, error) {
	return readSummaryFile(dir, PlanSummaryFile)
}

// WritePlan writes dir's plan.json atomically.
func WritePlan(dir string, s Summary) error {
	return writeSummaryFile(dir, PlanSummaryFile, s)
}

// RunFolders returns the folders of a run that hold its own files: dir
// itself, or its shard-<i>-of-<n> folders.
func RunFolders(dir string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, SummaryFile)); err == nil {
		return []string{dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && shardDirRE.MatchString(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no run: no summary.json, no shard-<i>-of-<n> folders", dir)
	}
	return out, nil
}

// Written is what a run wrote: which input rows succeeded (from the
// results.csv of each of its folders), and, once the input has been noted
// through it in order, for each user and field the last row that wrote
// it. It keeps two id hashes, the field and a row number per entry: about
// 24 bytes a field written.
type Written struct {
	ok           bitset
	ids          map[int]string // the user each row that succeeded resolved to
	seed1, seed2 maphash.Seed
	last         []writtenEntry
	sealed       bool
}

type writtenEntry struct {
	id1, id2 uint64
	field    int32
	row      int32
}

// ReadWritten reads the rows that succeeded in the run folder dir (or its
// shards).
func ReadWritten(dir string) (*Written, error) {
	folders, err := RunFolders(dir)
	if err != nil {
		return nil, err
	}
	w := &Written{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(), ids: map[int]string{}}
	for _, d := range folders {
		path := filepath.Join(d, ResultsFile)
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read results: %w", err)
		}
		err = eachResult(f, path, func(r *Result) {
			if r.Status == Succeeded && r.Row > 0 {
				w.ok.set(r.Row)
				w.ids[r.Row] = r.UserID
			}
		})
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

// ReadResults calls fn with each result in dir's results.csv, in the
// order they were written.
func ReadResults(dir string, fn func(*Result)) error {
	path := filepath.Join(dir, ResultsFile)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return eachResult(f, path, fn)
}

// Succeeded reports whether input row n was written.
func (w *Written) Succeeded(n int) bool { return w.ok.has(n) }

// UserID returns the Clerk user row n wrote to (the row's key resolved),
// "" when it did not succeed.
func (w *Written) UserID(n int) string { return w.ids[n] }

// Note records, in input order, the fields row n set; rows that did not
// succeed are left out.
func (w *Written) Note(n int, m clerkapi.Metadata) {
	if !w.ok.has(n) {
		return
	}
	userID := w.ids[n]
	id1, id2 := maphash.String(w.seed1, userID), maphash.String(w.seed2, userID)
	for f, v := range m {
		if v != nil {
			w.last = append(w.last, writtenEntry{id1, id2, int32(f), int32(n)})
		}
	}
}

func compareWritten(x, y writtenEntry) int {
	return cmp.Or(cmp.Compare(x.id1, y.id1), cmp.Compare(x.id2, y.id2), cmp.Compare(x.field, y.field))
}

// Seal keeps, of each user and field, the last row noted.
func (w *Written) Seal() {
	slices.SortStableFunc(w.last, compareWritten)
	out := w.last[:0]
	for _, e := range w.last {
		if n := len(out); n > 0 && compareWritten(out[n-1], e) == 0 {
			out[n-1] = e // a later row
			continue
		}
		out = append(out, e)
	}
	w.last = slices.Clip(out)
	w.sealed = true
}

// Last returns the fields of m for which row n is the last row of its
// user that wrote them: what the user should still hold of the run's
// writes.
func (w *Written) Last(n int, m clerkapi.Metadata) clerkapi.Metadata {
	var out clerkapi.Metadata
	if !w.ok.has(n) {
		return out
	}
	userID := w.ids[n]
	id1, id2 := maphash.String(w.seed1, userID), maphash.String(w.seed2, userID)
	for f, v := range m {
		if v == nil {
			continue
		}
		i, ok := slices.BinarySearchFunc(w.last, writtenEntry{id1: id1, id2: id2, field: int32(f)}, compareWritten)
		if ok && int(w.last[i].row) == n {
			out[f] = v
		}
	}
	return out
}

// ReadBackupFile calls fn with each line of a backup-format file
// (backup.ndjson, before.ndjson): a user id and the values of the fields
// the line holds.
func ReadBackupFile(path string, fn func(userID string, m clerkapi.Metadata)) error {
	return eachLine(path, func(line []byte) error {
		var row map[string]json.RawMessage
		if err := json.Unmarshal(line, &row); err != nil {
			return err
		}
		var id string
		if err := json.Unmarshal(row["user_id"], &id); err != nil || id == "" {
			return errors.New("no user_id")
		}
		var m clerkapi.Metadata
		for f, name := range clerkapi.FieldNames {
			m[f] = row[name]
		}
		fn(id, m)
		return nil
	})
}

// ReadPlanMissing calls fn with the user of each row the plan in dir found
// missing.
func ReadPlanMissing(dir string, fn func(userID string)) error {
	return eachLine(filepath.Join(dir, PlanFile), func(line []byte) error {
		var pl struct {
			UserID string `json:"user_id"`
			Action string `json:"action"`
		}
		if err := json.Unmarshal(line, &pl); err != nil {
			return err
		}
		if pl.Action == ActionNotFound.String() && pl.UserID != "" {
			fn(pl.UserID)
		}
		return nil
	})
}

// eachLine calls fn with each line of the file at path; an error names
// the line.
func eachLine(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
	return sc.Err()
}
