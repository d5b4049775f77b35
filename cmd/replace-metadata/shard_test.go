package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
)

// shardInput is an NDJSON input for the shard tests: rows of users that
// have one to three rows each, and a few invalid rows.
type shardInput struct {
	lines   []string // the rows, row n is lines[n-1]
	users   []string // row n's user id; "" when the row has none
	invalid map[int]bool
	last    map[string]string // user id -> public metadata of its last row
}

func newShardInput(n, users int, invalidAt ...int) shardInput {
	in := shardInput{invalid: map[int]bool{}, last: map[string]string{}}
	bad := []struct{ line, user string }{
		{`{"user_id":"user_shardtypo","public_metdata":{"plan":"pro"}}`, "user_shardtypo"}, // unknown_field
		{`this is not json`, ""},                   // invalid_json: no user id, goes by row number
		{`{"public_metadata":{"plan":"pro"}}`, ""}, // missing_user_id
	}
	for i := 1; i <= n; i++ {
		if k := slices.Index(invalidAt, i); k >= 0 {
			b := bad[k%len(bad)]
			in.lines, in.users = append(in.lines, b.line), append(in.users, b.user)
			in.invalid[i] = true
			continue
		}
		id := fmt.Sprintf("user_shard%d", i%users)
		meta := fmt.Sprintf(`{"row":%d}`, i)
		in.lines = append(in.lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":%s}`, id, meta))
		in.users = append(in.users, id)
		in.last[id] = meta
	}
	return in
}

func (in shardInput) String() string { return strings.Join(in.lines, "\n") + "\n" }

// owner is the shard that must report row n.
func (in shardInput) owner(n, count int) int {
	if id := in.users[n-1]; id != "" {
		return job.ShardOf(id, count)
	}
	return n % count
}

// resultRow is the part of a results.csv line these tests look at.
type resultRow struct {
	user, status string
}

// readResults reads a run folder's results.csv as row -> result, failing
// on a row reported twice.
func readResults(t *testing.T, dir string) map[int]resultRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	out := map[int]resultRow{}
	for _, r := range recs[1:] {
		n, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("%s: row %q", dir, r[0])
		}
		if _, dup := out[n]; dup {
			t.Errorf("row %d reported twice in %s", n, dir)
		}
		out[n] = resultRow{user: r[2], status: r[3]}
	}
	return out
}

// reportTotals runs report --json on a run folder and returns its exit
// code, its members (numbers, booleans and lists as JSON writes them) and
// its stdout.
func reportTotals(t *testing.T, wd, runDir string) (int, map[string]string, string) {
	t.Helper()
	got := runIn(t, wd, nil, "report", "--json", runDir)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got.stdout), &obj); err != nil {
		t.Fatalf("report --json: %v\n%s", err, got.stdout)
	}
	members := map[string]string{}
	for k, v := range obj {
		var b bytes.Buffer
		json.Compact(&b, v)
		members[k] = b.String()
	}
	if got.stderr != "" {
		t.Logf("report stderr:\n%s", got.stderr)
	}
	return got.code, members, got.stdout
}

