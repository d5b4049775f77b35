package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// reviewCase seeds users whose fields hold null, {}, nested objects,
// unicode and integers above 2^53, and returns an input that changes them
// all (one user on two rows, over different fields).
func reviewCase(srv *emulator.Server) (start map[string][3]string, in string) {
	start = map[string][3]string{
		"user_a": {`null`, `{"p":1}`, `{}`},
		"user_b": {`{"n":9007199254740993,"deep":{"x":[1,{"y":null}]}}`, `{}`, `{"u":"J\u00e9r\u00f4me 😀"}`},
		"user_c": {`{}`, `null`, `{"k":1}`},
		"user_d": {`{"keep":true}`, `{"s":"x"}`, `{}`},
		"user_e": {`{"e":1}`, `{}`, `{}`},
		"user_f": {`{"f":1}`, `{}`, `{}`},
	}
	for id, f := range start {
		srv.AddUser(id, []byte(f[0]), []byte(f[1]), []byte(f[2]))
	}
	in = strings.Join([]string{
		`{"user_id":"user_a","public_metadata":{"a":1},"private_metadata":null}`,
		`{"user_id":"user_b","public_metadata":{"n":1},"unsafe_metadata":{}}`,
		`{"user_id":"user_c","public_metadata":null,"private_metadata":{"c":[1,2]}}`,
		`{"user_id":"user_d","public_metadata":{"d":1}}`,
		`{"user_id":"user_e","public_metadata":{"e":2}}`,
		`{"user_id":"user_f","public_metadata":{"f":2}}`,
		`{"user_id":"user_d","public_metadata":{"d":3},"private_metadata":{},"unsafe_metadata":{"d":2}}`,
	}, "\n") + "\n"
	return start, in
}

func storeIs(t *testing.T, srv *emulator.Server, want map[string][3]string, skip ...string) {
	t.Helper()
	for id, w := range want {
		if strings.Contains(strings.Join(skip, " "), id) {
			continue
		}
		u, _ := srv.User(id)
		for k, b := range [][]byte{u.Public, u.Private, u.Unsafe} {
			if string(b) != w[k] {
				t.Errorf("%s field %d = %s, want %s", id, k, b, w[k])
			}
		}
	}
}

// TestPlanApply: a plan applied over unchanged data writes exactly the
// planned rows; applying it again is harmless.
func TestPlanApply(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{RecordRequests: true})
	_, in := reviewCase(srv)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in)
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	if got := runIn(t, dir, vars, "plan", "--input", "in.ndjson", "--run-id", "p"); got.code != exitOK {
		t.Fatalf("plan: exit %d\n%s", got.code, got.stderr)
	}
	got := runIn(t, dir, vars, "run", "--plan", "runs/p")
	if got.code != exitOK {
		t.Fatalf("run --plan: exit %d\n%s", got.code, got.stderr)
	}
	if dir := got.runDir(t); !strings.HasSuffix(dir, filepath.Join("runs", "p")) {
		t.Errorf("applied in %s, want the plan's folder", dir)
	}
	if n := srv.Stats().ByMethod["PUT"]; n != 7 {
		t.Errorf("%d writes, want the 7 planned", n)
	}
	for _, f := range []string{reports.ResultsFile, reports.BackupFile, reports.PlanFile, reports.PlanSummaryFile} {
		if _, err := os.Stat(filepath.Join(dir, "runs", "p", f)); err != nil {
			t.Errorf("the plan's folder lacks %s: %v", f, err)
		}
	}
	// The same command again: every row already has its outcome.
	if again := runIn(t, dir, vars, "run", "--plan", "runs/p"); again.code != exitOK || srv.Stats().ByMethod["PUT"] != 7 {
		t.Errorf("run --plan again: exit %d, %d writes\n%s", again.code, srv.Stats().ByMethod["PUT"], again.stderr)
	}
}

