package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeShard writes shard i of n of a run as a run writes it: its results
// and failed rows through a Writer, then its summary.
func writeShard(t *testing.T, runDir string, i, n int, format, header string, failed []string, sum Summary) string {
	t.Helper()
	dir := filepath.Join(runDir, fmt.Sprintf("shard-%d-of-%d", i, n))
	w := mustOpen(t, dir, Options{Format: format, Header: []byte(header)})
	row := 1
	for range sum.Counts[Succeeded] {
		w.Record(Result{Row: row, Status: Succeeded}, []byte("ok"))
		row++
	}
	for _, raw := range failed {
		w.Record(Result{Row: row, Status: Invalid}, []byte(raw))
		row++
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum.RunID, sum.Format, sum.Input = "run1", format, "in."+format
	sum.Counts[Invalid] = len(failed)
	sum.Total = sum.Counts.Total()
	if err := WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	return dir
}

var mergeStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func shardSummary(succeeded int, startAfter, took time.Duration, code int) Summary {
	return Summary{
		Counts: Counts{Succeeded: succeeded}, Complete: true, Requests: int64(succeeded), Retries: 1, RateLimited: 1,
		Start: mergeStart.Add(startAfter), End: mergeStart.Add(startAfter + took), ExitCode: code,
	}
}

// TestMergeCSV: the merged failed.csv has the input's header once, then
// every shard's failed rows in shard order, quoted line breaks and all; the
// totals are the shards' sums.
func TestMergeCSV(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	const header = "user_id,public_metadata\r\n"
	writeShard(t, runDir, 2, 3, "csv", header, []string{"user_c,{}\r\n"}, shardSummary(4, time.Second, time.Minute, 1))
	writeShard(t, runDir, 0, 3, "csv", header, []string{"user_a,\"{\n\"\"a\"\":}\"\r\n", "user_b,[1]\r\n"}, shardSummary(5, 0, time.Minute, 1))
	writeShard(t, runDir, 1, 3, "csv", header, nil, shardSummary(6, 2*time.Second, 2*time.Minute, 0)) // header only
	os.MkdirAll(filepath.Join(runDir, "shard-x-of-3"), 0o700)                                         // not a shard
	os.MkdirAll(filepath.Join(runDir, "shard-3-of-4"), 0o700)                                         // no summary: not run yet

	for range 2 { // a second merge reads the shards again, not its own output
		tot, err := Merge(runDir)
		if err != nil {
			t.Fatal(err)
		}
		if tot.FailedFile != filepath.Join(runDir, "failed.csv") {
			t.Fatalf("FailedFile %q", tot.FailedFile)
		}
		got := string(read(t, tot.FailedFile))
		want := header + "user_a,\"{\n\"\"a\"\":}\"\r\nuser_b,[1]\r\n" + "user_c,{}\r\n"
		if got != want {
			t.Errorf("merged failed.csv:\n%q\nwant\n%q", got, want)
		}
		if n := strings.Count(got, "user_id,public_metadata"); n != 1 {
			t.Errorf("header %d times", n)
		}
		if tot.Total != 18 || tot.Counts[Succeeded] != 15 || tot.Counts[Invalid] != 3 || tot.Counts[Failed] != 0 ||
			tot.Requests != 15 || tot.Retries != 3 || tot.RateLimited != 3 {
			t.Errorf("totals %+v", tot.Summary)
		}
		if !tot.Complete || len(tot.Missing) != 0 || tot.ExitCode != 1 {
			t.Errorf("complete %v, missing %v, exit %d; want complete, none missing, exit 1", tot.Complete, tot.Missing, tot.ExitCode)
		}
		if !tot.Start.Equal(mergeStart) || !tot.End.Equal(mergeStart.Add(2*time.Second+2*time.Minute)) || tot.ElapsedSeconds != 122 {
			t.Errorf("start %v end %v elapsed %v: want the first start to the last end", tot.Start, tot.End, tot.ElapsedSeconds)
		}
		var idx []int
		for _, s := range tot.Shards {
			idx = append(idx, s.Index)
		}
		if !slices.Equal(idx, []int{0, 1, 2}) || tot.RunID != "run1" || tot.Format != "csv" {
			t.Errorf("shards %v, run %q, format %q", idx, tot.RunID, tot.Format)
		}
	}
}

// TestMergeCSVHeader: the header is one CSV record as the input's reader
// cut it, empty lines before it and quoted line breaks in it included, so
// the second shard's header is not taken for a row.
func TestMergeCSVHeader(t *testing.T) {
	t.Parallel()
	for _, header := range []string{
		"\r\n\n\"user_id\",\"public_metadata\"\r\n",
		"user_id,\"public_metadata\"",
		"user_id,\"public_metadata\",\"a\"\"\n\"\n",
	} {
		runDir := t.TempDir()
		writeShard(t, runDir, 0, 2, "csv", header, []string{"user_a,[1]\n"}, shardSummary(1, 0, time.Second, 1))
		writeShard(t, runDir, 1, 2, "csv", header, []string{"user_b,\"\n\"\n"}, shardSummary(1, 0, time.Second, 1))
		tot, err := Merge(runDir)
		if err != nil {
			t.Fatal(err)
		}
		got := string(read(t, tot.FailedFile))
		want := string(appendLine(nil, []byte(header))) + "user_a,[1]\nuser_b,\"\n\"\n"
		if got != want {
			t.Errorf("header %q: merged failed.csv\n%q\nwant\n%q", header, got, want)
		}
	}
}

func TestMergeNDJSON(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	writeShard(t, runDir, 0, 2, "ndjson", "", []string{`{"user_id":"user_a","public_metdata":{}}`}, shardSummary(1, 0, time.Second, 1))
	writeShard(t, runDir, 1, 2, "ndjson", "", []string{`not json`, `{"public_metadata":{}}`}, shardSummary(1, 0, time.Second, 1))
	tot, err := Merge(runDir)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"user_id\":\"user_a\",\"public_metdata\":{}}\nnot json\n{\"public_metadata\":{}}\n"
	if got := string(read(t, tot.FailedFile)); got != want {
		t.Errorf("merged failed.ndjson:\n%s\nwant\n%s", got, want)
	}
}

// TestMergeMissingShard: a shard with no folder (or no summary yet) makes
// the run incomplete, exit 3, whatever the others say.
func TestMergeMissingShard(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	writeShard(t, runDir, 0, 3, "ndjson", "", nil, shardSummary(3, 0, time.Second, 0))
	writeShard(t, runDir, 2, 3, "ndjson", "", nil, shardSummary(3, 0, time.Second, 0))
	os.MkdirAll(filepath.Join(runDir, "shard-1-of-3"), 0o700) // started, no summary yet
	tot, err := Merge(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Complete || tot.ExitCode != 3 || !slices.Equal(tot.Missing, []int{1}) {
		t.Errorf("complete %v, exit %d, missing %v; want incomplete, 3, [1]", tot.Complete, tot.ExitCode, tot.Missing)
	}
	if tot.FailedFile != "" {
		t.Errorf("FailedFile %q with no failed rows", tot.FailedFile)
	}
	if _, err := os.Stat(filepath.Join(runDir, "failed.ndjson")); err == nil {
		t.Error("merged failed.ndjson written with no failed rows")
	}
}

// TestMergeOneRun: an unsharded run folder is its own total; its
// failed.* is already the one to re-run.
func TestMergeOneRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	w.Record(Result{Row: 1, Status: Failed}, []byte(`{"user_id":"user_a","public_metadata":{}}`))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := Summary{RunID: "one", Format: "ndjson", Total: 1, Counts: Counts{Failed: 1}, Complete: true, ExitCode: 1}
	if err := WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	tot, err := Merge(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tot.Shards) != 1 || tot.Total != 1 || tot.Counts[Failed] != 1 || tot.ExitCode != 1 || !tot.Complete {
		t.Errorf("totals %+v", tot)
	}
	if tot.FailedFile != filepath.Join(dir, "failed.ndjson") {
		t.Errorf("FailedFile %q, want the run's own", tot.FailedFile)
	}
}

func TestMergeRefuses(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if _, err := Merge(empty); err == nil || !strings.Contains(err.Error(), "holds no run") {
		t.Errorf("Merge of an empty folder: %v", err)
	}
	if _, err := Merge(filepath.Join(empty, "nope")); err == nil {
		t.Error("Merge of a missing folder: no error")
	}
	mixed := t.TempDir()
	writeShard(t, mixed, 0, 2, "ndjson", "", nil, shardSummary(1, 0, time.Second, 0))
	writeShard(t, mixed, 1, 3, "ndjson", "", nil, shardSummary(1, 0, time.Second, 0))
	if _, err := Merge(mixed); err == nil || !strings.Contains(err.Error(), "mixes shard counts") {
		t.Errorf("Merge of 2-shard and 3-shard folders: %v", err)
	}
}