// TestShards runs three shards of one input as three processes at once
// against one emulator whose instance limit is just above the configured
// rate: each shard takes a third of it. Together they report every row
// exactly once, each row in the shard its user hashes to, leave every user
// with its last row's metadata, and never meet the emulator's limit. The
// report command then sums the shards and merges their failed rows.
func TestShards(t *testing.T) {
	t.Parallel()
	const n, users, count = 450, 190, 3
	invalidAt := []int{17, 250, 449}
	in := newShardInput(n, users, invalidAt...)
	// 90 requests a second across the shards, 100 allowed: at most
	// 3 × (1 + 90) in a 3 s window, of 300. The margin absorbs requests a
	// busy machine delays into the next window. A shard that took the
	// whole --rate would send 270 a second and draw 429s.
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true, InstanceLimit: 300, InstanceWindow: 3 * time.Second})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in.String())
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	args := []string{"run", "--input", "in.ndjson", "--run-id", "sharded", "--rate", "90",
		"--shard-count", strconv.Itoa(count), "--log-level", "warn"}

	var procs []*started
	for i := range count {
		v := map[string]string{}
		for k, x := range vars {
			v[k] = x
		}
		a := slices.Clone(args)
		if i == count-1 {
			a = append(a, "--shard-index", strconv.Itoa(i)) // the flag
		} else {
			v["JOB_COMPLETION_INDEX"] = strconv.Itoa(i) // an indexed Job's pod
		}
		procs = append(procs, startBinary(t, dir, v, a...))
	}

	runDir := filepath.Join(dir, "runs", "sharded")
	seen := map[int]int{} // row -> shard
	wantCode := exitOK
	for i, p := range procs {
		got := p.wait(t, 2*time.Minute)
		shardDir := filepath.Join(runDir, fmt.Sprintf("shard-%d-of-%d", i, count))
		if d := got.runDir(t); d != shardDir {
			t.Errorf("shard %d: run folder %s, want %s", i, d, shardDir)
		}
		res := readResults(t, shardDir)
		if len(res) == 0 {
			t.Errorf("shard %d reported no row", i)
		}
		hasInvalid := false
		for row, r := range res {
			if s, dup := seen[row]; dup {
				t.Errorf("row %d reported by shards %d and %d", row, s, i)
			}
			seen[row] = i
			if row < 1 || row > n {
				t.Errorf("shard %d reports row %d of %d", i, row, n)
				continue
			}
			if o := in.owner(row, count); o != i {
				t.Errorf("row %d (user %q) reported by shard %d, belongs to shard %d", row, r.user, i, o)
			}
			if r.user != in.users[row-1] {
				t.Errorf("row %d: user %q in results, %q in the input", row, r.user, in.users[row-1])
			}
			want := "succeeded"
			if in.invalid[row] {
				want, hasInvalid = "invalid", true
			}
			if r.status != want {
				t.Errorf("row %d %s, want %s", row, r.status, want)
			}
		}
		wantShard := exitOK
		if hasInvalid {
			wantShard, wantCode = exitRows, exitRows
		}
		if got.code != wantShard {
			t.Errorf("shard %d exit %d, want %d\nstderr:\n%s", i, got.code, wantShard, got.stderr)
		}
		sum := readSummary(t, shardDir)
		if !sum.Complete || sum.Total != len(res) || sum.Counts.Total() != len(res) {
			t.Errorf("shard %d: summary %+v for %d results", i, sum, len(res))
		}
	}
	if len(seen) != n {
		t.Errorf("%d rows reported across the shards, want %d", len(seen), n)
	}

	for id, want := range in.last {
		u, ok := srv.User(id)
		if !ok || string(u.Public) != want {
			t.Errorf("%s = %s, want its last row's %s", id, u.Public, want)
		}
	}
	if _, ok := srv.User("user_shardtypo"); ok {
		t.Error("the invalid row's user was written")
	}
	st := srv.Stats()
	if st.RateLimited != 0 || st.InstanceLimited != 0 {
		t.Errorf("emulator answered %d 429s (%d instance): the shards together went over the limit", st.RateLimited, st.InstanceLimited)
	}
	if valid := int64(n - len(invalidAt)); st.WritesApplied != valid {
		t.Errorf("emulator applied %d writes, want one per valid row, %d", st.WritesApplied, valid)
	}

	// The report sums the shards and writes the merged failed rows.
	for range 2 { // twice: the report reads shards, not its own output
		code, got, stdout := reportTotals(t, dir, filepath.Join("runs", "sharded"))
		if code != wantCode {
			t.Errorf("report exit %d, want the run's %d\n%s", code, wantCode, stdout)
		}
		for k, want := range map[string]string{
			"total": strconv.Itoa(n), "succeeded": strconv.Itoa(n - len(invalidAt)),
			"failed": "0", "invalid": strconv.Itoa(len(invalidAt)), "complete": "true",
			"shards": "[0,1,2]", "shard_count": "3", "missing_shards": "[]",
		} {
			if got[k] != want {
				t.Errorf("report %s = %q, want %q\n%s", k, got[k], want, stdout)
			}
		}
		failed := filepath.Join("runs", "sharded", "failed.ndjson")
		if got["failed_file"] != `"`+failed+`"` {
			t.Errorf("report --json failed_file %s, want the merged failed rows %s", got["failed_file"], failed)
		}
		text := runIn(t, dir, nil, "report", filepath.Join("runs", "sharded"))
		if last := lastLine(text.stdout); last != failed {
			t.Errorf("report's last line %q, want the merged failed rows %s", last, failed)
		}
		b, err := os.ReadFile(filepath.Join(dir, failed))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		var want []string
		for _, row := range invalidAt {
			want = append(want, in.lines[row-1])
		}
		slices.Sort(lines)
		slices.Sort(want)
		if !slices.Equal(lines, want) {
			t.Errorf("merged failed.ndjson:\n%s\nwant exactly the invalid rows, once each:\n%s", b, strings.Join(want, "\n"))
		}
	}
}

// TestReportMissingShard: until every shard has run, the report says which
// one has not and exits 3; once it has, the report is the run's.
func TestReportMissingShard(t *testing.T) {
	t.Parallel()
	const n, count = 40, 3
	in := newShardInput(n, 25)
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in.String())
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	runShard := func(i int) {
		t.Helper()
		got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "partial", "--rate", "unlimited",
			"--shard-count", strconv.Itoa(count), "--shard-index", strconv.Itoa(i), "--log-level", "warn")
		if got.code != exitOK {
			t.Fatalf("shard %d exit %d\nstderr:\n%s", i, got.code, got.stderr)
		}
	}
	runShard(0)
	runShard(2)

	runDir := filepath.Join("runs", "partial")
	code, got, stdout := reportTotals(t, dir, runDir)
	if code != exitAborted {
		t.Errorf("report with shard 1 missing: exit %d, want 3\n%s", code, stdout)
	}
	if got["missing_shards"] != "[1]" || got["complete"] != "false" || got["shards"] != "[0,2]" || got["shard_count"] != "3" {
		t.Errorf("report with shard 1 missing:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, runDir, "failed.ndjson")); err == nil {
		t.Error("a merged failed.ndjson with no failed rows")
	}

	runShard(1)
	code, got, stdout = reportTotals(t, dir, runDir)
	if code != exitOK || got["complete"] != "true" || got["total"] != strconv.Itoa(n) || got["succeeded"] != strconv.Itoa(n) {
		t.Errorf("report after every shard ran: exit %d\n%s", code, stdout)
	}
	if got["missing_shards"] != "[]" {
		t.Errorf("report still names a missing shard:\n%s", stdout)
	}
	if w := srv.Stats().WritesApplied; w != n {
		t.Errorf("%d writes, want %d", w, n)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
