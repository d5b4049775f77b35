package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/reports"
)

// updateGolden rewrites the golden files: go test ./cmd/replace-metadata
// -run Golden -update.
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -run Golden -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// transcript is a run of the command as a golden file holds it: the
// command line, the exit code, stdout and stderr, then any files named,
// with each placeholder's value (a temporary path) put back as its name.
func transcript(t *testing.T, args []string, r result, placeholders map[string]string, files ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "$ replace-metadata %s\nexit %d\n", strings.Join(args, " "), r.code)
	section := func(name, text string) {
		fmt.Fprintf(&b, "-- %s --\n%s", name, text)
		if text != "" && !strings.HasSuffix(text, "\n") {
			b.WriteString("\n[no line break at the end]\n")
		}
	}
	section("stdout", r.stdout)
	section("stderr", r.stderr)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		section(f, string(data))
	}
	out := b.String()
	for name, value := range placeholders {
		out = strings.ReplaceAll(out, value, name)
	}
	return out
}

// TestGoldenHelp: help, --help and -h print the list of commands on
// stdout and exit 0 (no arguments at all print it on stderr, exit 2);
// each command's --help, -h and help <command> print its own help: its
// flags and an example.
func TestGoldenHelp(t *testing.T) {
	t.Parallel()
	same := func(name string, argss ...[]string) {
		t.Helper()
		var text string
		for _, args := range argss {
			got := runInProcess(t, nil, "", args...)
			if got.code != exitOK || got.stderr != "" {
				t.Errorf("%q: exit %d, stderr %q; want exit 0 and nothing on stderr", args, got.code, got.stderr)
			}
			if text == "" {
				text = got.stdout
			} else if got.stdout != text {
				t.Errorf("%q prints other help than %q:\n%s", args, argss[0], got.stdout)
			}
		}
		golden(t, name, text)
	}
	same("help.golden", []string{"help"}, []string{"--help"}, []string{"-h"})
	for _, c := range commands {
		same("help-"+c.name+".golden", []string{c.name, "--help"}, []string{c.name, "-h"}, []string{"help", c.name})
	}
	list := runInProcess(t, nil, "", "help")
	if got := runInProcess(t, nil, ""); got.code != exitUsage || got.stdout != "" || got.stderr != list.stdout {
		t.Errorf("no arguments: exit %d (want %d), stdout %q, stderr:\n%s\nwant the list of commands on stderr", got.code, exitUsage, got.stdout, got.stderr)
	}
	if got := runInProcess(t, nil, "", "report", "--help"); strings.Contains(got.stderr, "no summary.json") {
		t.Errorf("report --help looked for a run folder called --help:\n%s", got.stderr)
	}
}

// TestGoldenValidate: what validate prints for inputs with valid rows,
// every kind of invalid one, a repeated user, quoted line breaks and
// empty lines; for spreadsheets' files (';' and tab, trailing empty
// columns, columns kept for people, their names for the tool's columns);
// and for files that name users by external_id and email_address.
func TestGoldenValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		golden string
		args   []string
	}{
		{"validate-csv.golden", []string{"validate", "--input", "testdata/validate.csv"}},
		{"validate-ndjson.golden", []string{"validate", "--input", "testdata/validate.ndjson"}},
		{"validate-reject-duplicates.golden", []string{"validate", "--input", "testdata/validate.ndjson", "--reject-duplicates"}},
		{"validate-semicolon.golden", []string{"validate", "--input", "testdata/spreadsheet-semicolon.csv", "--ignore-columns", "email"}},
		{"validate-tab.golden", []string{"validate", "--input", "testdata/spreadsheet-tab.csv"}},
		{"validate-spreadsheet-names.golden", []string{"validate", "--input", "testdata/spreadsheet-names.csv"}},
		{"validate-external-id.golden", []string{"validate", "--input", "testdata/external-id.csv", "--reject-duplicates"}},
		{"validate-email.golden", []string{"validate", "--input", "testdata/email.ndjson", "--ignore-columns", "name"}},
	} {
		t.Run(c.golden, func(t *testing.T) {
			t.Parallel()
			golden(t, c.golden, transcript(t, c.args, runInProcess(t, nil, "", c.args...), nil))
		})
	}
}

