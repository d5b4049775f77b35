package job

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestDrift: applying a plan (a baseline of what it read) over users
// changed since: a field changed is drifted and not written; one already
// holding the row's value is unchanged; a user that appeared since is
// drifted; one that vanished fails with resource_not_found; a change to
// another field never blocks.
func TestDrift(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	seed := map[string]string{
		"user_same": `{"a":1}`, "user_changed": `{"a":1}`, "user_applied": `{"a":1}`,
		"user_otherfield": `{"a":1}`, "user_vanished": `{"a":1}`,
	}
	b := NewBaseline()
	for id, v := range seed {
		srv.AddUser(id, []byte(v), []byte(`{"p":1}`), nil)
		b.Expect(id, clerkapi.Metadata{clerkapi.Public: []byte(v)}) // what the plan read
	}
	b.Missing("user_appeared")
	b.Seal()
	// Behind the tool's back, after the plan:
	srv.AddUser("user_changed", []byte(`{"a":1,"someone":"else"}`), []byte(`{"p":1}`), nil)
	srv.AddUser("user_applied", []byte(`{"a":2}`), []byte(`{"p":1}`), nil)
	srv.AddUser("user_otherfield", []byte(`{"a":1}`), []byte(`{"p":"changed"}`), nil)
	srv.DeleteUser("user_vanished")
	srv.AddUser("user_appeared", []byte(`{}`), nil, nil)
	lines := []string{
		`{"user_id":"user_same","public_metadata":{"a":2}}`,
		`{"user_id":"user_changed","public_metadata":{"a":2}}`,
		`{"user_id":"user_applied","public_metadata":{"a":2}}`,
		`{"user_id":"user_otherfield","public_metadata":{"a":2}}`,
		`{"user_id":"user_vanished","public_metadata":{"a":2}}`,
		`{"user_id":"user_appeared","public_metadata":{"a":2}}`,
		`{"user_id":"user_same","public_metadata":{"a":3}}`, // the run's own write: no drift check
	}
	rec := newMemRecorder()
	mustRun(t, newJob(url, Options{Workers: 3, Baseline: b}), ndjson(t, lines...), rec)
	want := []struct {
		status reports.Status
		code   string
	}{
		{reports.Succeeded, ""}, {reports.Drifted, CodeDrifted}, {reports.Unchanged, ""}, {reports.Succeeded, ""},
		{reports.Failed, CodeNotFound}, {reports.Drifted, CodeDrifted}, {reports.Succeeded, ""},
	}
	for i, w := range want {
		if r := rec.results[i+1]; r.Status != w.status || r.ErrorCode != w.code {
			t.Errorf("row %d (%s): %s %s %q, want %s %s", i+1, lines[i], r.Status, r.ErrorCode, r.ErrorMessage, w.status, w.code)
		}
	}
	if r := rec.results[2]; !strings.Contains(r.ErrorMessage, "public_metadata") {
		t.Errorf("drifted row's message does not name the field: %q", r.ErrorMessage)
	}
	if u, _ := srv.User("user_changed"); string(u.Public) != `{"a":1,"someone":"else"}` {
		t.Errorf("a drifted user was written: %s", u.Public)
	}
	if u, _ := srv.User("user_same"); string(u.Public) != `{"a":3}` {
		t.Errorf("user_same = %s, want its last row", u.Public)
	}
}

// TestCanary: --canary 5 sends exactly the first five rows that need a
// write, in input order (rows already holding their value in between end
// unchanged), then stops; a run without it writes the rest once each.
func TestCanary(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{RecordRequests: true})
	var lines []string
	needs := map[int]bool{}
	for i := 1; i <= 25; i++ {
		srv.AddUser(fmt.Sprintf("user_c%d", i), []byte(`{}`), nil, nil)
	}
	for i := 1; i <= 40; i++ {
		id := fmt.Sprintf("user_c%d", (i-1)%25+1) // rows 26 to 40 are users' second rows
		v := fmt.Sprintf(`{"i":%d}`, i)
		if i%3 == 0 && i <= 25 {
			srv.AddUser(id, []byte(v), nil, nil) // already holds it
		} else {
			needs[i] = true
		}
		lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":%s}`, id, v))
	}
	rec := newMemRecorder()
	st, err := newJob(url, Options{Workers: 8, Canary: 5}).Run(t.Context(), ndjson(t, lines...), rec)
	var se *StopError
	if !errors.As(err, &se) || !se.Canary || st.Complete() {
		t.Fatalf("canary run: %v, %+v", err, st)
	}
	var written []int
	for n, r := range rec.results {
		if r.Status == reports.Succeeded {
			written = append(written, n)
		}
	}
	first := []int{}
	for i := 1; len(first) < 5; i++ {
		if needs[i] {
			first = append(first, i)
		}
	}
	if fmt.Sprint(slices.Sorted(slices.Values(written))) != fmt.Sprint(first) || srv.Stats().ByMethod["PUT"] != 5 {
		t.Errorf("canary wrote rows %v (%d PUTs), want exactly %v", slices.Sorted(slices.Values(written)), srv.Stats().ByMethod["PUT"], first)
	}
	next := rec.resume()
	mustRun(t, newJob(url, Options{Workers: 8}), ndjson(t, lines...), next)
	if len(next.results) != 40 || len(next.twice) > 0 || srv.Stats().ByMethod["PUT"] != int64(len(needs)) {
		t.Errorf("after the canary: %d results, twice %v, %d writes for %d rows that need one",
			len(next.results), next.twice, srv.Stats().ByMethod["PUT"], len(needs))
	}
}

// TestVerifyMismatch: a write Clerk stores differently from what was sent
// fails with verify_mismatch, naming the field, and is not retried.
func TestVerifyMismatch(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	srv.AddUser("user_v", []byte(`{}`), nil, nil)
	srv.AddUser("user_ok", []byte(`{}`), nil, nil)
	srv.SetFault(func(r *http.Request) emulator.Fault {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "user_v/") {
			return emulator.FaultStoreDifferent
		}
		return emulator.FaultNone
	})
	rec := newMemRecorder()
	mustRun(t, newJob(url, Options{Workers: 2}), ndjson(t,
		`{"user_id":"user_v","public_metadata":{"a":1,"b":2}}`,
		`{"user_id":"user_ok","public_metadata":{"a":1,"b":2}}`,
	), rec)
	r := rec.results[1]
	if r.Status != reports.Failed || r.ErrorCode != CodeVerifyMismatch || r.Attempts != 1 || !strings.Contains(r.ErrorMessage, "public_metadata") {
		t.Errorf("stored differently: %+v", r)
	}
	if r := rec.results[2]; r.Status != reports.Succeeded {
		t.Errorf("stored as sent: %+v", r)
	}
}
