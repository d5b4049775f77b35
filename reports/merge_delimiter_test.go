package reports

import (
	"path/filepath"
	"testing"
	"time"
)

// TestMergeCSVDelimiter: a ';'-separated input's header, whose quoted
// column name holds a line break (a spreadsheet's Alt+Enter), starts the
// merged failed.csv once and whole: its end is found with the file's own
// delimiter, after which the quote opens a field.
func TestMergeCSVDelimiter(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	const header = "user_id;public_metadata;\"Customer\nname\"\n"
	writeShard(t, runDir, 0, 2, "csv", header, []string{"user_a;[1];Ann\n"}, shardSummary(1, 0, time.Minute, 1))
	writeShard(t, runDir, 1, 2, "csv", header, []string{"user_b;\"{\"\"a\"\";1}\";\"B;\nC\"\n"}, shardSummary(1, time.Second, time.Minute, 1))
	tot, err := Merge(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if tot.FailedFile != filepath.Join(runDir, "failed.csv") {
		t.Fatalf("FailedFile %q", tot.FailedFile)
	}
	want := header + "user_a;[1];Ann\n" + "user_b;\"{\"\"a\"\";1}\";\"B;\nC\"\n"
	if got := string(read(t, tot.FailedFile)); got != want {
		t.Errorf("merged failed.csv:\n%q\nwant\n%q", got, want)
	}
}
