package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// caseRow is one user's row in the end-to-end input, with what the user's
// metadata must be afterwards.
type caseRow struct {
	id     string
	fields [3]string // "" = absent
	want   [3]string
}

var seedMetadata = [3]string{`{"old":"public","keep":1}`, `{"old":"private"}`, `{"old":"unsafe"}`}

// e2eRows builds rows for every combination of absent, null and {} over the
// three fields, and for values that trip careless encoders.
func e2eRows() []caseRow {
	values := []string{"", "null", "{}"}
	var rows []caseRow
	i := 0
	for _, a := range values {
		for _, b := range values {
			for _, c := range values {
				if a == "" && b == "" && c == "" {
					continue
				}
				i++
				rows = append(rows, caseRow{id: fmt.Sprintf("user_combo%d", i), fields: [3]string{a, b, c}})
			}
		}
	}
	awkward := []string{
		`{"nested":{"deep":{"deeper":[1,{"x":null}]}},"arr":[[],{}]}`,
		`{"big":9007199254740993,"neg":-9223372036854775809,"exp":1.0e2,"frac":0.10}`,
		`{"unicode":"h\u00e9llo \ud83d\ude00 😀 日本","html":"<script>&amp;</script>","esc":"a\"b\\c\/d\n"}`,
		`{"z":1,"a":2,"m":{"b":1,"a":2}}`,
	}
	for j, v := range awkward {
		rows = append(rows, caseRow{id: fmt.Sprintf("user_awkward%d", j), fields: [3]string{v, "", v}})
	}
	for k := range rows {
		for f := range 3 {
			rows[k].want[f] = seedMetadata[f]
			if rows[k].fields[f] != "" {
				rows[k].want[f] = rows[k].fields[f]
			}
		}
	}
	return rows
}

var fieldNames = [3]string{"public_metadata", "private_metadata", "unsafe_metadata"}

func e2eNDJSON(rows []caseRow) string {
	var b strings.Builder
	for _, r := range rows {
		parts := []string{`"user_id":"` + r.id + `"`}
		for f, v := range r.fields {
			if v != "" {
				parts = append(parts, fmt.Sprintf("%q:%s", fieldNames[f], v))
			}
		}
		b.WriteString("{" + strings.Join(parts, ",") + "}\n")
	}
	return b.String()
}

func e2eCSV(rows []caseRow) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"unsafe_metadata", "user_id", "private_metadata", "public_metadata"})
	for _, r := range rows {
		w.Write([]string{r.fields[2], r.id, r.fields[1], r.fields[0]})
	}
	w.Flush()
	return b.String()
}

// TestEndToEnd runs the built command against the emulator over real HTTP,
// for both formats, and compares the emulator's final store with what each
// row should have produced.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	rows := e2eRows()
	for _, format := range []string{"ndjson", "csv"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, emulator.Config{Latency: 2 * 1e6})
			for _, r := range rows {
				srv.AddUser(r.id, json.RawMessage(seedMetadata[0]), json.RawMessage(seedMetadata[1]), json.RawMessage(seedMetadata[2]))
			}
			dir := t.TempDir()
			data := e2eNDJSON(rows)
			if format == "csv" {
				data = e2eCSV(rows)
			}
			writeFile(t, filepath.Join(dir, "in."+format), data)
			got := runIn(t, dir, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url},
				"run", "--input", "in."+format, "--run-id", "e2e", "--rate", "unlimited")
			if got.code != exitOK {
				t.Fatalf("exit %d\nstderr:\n%s", got.code, got.stderr)
			}
			runDir := got.runDir(t)
			if runDir != filepath.Join(dir, "runs", "e2e") {
				t.Errorf("run folder %q, want runs/e2e", runDir)
			}
			for _, r := range rows {
				u, ok := srv.User(r.id)
				if !ok {
					t.Fatalf("user %s gone", r.id)
				}
				for f, stored := range [][]byte{u.Public, u.Private, u.Unsafe} {
					if !sameJSON(stored, []byte(r.want[f])) {
						t.Errorf("%s %s = %s, want %s", r.id, fieldNames[f], stored, r.want[f])
					}
				}
			}
			sum := readSummary(t, runDir)
			if sum.Total != len(rows) || sum.Counts[reports.Succeeded] != len(rows) || !sum.Complete || sum.ExitCode != 0 || sum.Writes != int64(len(rows)) || sum.Requests != sum.Reads+sum.Writes || sum.Reads > 4 {
				t.Errorf("summary %+v", sum)
			}
			res := results(t, runDir)
			if len(res) != len(rows) {
				t.Errorf("%d results for %d rows", len(res), len(rows))
			}
			if st := srv.Stats(); st.ByMethod["PATCH"] != 0 || st.WritesApplied != int64(len(rows)) {
				t.Errorf("emulator saw %d PATCH and applied %d writes", st.ByMethod["PATCH"], st.WritesApplied)
			}
		})
	}
}