// TestGoldenReport: what report prints, and report --json, for a
// finished run folder, for a sharded run whose middle shard has not run
// (with the failed rows it merges), and for a run killed mid-way, whose
// summary.json was never settled: its counts come from results.csv.
func TestGoldenReport(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	type row struct {
		res reports.Result
		raw string
	}
	// writeRun writes a run folder as a session leaves it; unsettled
	// leaves the summary as a killed session does: behind, not settled.
	writeRun := func(t *testing.T, dir, format, header string, rows []row, sum reports.Summary, unsettled bool) {
		t.Helper()
		w, err := reports.Open(dir, reports.Options{Format: format, Header: []byte(header)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := w.Record(r.res, []byte(r.raw)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sum.Command, sum.Format, sum.ToolVersion, sum.Sessions = "run", format, "v1.2.3", cmp.Or(sum.Sessions, 1)
		if !unsettled {
			sum.Counts = w.Counts()
			sum.Total = max(sum.Total, sum.Counts.Total())
		}
		if err := reports.WriteSummary(dir, sum); err != nil {
			t.Fatal(err)
		}
	}
	ok := func(n int, id string) row {
		return row{reports.Result{Row: n, Line: n + 1, UserID: id, Status: reports.Succeeded, HTTPStatus: 200, Attempts: 1}, ""}
	}
	// report runs report and report --json in wd on the run folder dir.
	report := func(t *testing.T, name, wd, dir string, files ...string) {
		t.Helper()
		args := []string{"report", dir}
		golden(t, name+".golden", transcript(t, args, runIn(t, wd, nil, args...), map[string]string{"$WD": wd}, files...))
		args = []string{"report", "--json", dir}
		golden(t, name+"-json.golden", transcript(t, args, runIn(t, wd, nil, args...), map[string]string{"$WD": wd}))
	}

	t.Run("report-run", func(t *testing.T) {
		t.Parallel()
		wd := t.TempDir()
		dir := filepath.Join("runs", "20261126T120000Z")
		writeRun(t, filepath.Join(wd, dir), "csv", "user_id,public_metadata\n", []row{
			ok(1, "user_1"),
			{reports.Result{Row: 2, Line: 3, UserID: "user_2", Status: reports.Failed, HTTPStatus: 404, ErrorCode: "resource_not_found",
				ErrorMessage: "No user was found with id user_2", Attempts: 1}, "user_2,{}\n"},
			{reports.Result{Row: 3, Line: 4, UserID: "user_3", Status: reports.Invalid, ErrorCode: "invalid_json",
				ErrorMessage: "public_metadata: unexpected end of JSON"}, "user_3,\"{\n\"\"a\"\":}\"\n"},
			ok(4, "user_4"),
		}, reports.Summary{
			RunID: "20261126T120000Z", Input: "users.csv", Complete: true, Requests: 4, Writes: 3, Reads: 1, Retries: 1, RateLimited: 1,
			Start: start, End: start.Add(2 * time.Second), ElapsedSeconds: 2, AchievedRate: 2, ExitCode: exitRows,
		}, false)
		report(t, "report-run", wd, dir, filepath.Join(wd, dir, "failed.csv"))
	})

	t.Run("report-shards", func(t *testing.T) {
		t.Parallel()
		wd := t.TempDir()
		runDir := filepath.Join("runs", "nightly")
		shard := func(i int) string { return filepath.Join(wd, runDir, fmt.Sprintf("shard-%d-of-3", i)) }
		sum := reports.Summary{RunID: "nightly", Input: "users.ndjson", Complete: true, Start: start, End: start.Add(time.Minute)}
		sum.Requests, sum.Writes, sum.ExitCode = 2, 2, exitOK
		writeRun(t, shard(0), "ndjson", "", []row{ok(1, "user_1"), ok(3, "user_3")}, sum, false)
		sum.Requests, sum.Writes, sum.Retries, sum.ExitCode = 3, 3, 2, exitRows
		writeRun(t, shard(2), "ndjson", "", []row{
			ok(2, "user_2"),
			{reports.Result{Row: 4, Line: 5, UserID: "user_5", Status: reports.Failed, HTTPStatus: 422, ErrorCode: "form_param_value_invalid",
				ErrorMessage: "public_metadata is too large", Attempts: 1}, `{"user_id":"user_5","public_metadata":{"big":"…"}}`},
		}, sum, false)
		// Shard 1 has not run yet.
		report(t, "report-shards", wd, runDir, filepath.Join(wd, runDir, "failed.ndjson"))
	})

	t.Run("report-killed", func(t *testing.T) {
		t.Parallel()
		wd := t.TempDir()
		dir := filepath.Join("reports", "nightly-2")
		fail := func(n int, id, code, msg string) row {
			return row{reports.Result{Row: n, Line: n, UserID: id, Status: reports.Failed, HTTPStatus: 404, ErrorCode: code,
				ErrorMessage: msg, Attempts: 1}, fmt.Sprintf(`{"user_id":%q,"public_metadata":{}}`, id)}
		}
		rows := []row{
			{reports.Result{Row: 1, Line: 1, UserID: "user_1", Status: reports.Succeeded, HTTPStatus: 200, Attempts: 1, RemovedKeys: 2, ChangedKeys: 1}, ""},
			fail(2, "user_2", "resource_not_found", "No user was found with id user_2"),
			{reports.Result{Row: 3, Line: 3, UserID: "user_3", Status: reports.Unchanged}, ""},
			fail(4, "user_4", "resource_not_found", "No user was found with id user_4"),
			fail(5, "user_5", "http_502", "502 Bad Gateway"),
			fail(6, "user_6", "form_param_value_invalid", "public_metadata exceeds the maximum allowed size of 8KB: a message long enough to be cut short in the summary"),
			fail(7, "user_7", "timeout", "no response before the request timeout"),
			fail(8, "user_8", "network_error", "connection reset by peer"),
			fail(9, "user_9", "read_failed", "the user could not be read"),
		}
		sum := reports.Summary{RunID: "nightly-2", Input: "users.ndjson", Total: 12, Requests: 10, Reads: 1, Writes: 9,
			Counts:     reports.Counts{reports.Succeeded: 1, reports.Failed: 1}, // rewritten seconds before the kill
			TopRemoved: []reports.PathCount{{Path: "public_metadata.legacy", Users: 1}, {Path: `public_metadata["a.b"]`, Users: 1}},
			KeyCounts:  reports.KeyCounts{Removed: 2, Changed: 1},
			Start:      start, End: start.Add(90 * time.Second), Sessions: 2, AchievedRate: 4.5}
		writeRun(t, filepath.Join(wd, dir), "ndjson", "", rows, sum, true)
		writeFile(t, filepath.Join(wd, dir, reports.BackupFile), `{"user_id":"user_1","public_metadata":{"legacy":1}}`+"\n")
		// The line the kill tore.
		f, err := os.OpenFile(filepath.Join(wd, dir, reports.ResultsFile), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("10,10,user_10,succ")
		f.Close()
		report(t, "report-killed", wd, dir)
	})
}
