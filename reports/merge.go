package reports

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/replace-metadata/replace-metadata/input"
)

// Shard is one shard's summary within a run.
type Shard struct {
	Dir     string
	Index   int
	Count   int
	Summary *Summary
}

// Totals are a run's counts summed over its shards.
type Totals struct {
	RunDir string
	Shards []Shard
	// Missing lists the shard indexes of Count that have no folder yet.
	Missing []int
	Summary
	// FailedFile is the merged failed rows, ready to be a run's input; ""
	// when no shard had failed rows.
	FailedFile string
}

var shardDirRE = regexp.MustCompile(`^shard-(\d+)-of-(\d+)$`)

// Merge sums the summaries of the run folder runDir, which holds either
// one run's files or one folder per shard (shard-<i>-of-<n>), and writes
// the shards' failed rows into runDir/failed.<format>, so that file
// re-runs exactly the failed and invalid rows of the whole run.
func Merge(runDir string) (*Totals, error) {
	shards, err := readShards(runDir)
	if err != nil {
		return nil, err
	}
	t := &Totals{RunDir: runDir, Shards: shards}
	count := shards[0].Count
	seen := map[int]bool{}
	top := newPathCounts(nil)
	var stopped []string
	t.Complete = true
	for _, sh := range shards {
		if sh.Count != count {
			return nil, fmt.Errorf("%s mixes shard counts (%d and %d)", runDir, count, sh.Count)
		}
		seen[sh.Index] = true
		if s := sh.Summary.Stopped; s != "" && !slices.Contains(stopped, s) {
			stopped = append(stopped, s)
		}
		t.add(sh.Summary)
		top.addAll(sh.Summary.TopRemoved)
	}
	t.TopRemoved = top.top(TopPaths)
	t.Stopped = strings.Join(stopped, "; ")
	for i := range count {
		if !seen[i] {
			t.Missing = append(t.Missing, i)
			t.Complete = false
		}
	}
	if !t.Complete && t.ExitCode != ExitKeyRefused {
		t.ExitCode = ExitStopped
	}
	if t.End.After(t.Start) {
		t.ElapsedSeconds = t.End.Sub(t.Start).Seconds()
	}
	if len(shards) > 1 || shards[0].Dir != runDir {
		if err := t.mergeFailed(); err != nil {
			return nil, err
		}
	} else if t.Counts.Failures() > 0 {
		t.FailedFile = filepath.Join(runDir, FailedFile(t.Format))
	}
	return t, nil
}

// readShards reads the summaries of the run folder runDir: its own, or
// its shards' in order.
func readShards(runDir string) ([]Shard, error) {
	if s, err := ReadSummary(runDir); err != nil {
		return nil, err
	} else if s != nil {
		return []Shard{{Dir: runDir, Index: 0, Count: 1, Summary: s}}, nil
	}
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return nil, err
	}
	var shards []Shard
	for _, e := range entries {
		m := shardDirRE.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		dir := filepath.Join(runDir, e.Name())
		s, err := ReadSummary(dir)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		i, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		shards = append(shards, Shard{Dir: dir, Index: i, Count: n, Summary: s})
	}
	if len(shards) == 0 {
		return nil, fmt.Errorf("%s holds no run: no summary.json, no shard-<i>-of-<n> folders", runDir)
	}
	slices.SortFunc(shards, func(a, b Shard) int { return cmp.Compare(a.Index, b.Index) })
	return shards, nil
}

// add sums one shard's summary into t.
func (t *Totals) add(s *Summary) {
	if t.RunID == "" {
		t.RunID, t.Input, t.Format, t.InputSHA256, t.ToolVersion = s.RunID, s.Input, s.Format, s.InputSHA256, s.ToolVersion
		t.Command, t.APIURL, t.KeyFingerprint, t.Sandbox = s.Command, s.APIURL, s.KeyFingerprint, s.Sandbox
	}
	if s.Actions != nil { // a plan's
		if t.Actions == nil {
			t.Actions = &ActionCounts{}
		}
		for a, n := range s.Actions {
			t.Actions[a] += n
		}
		t.PlanUsers += s.PlanUsers
	}
	t.Sessions = max(t.Sessions, s.Sessions)
	t.AchievedRate += s.AchievedRate // shards run side by side
	t.Total += s.Total
	t.Counts.Add(s.Counts)
	t.Duplicates += s.Duplicates
	t.Requests += s.Requests
	t.Reads += s.Reads
	t.Writes += s.Writes
	t.Removed += s.Removed
	t.Added += s.Added
	t.Changed += s.Changed
	t.Retries += s.Retries
	t.RateLimited += s.RateLimited
	t.Complete = t.Complete && s.Complete
	if t.Start.IsZero() || s.Start.Before(t.Start) {
		t.Start = s.Start
	}
	if s.End.After(t.End) {
		t.End = s.End
	}
	t.ExitCode = max(t.ExitCode, s.ExitCode)
}

// mergeFailed concatenates the shards' failed rows; a CSV header once.
func (t *Totals) mergeFailed() error {
	name := FailedFile(t.Format)
	out := filepath.Join(t.RunDir, name)
	tmp, err := os.CreateTemp(t.RunDir, ".failed-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	rows := 0
	var header []byte
	for _, sh := range t.Shards {
		f, err := os.Open(filepath.Join(sh.Dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			tmp.Close()
			return err
		}
		r := bufio.NewReader(f)
		if t.Format == "csv" {
			h, err := readCSVRecord(r)
			if err != nil && !errors.Is(err, io.EOF) {
				f.Close()
				tmp.Close()
				return err
			}
			if header == nil && len(h) > 0 {
				header = h
				w.Write(h)
			}
		}
		n, err := io.Copy(w, r)
		f.Close()
		if err != nil {
			tmp.Close()
			return err
		}
		if n > 0 {
			rows++
		}
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if rows == 0 {
		return nil
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	t.FailedFile = out
	return nil
}

// readCSVRecord reads the first CSV record's bytes, quoted line breaks and
// any empty lines before it included, as the input's reader cut the header
// that begins failed.csv. The header is the input's own, so it tells the
// delimiter as it did to that reader.
func readCSVRecord(r *bufio.Reader) ([]byte, error) {
	var rec []byte
	split := input.CSVSplitter{Comma: input.PeekDelimiter(r)}
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		rec = append(rec, line...)
		// A record ends only at a line break, so at the end of line.
		if err != nil || split.Split(line) >= 0 {
			return rec, err
		}
	}
}