// TestReRunFailed: failed.<ext> re-runs exactly the failed and invalid rows.
func TestReRunFailed(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"ndjson", "csv"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, emulator.Config{})
			srv.AddUser("user_here", nil, nil, nil)
			dir := t.TempDir()
			data := `{"user_id":"user_here","public_metadata":{"a":1}}
{"user_id":"user_gone","public_metadata":{"a":2}}

{"user_id":"user_here","public_metadata":[1]}
`
			if format == "csv" {
				data = "user_id,public_metadata\r\nuser_here,\"{\"\"a\"\":1}\"\r\nuser_gone,\"{\"\"a\"\":2}\"\r\nuser_here,\"[1,\n2]\"\r\n"
			}
			writeFile(t, filepath.Join(dir, "in."+format), data)
			vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
			first := runIn(t, dir, vars, "run", "--input", "in."+format, "--run-id", "first")
			if first.code != exitRows {
				t.Fatalf("first run exit %d, want 1\n%s", first.code, first.stderr)
			}
			sum := readSummary(t, first.runDir(t))
			if sum.Counts[reports.Succeeded] != 1 || sum.Counts[reports.Failed] != 1 || sum.Counts[reports.Invalid] != 1 {
				t.Errorf("first run summary %+v", sum)
			}
			failed := filepath.Join(first.runDir(t), reports.FailedFile(format))
			b, _ := os.ReadFile(failed)
			if strings.Contains(string(b), `"a":1`) || strings.Contains(string(b), `""a"":1`) {
				t.Errorf("succeeded row in %s:\n%s", failed, b)
			}
			srv.AddUser("user_gone", nil, nil, nil)
			second := runIn(t, dir, vars, "run", "--input", failed, "--run-id", "second")
			sum = readSummary(t, second.runDir(t))
			if sum.Total != 2 || sum.Counts[reports.Succeeded] != 1 || sum.Counts[reports.Invalid] != 1 {
				t.Errorf("re-run of %s: summary %+v\n%s", failed, sum, second.stderr)
			}
		})
	}
}

// TestSandbox is the README's first command, on the shipped example.
func TestSandbox(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs("../..")
	reportDir := t.TempDir()
	got := runIn(t, root, nil, "run", "--sandbox", "--report-dir", reportDir, "--log-format", "json")
	if got.code != exitRows {
		t.Fatalf("sandbox exit %d, want 1 (the example has one invalid row)\nstderr:\n%s", got.code, got.stderr)
	}
	dir := got.runDir(t)
	sum := readSummary(t, dir)
	if sum.Counts[reports.Invalid] != 1 || sum.Counts[reports.Failed] != 0 || sum.Counts[reports.Succeeded] != sum.Total-1 || !sum.Complete {
		t.Errorf("sandbox summary %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dir, "sandbox-users.ndjson")); err != nil {
		t.Error(err)
	}
	if !strings.Contains(got.stderr, `"key":"sandbox"`) {
		t.Errorf("start line does not say sandbox:\n%s", got.stderr)
	}
}

// TestWrongKeyAborts: a key Clerk rejects (401) or forbids (403) stops the
// command after a handful of requests, exit 4, with a message naming the
// cause, for the read and for the blind write alike.
func TestWrongKeyAborts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  emulator.Config
		args []string
	}{
		{"401", emulator.Config{Keys: []string{"sk_test_theotherkey123"}, AutoCreate: true}, nil},
		{"403", emulator.Config{ForbiddenKeys: []string{testKey}, AutoCreate: true}, nil},
		{"401 no-read", emulator.Config{Keys: []string{"sk_test_theotherkey123"}, AutoCreate: true}, []string{"--no-read"}},
		{"403 no-read", emulator.Config{ForbiddenKeys: []string{testKey}, AutoCreate: true}, []string{"--no-read"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, tt.cfg)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "in.ndjson"), manyRows(300, 300))
			got := runIn(t, dir, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url},
				append([]string{"run", "--input", "in.ndjson", "--workers", "16", "--rate", "unlimited"}, tt.args...)...)
			if got.code != exitKeyRefused || !strings.Contains(got.stderr, "rejected the secret key") {
				t.Fatalf("exit %d, want 4 naming the key\nstderr:\n%s", got.code, got.stderr)
			}
			if n := srv.Stats().Requests; n > 3 {
				t.Errorf("%d requests with a rejected key, want a handful", n)
			}
			sum := readSummary(t, got.runDir(t))
			if sum.Counts[reports.Failed] != 0 || sum.Complete || sum.ExitCode != exitKeyRefused {
				t.Errorf("summary %+v: want no row failed, not complete, exit 4", sum)
			}
		})
	}
}