// TestPlanRefused: a plan is applied only to its own input, against its
// own instance, with its own key; nothing is sent otherwise.
func TestPlanRefused(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	_, in := reviewCase(srv)
	other, otherURL := startEmulator(t, emulator.Config{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in)
	writeFile(t, filepath.Join(dir, "edited.ndjson"), in+`{"user_id":"user_a","public_metadata":{}}`+"\n")
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	if got := runIn(t, dir, vars, "plan", "--input", "in.ndjson", "--run-id", "p"); got.code != exitOK {
		t.Fatalf("plan: exit %d\n%s", got.code, got.stderr)
	}
	before := srv.Stats().Requests
	for _, tt := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"another input", vars, []string{"--input", "edited.ndjson"}, "sha256"},
		{"another instance", map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": otherURL}, nil, "made against"},
		{"another key", map[string]string{"CLERK_SECRET_KEY": "sk_test_anotherkey9876543210", "CLERK_API_URL": url}, nil, "another secret key"},
	} {
		got := runIn(t, dir, tt.vars, append([]string{"run", "--plan", "runs/p"}, tt.args...)...)
		if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) {
			t.Errorf("%s: exit %d, want 2 saying %q\n%s", tt.name, got.code, tt.want, got.stderr)
		}
	}
	if got := runIn(t, dir, vars, "run", "--plan", "runs/none"); got.code != exitUsage || !strings.Contains(got.stderr, "holds no plan") {
		t.Errorf("no plan: exit %d\n%s", got.code, got.stderr)
	}
	if srv.Stats().Requests != before || other.Stats().Requests != 0 {
		t.Error("a refused plan sent requests")
	}
}

// TestPlanDrift: users changed behind the tool's back between the plan
// and its apply: each drift case ends as described, and no drifted row is
// written.
func TestPlanDrift(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	_, in := reviewCase(srv)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in+`{"user_id":"user_new","public_metadata":{"n":1}}`+"\n")
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	if got := runIn(t, dir, vars, "plan", "--input", "in.ndjson", "--run-id", "p"); got.code != exitRows {
		t.Fatalf("plan: exit %d, want 1 (user_new is missing)\n%s", got.code, got.stderr)
	}
	srv.AddUser("user_e", []byte(`{"e":1,"since":"then"}`), []byte(`{}`), []byte(`{}`))   // changed
	srv.AddUser("user_f", []byte(`{"f":2}`), []byte(`{}`), []byte(`{}`))                  // already applied
	srv.AddUser("user_new", []byte(`{}`), nil, nil)                                       // appeared
	srv.DeleteUser("user_c")                                                              // vanished
	srv.AddUser("user_a", []byte(`null`), []byte(`{"p":1}`), []byte(`{"other":"field"}`)) // unrelated field
	got := runIn(t, dir, vars, "run", "--plan", "runs/p")
	if got.code != exitRows {
		t.Fatalf("run --plan: exit %d, want 1\n%s", got.code, got.stderr)
	}
	res := readResultLines(t, filepath.Join(dir, "runs", "p"))
	want := map[string]string{"user_a": "succeeded", "user_b": "succeeded", "user_c": "failed", "user_d": "succeeded",
		"user_e": "drifted", "user_f": "unchanged", "user_new": "drifted"}
	for _, r := range res {
		if w := want[r.userID]; r.status != w {
			t.Errorf("%s: %s (%s: %s), want %s", r.userID, r.status, r.code, r.message, w)
		}
		if r.status == "drifted" && !strings.Contains(r.message, "public_metadata") {
			t.Errorf("%s: drifted without naming the field: %q", r.userID, r.message)
		}
	}
	if u, _ := srv.User("user_e"); string(u.Public) != `{"e":1,"since":"then"}` {
		t.Errorf("a drifted user was written: %s", u.Public)
	}
	if u, _ := srv.User("user_new"); string(u.Public) != `{}` {
		t.Errorf("a user that appeared was written: %s", u.Public)
	}
	failed, _ := os.ReadFile(filepath.Join(dir, "runs", "p", "failed.ndjson"))
	if !strings.Contains(string(failed), "user_e") || !strings.Contains(string(failed), "user_new") {
		t.Errorf("failed.ndjson lacks the drifted rows:\n%s", failed)
	}
}

