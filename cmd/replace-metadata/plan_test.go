package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// planCase is a store and an input whose plan holds every kind of change:
// nested objects, arrays, null, {}, keys that are not identifiers, a user
// with several rows, a user that does not exist, an unchanged row and an
// invalid one.
func planCase(t *testing.T, srv *emulator.Server) string {
	t.Helper()
	srv.AddUser("user_nested", []byte(`{"onboarding":{"step":3,"done":false},"plan":"pro","a.b":1,"tags":["x"]}`), []byte(`{"stripe":{"id":"cus_1"}}`), nil)
	srv.AddUser("user_null", []byte(`null`), []byte(`{}`), []byte(`{"theme":"dark"}`))
	srv.AddUser("user_same", []byte(`{"n":9007199254740993,"list":[1,2]}`), nil, nil)
	srv.AddUser("user_twice", []byte(`{"k":1,"with space":{"x":1}}`), nil, nil)
	return strings.Join([]string{
		`{"user_id":"user_nested","public_metadata":{"onboarding":{"step":4},"plan":"pro","tags":["x","y"],"new":{"deep":true}},"private_metadata":{}}`,
		`{"user_id":"user_null","public_metadata":{"now":1},"private_metadata":null,"unsafe_metadata":null}`,
		`{"user_id":"user_same","public_metadata":{"list":[1,2.0],"n":9007199254740993}}`,
		`{"user_id":"user_twice","public_metadata":{"k":2}}`,
		`{"user_id":"user_gone","public_metadata":{"a":1}}`,
		`{"user_id":"user_twice","public_metadata":{"k":2},"unsafe_metadata":{"u":{}}}`,
		`{"user_id":"user_nested","public_metdata":{}}`,
	}, "\n") + "\n"
}

// sortedLines returns a file's lines in order, for files written as rows
// finish.
func sortedLines(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestGoldenPlan: a plan reads every user, writes nothing (the emulator's
// request log holds reads only), and its plan.ndjson, before.ndjson,
// summary and printed summary match the golden case; it exits 1 for the
// missing user and the invalid row.
func TestGoldenPlan(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{RecordRequests: true})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), planCase(t, srv))
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	args := []string{"plan", "--input", "in.ndjson", "--run-id", "p", "--log-level", "error"}
	got := runIn(t, dir, vars, args...)
	for _, r := range srv.Requests() {
		if r.Method != "GET" || r.Path != "/v1/users" {
			t.Errorf("a plan sent %s %s", r.Method, r.Path)
		}
	}
	runDir := filepath.Join(dir, "runs", "p")
	var b strings.Builder
	b.WriteString(transcript(t, args, got, nil))
	for _, f := range []string{reports.PlanFile, reports.BeforeFile} {
		b.WriteString("-- " + f + " (sorted) --\n" + sortedLines(t, filepath.Join(runDir, f)))
	}
	golden(t, "plan.golden", b.String())
	sum := readSummary(t, runDir)
	if sum.Command != "plan" || sum.ExitCode != exitRows || sum.Actions == nil || sum.Actions[reports.ActionChange] != 4 ||
		sum.PlanUsers != 3 || sum.Writes != 0 || sum.KeyFingerprint == "" || strings.Contains(sum.KeyFingerprint, testKey) {
		t.Errorf("plan summary %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(runDir, reports.ResultsFile)); err == nil {
		t.Error("a plan wrote results.csv")
	}

	// The same run id again is refused, unless --force replaces the plan.
	if again := runIn(t, dir, vars, args...); again.code != exitUsage || !strings.Contains(again.stderr, "--force") {
		t.Errorf("plan over a plan: exit %d\n%s", again.code, again.stderr)
	}
	if again := runIn(t, dir, vars, append(args, "--force")...); again.code != exitRows {
		t.Errorf("plan --force: exit %d\n%s", again.code, again.stderr)
	}
	// --max-removed-keys under what the plan removes makes it exit 1 and
	// say so; over it, a plan of changes only exits 0.
	writeFile(t, filepath.Join(dir, "ok.ndjson"), `{"user_id":"user_nested","public_metadata":{}}`+"\n")
	over := runIn(t, dir, vars, "plan", "--input", "ok.ndjson", "--run-id", "over", "--max-removed-keys", "3", "--log-level", "error")
	if over.code != exitRows || !strings.Contains(over.stdout, "--max-removed-keys 3") {
		t.Errorf("plan over the limit: exit %d\n%s", over.code, over.stdout)
	}
	under := runIn(t, dir, vars, "plan", "--input", "ok.ndjson", "--run-id", "under", "--max-removed-keys", "4", "--log-level", "error")
	if under.code != exitOK {
		t.Errorf("plan within the limit: exit %d\n%s%s", under.code, under.stdout, under.stderr)
	}
}

// TestMaxRemovedKeysRun: a run stops (exit 3) before the write that would
// take the removed keys over --max-removed-keys, naming the paths; a
// resume with a higher limit finishes every row once.
func TestMaxRemovedKeysRun(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	var in strings.Builder
	for i := range 30 {
		id := fmt.Sprintf("user_g%d", i)
		srv.AddUser(id, []byte(`{"plan":"pro","onboarding":{"step":1}}`), nil, nil)
		in.WriteString(`{"user_id":"` + id + `","public_metadata":{"plan":"pro"}}` + "\n") // removes onboarding
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in.String())
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	args := []string{"run", "--input", "in.ndjson", "--run-id", "guard", "--workers", "1", "--log-level", "warn"}
	got := runIn(t, dir, vars, append(args, "--max-removed-keys", "10")...)
	if got.code != exitAborted || !strings.Contains(got.stderr, "public_metadata.onboarding") || !strings.Contains(got.stderr, "max-removed-keys") {
		t.Fatalf("exit %d, want 3 naming the guard and the path\n%s", got.code, got.stderr)
	}
	if n := srv.Stats().ByMethod["PUT"]; n != 10 {
		t.Errorf("%d writes before the guard, want 10", n)
	}
	got = runIn(t, dir, vars, append(args, "--max-removed-keys", "30")...)
	if got.code != exitOK {
		t.Fatalf("resume with a higher limit: exit %d\n%s", got.code, got.stderr)
	}
	if res := results(t, got.runDir(t)); len(res) != 30 || srv.Stats().ByMethod["PUT"] != 30 {
		t.Errorf("%d results, %d writes, want 30 of each", len(res), srv.Stats().ByMethod["PUT"])
	}
	if sum := readSummary(t, got.runDir(t)); sum.Removed != 30 || len(sum.TopRemoved) != 1 || sum.TopRemoved[0].Users != 30 {
		t.Errorf("summary removed %d, top %+v", sum.Removed, sum.TopRemoved)
	}
}