// TestCanaryCommand: --canary 5 writes exactly five and stops (exit 3)
// naming the command that goes on; that command writes the rest once.
func TestCanaryCommand(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	var in strings.Builder
	for i := range 30 {
		id := fmt.Sprintf("user_k%d", i)
		srv.AddUser(id, []byte(`{}`), nil, nil)
		fmt.Fprintf(&in, `{"user_id":%q,"public_metadata":{"i":%d}}`+"\n", id, i)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in.String())
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "c", "--canary", "5")
	if got.code != exitAborted || srv.Stats().ByMethod["PUT"] != 5 || !strings.Contains(got.stdout, "replace-metadata run --input in.ndjson --run-id c") {
		t.Fatalf("canary: exit %d, %d writes\nstdout:\n%s\nstderr:\n%s", got.code, srv.Stats().ByMethod["PUT"], got.stdout, got.stderr)
	}
	if strings.Count(got.stdout, ": succeeded") != 5 {
		t.Errorf("the canary's outcomes are not printed:\n%s", got.stdout)
	}
	if got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "c", "--canary", "5"); got.code != exitAborted || srv.Stats().ByMethod["PUT"] != 10 {
		t.Errorf("a second canary of 5: exit %d, %d writes in all, want 10", got.code, srv.Stats().ByMethod["PUT"])
	}
	got = runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "c")
	if got.code != exitOK || srv.Stats().ByMethod["PUT"] != 30 || len(results(t, got.runDir(t))) != 30 {
		t.Errorf("the rest: exit %d, %d writes\n%s", got.code, srv.Stats().ByMethod["PUT"], got.stderr)
	}
}

// TestVerifyCommand: verify reads back what the run wrote; it reports a
// user changed after the run, and an earlier write that Clerk applied
// late, over the same user's next row.
func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{LateDelay: 4 * time.Second})
	_, in := reviewCase(srv)
	// The first write of user_d hangs until the client gives up (its
	// timeout is 300ms), and lands 4s after it arrived: after the retry
	// (within a second), and after user_d's next row.
	var late atomic.Bool
	srv.SetFault(func(r *http.Request) emulator.Fault {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "user_d/") && late.CompareAndSwap(false, true) {
			return emulator.FaultApplyLate
		}
		return emulator.FaultNone
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in)
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "v", "--timeout", "300ms", "--workers", "1", "--rate", "unlimited")
	if got.code != exitOK {
		t.Fatalf("run: exit %d\n%s", got.code, got.stderr)
	}
	if err := srv.WaitLateWrites(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := runIn(t, dir, vars, "verify", "runs/v"); got.code != exitRows || !strings.Contains(got.stdout, "1 mismatch") {
		t.Errorf("verify after a late write: exit %d, want 1 and one mismatch\n%s\n%s", got.code, got.stdout, got.stderr)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "runs", "v", reports.VerifyFile))
	if !strings.Contains(string(csv), "user_d,public_metadata,mismatch") {
		t.Errorf("verify.csv:\n%s", csv)
	}
	// Put user_d right, change user_b behind the tool's back.
	srv.AddUser("user_d", []byte(`{"d":3}`), []byte(`{}`), []byte(`{"d":2}`))
	srv.AddUser("user_b", []byte(`{"n":2}`), []byte(`{}`), []byte(`{}`))
	got = runIn(t, dir, vars, "verify", "runs/v")
	csv, _ = os.ReadFile(filepath.Join(dir, "runs", "v", reports.VerifyFile))
	if got.code != exitRows || !strings.Contains(string(csv), "user_b,public_metadata,mismatch,,,\"[\"\"public_metadata.n\"\"]\"") ||
		strings.Contains(string(csv), "user_d,public_metadata,mismatch") {
		t.Errorf("verify after an edit: exit %d\n%s", got.code, csv)
	}
	srv.AddUser("user_b", []byte(`{"n":1}`), []byte(`{}`), []byte(`{}`))
	if got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "v2", "--verify"); got.code != exitOK {
		t.Errorf("run --verify over a store that holds it: exit %d\n%s", got.code, got.stderr)
	}
}

// TestRollback: a rollback after a run leaves the store byte-equal to
// where it started, skips a user changed since (unless --force), and a
// rollback of the rollback applies the run again.
func TestRollback(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	start, in := reviewCase(srv)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in)
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	if got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "r"); got.code != exitOK {
		t.Fatalf("run: exit %d\n%s", got.code, got.stderr)
	}
	after := map[string][3]string{}
	for id := range start {
		u, _ := srv.User(id)
		after[id] = [3]string{string(u.Public), string(u.Private), string(u.Unsafe)}
	}
	srv.AddUser("user_e", []byte(`{"edited":"since"}`), []byte(`{}`), []byte(`{}`))
	got := runIn(t, dir, vars, "rollback", "runs/r")
	if got.code != exitRows {
		t.Fatalf("rollback: exit %d, want 1 (user_e drifted)\n%s", got.code, got.stderr)
	}
	storeIs(t, srv, start, "user_e")
	if u, _ := srv.User("user_e"); string(u.Public) != `{"edited":"since"}` {
		t.Errorf("the rollback wrote over a user changed since: %s", u.Public)
	}
	if res := readResultLines(t, filepath.Join(dir, "runs", "r-rollback")); len(res) != 7 {
		t.Errorf("%d rollback results, want one per backup line", len(res))
	}
	// --force puts user_e back too, in a rollback run of its own.
	if got := runIn(t, dir, vars, "rollback", "runs/r", "--force", "--run-id", "r-force"); got.code != exitOK {
		t.Fatalf("rollback --force: exit %d\n%s", got.code, got.stderr)
	}
	storeIs(t, srv, start)
	// Rolling the first rollback back applies the run again (but for
	// user_e, which it never wrote: left as it is).
	if got := runIn(t, dir, vars, "rollback", "runs/r-rollback"); got.code != exitOK {
		t.Fatalf("rollback of the rollback: exit %d\n%s", got.code, got.stderr)
	}
	storeIs(t, srv, after, "user_e")
}

// TestRollbackSkipsWhatTheRunNeverWrote: a row whose write failed after
// its backup (the user deleted in between: 404) left the user as it was,
// so rolling back has nothing to put back there: it is not drifted, and
// the rollback exits 0.
func TestRollbackSkipsWhatTheRunNeverWrote(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	start, in := reviewCase(srv)
	srv.SetFault(func(r *http.Request) emulator.Fault {
		if r.Method == http.MethodPatch || r.Method == http.MethodPut {
			if strings.Contains(r.URL.Path, "/user_f/") {
				srv.DeleteUser("user_f")
			}
		}
		return emulator.FaultNone
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), in)
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	if got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "r"); got.code != exitRows {
		t.Fatalf("run: exit %d, want 1 (user_f's write failed)\n%s", got.code, got.stderr)
	}
	srv.SetFault(nil)
	f := start["user_f"]
	srv.AddUser("user_f", []byte(f[0]), []byte(f[1]), []byte(f[2])) // back, as it was
	got := runIn(t, dir, vars, "rollback", "runs/r")
	if got.code != exitOK {
		t.Fatalf("rollback: exit %d, want 0\n%s", got.code, got.stderr)
	}
	storeIs(t, srv, start)
	if b, _ := os.ReadFile(filepath.Join(dir, "runs", "r", "backup.ndjson")); !strings.Contains(string(b), `"user_f"`) {
		t.Fatalf("user_f is not in the backup, so the case is not made:\n%s", b)
	}
	seen := false
	for _, res := range readResultLines(t, filepath.Join(dir, "runs", "r-rollback")) {
		if res.userID == "user_f" {
			seen = true
			if res.status != "unchanged" {
				t.Errorf("rollback of user_f: %s %s %s; the run never wrote it", res.status, res.code, res.message)
			}
		}
	}
	if !seen {
		t.Error("no rollback result for user_f")
	}
}
