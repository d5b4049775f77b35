package reports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gocarina/gocsv"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func mustOpen(t testing.TB, dir string, opts Options) *Writer {
	t.Helper()
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sample is one of each kind of outcome, with the awkward characters a
// report must survive.
var sample = []struct {
	res Result
	raw string
}{
	{Result{Row: 1, Line: 1, UserID: "user_1", Status: Succeeded, HTTPStatus: 200, Attempts: 1, DurationMS: 12, TraceID: "trace_a"},
		`{"user_id":"user_1","public_metadata":{}}`},
	{Result{Row: 2, Line: 3, UserID: "user_2", Status: Failed, HTTPStatus: 404, ErrorCode: "resource_not_found",
		ErrorMessage: "No user was found with id user_2", Attempts: 1, DurationMS: 8, TraceID: "trace_b"},
		`{"user_id":"user_2","private_metadata":null}`},
	{Result{Row: 3, Line: 4, UserID: "user_3\n,\"x\"", Status: Invalid, ErrorCode: "invalid_user_id",
		ErrorMessage: "user_id \"user_3\\n\" is not, a Clerk user id\r\nsecond line"},
		`{"user_id":"user_3\n,\"x\"","public_metadata":{}}`},
	{Result{Row: 4, Line: 5, UserID: "user_4", Status: Failed, HTTPStatus: 502, ErrorCode: "http_502",
		ErrorMessage: "502 Bad Gateway", Attempts: 5, DurationMS: 3100},
		`{"user_id":"user_4","unsafe_metadata":{"a":"é"}}`},
}

func TestGoldenNDJSON(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run")
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	for _, s := range sample {
		w.Record(s.res, []byte(s.raw))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "results.csv", read(t, filepath.Join(dir, ResultsFile)))
	golden(t, "failed.ndjson", read(t, filepath.Join(dir, "failed.ndjson")))
	if c := w.Counts(); c != (Counts{Succeeded: 1, Failed: 2, Invalid: 1}) {
		t.Errorf("Counts = %+v", c)
	}
}

func TestGoldenCSV(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run")
	w := mustOpen(t, dir, Options{Format: "csv", Header: []byte("user_id,public_metadata\r\n")})
	w.Record(Result{Row: 1, Line: 2, UserID: "user_1", Status: Succeeded, HTTPStatus: 200, Attempts: 1}, []byte("user_1,{}\r\n"))
	w.Record(Result{Row: 2, Line: 3, UserID: "user_2", Status: Invalid, ErrorCode: "invalid_json"}, []byte("user_2,\"{\n\"\"a\"\":}\"\r\n"))
	w.Record(Result{Row: 3, Line: 5, UserID: "user_3", Status: Failed, HTTPStatus: 422, ErrorCode: "form_param_value_invalid"}, []byte("user_3,null"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "failed.csv", read(t, filepath.Join(dir, "failed.csv")))
}

func TestGoldenSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s := Summary{
		RunID: "20261126T120000Z", ToolVersion: "v1.0.0", Input: "input/example.ndjson", Format: "ndjson",
		InputSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		Total:       4, Counts: Counts{Succeeded: 1, Failed: 2, Invalid: 1}, Duplicates: 0, Complete: true,
		Requests: 9, Retries: 4, RateLimited: 1,
		Start: start, End: start.Add(3 * time.Second), ElapsedSeconds: 3, AchievedRate: 3,
		Sessions: 1, ExitCode: 1,
	}
	if err := WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	got := read(t, filepath.Join(dir, SummaryFile))
	golden(t, "summary.json", got)
	back, err := ReadSummary(dir)
	if err != nil || back == nil || back.Counts != s.Counts || !back.End.Equal(s.End) {
		t.Errorf("ReadSummary = %+v, %v", back, err)
	}
	if none, err := ReadSummary(t.TempDir()); none != nil || err != nil {
		t.Errorf("ReadSummary of an empty folder = %v, %v; want nil, nil", none, err)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "reports", "run")
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	w.Record(sample[1].res, []byte(sample[1].raw))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := WriteSummary(dir, Summary{}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("run folder mode %v, want 0700", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
}

// TestModesTightened: a run folder and files left looser (by hand, or by
// an older tool) are 0700 and 0600 again once the run resumes.
func TestModesTightened(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run")
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	w.Record(sample[1].res, []byte(sample[1].raw))
	w.Close()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, ResultsFile), 0o644)
	os.Chmod(filepath.Join(dir, "failed.ndjson"), 0o644)
	w = mustOpen(t, dir, Options{Format: "ndjson"})
	w.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, ResultsFile): 0o600, filepath.Join(dir, "failed.ndjson"): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run")
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	for _, s := range sample[:3] {
		w.Record(s.res, []byte(s.raw))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash tore the last line.
	f, err := os.OpenFile(filepath.Join(dir, ResultsFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("4,5,user_4,succ")
	f.Close()

	w = mustOpen(t, dir, Options{Format: "ndjson"})
	if c := w.Counts(); c != (Counts{Succeeded: 1, Failed: 1, Invalid: 1}) {
		t.Errorf("resumed Counts = %+v", c)
	}
	// The input passes again: known rows are skipped, failures kept.
	for _, s := range sample {
		if w.Seen(s.res.Row, []byte(s.raw)) {
			continue
		}
		if s.res.Row != 4 {
			t.Errorf("row %d not seen on resume", s.res.Row)
		}
		w.Record(s.res, []byte(s.raw))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	results := string(read(t, filepath.Join(dir, ResultsFile)))
	if strings.Contains(results, "succ\n") || strings.Count(results, "\n") != 5 {
		t.Errorf("results after resume:\n%s", results)
	}
	for _, row := range []string{"\n1,", "\n2,", "\n3,", "\n4,"} {
		if strings.Count(results, row) != 1 {
			t.Errorf("row %q appears %d times in:\n%s", row[1:], strings.Count(results, row), results)
		}
	}
	// failed.ndjson is whole again: rows 2, 3 and 4, once each.
	golden(t, "failed.ndjson", read(t, filepath.Join(dir, "failed.ndjson")))
}

func TestLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{Format: "csv"})
	if _, err := Open(dir, Options{Format: "csv"}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	w.Close()
	w = mustOpen(t, dir, Options{Format: "csv"})
	w.Close()
}

func TestDamagedResults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ResultsFile), []byte("row,line,user_id,status\n1,\"2\n"), 0o600)
	if _, err := Open(dir, Options{Format: "csv"}); err == nil {
		t.Error("Open over a damaged results.csv succeeded")
	}
}

// TestRecordBesideBackup: a result is written while a backup holds the
// backup file (its sync under way): the two commits are apart. Were they
// not, this test would hang.
func TestRecordBesideBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	w.backupMu.Lock()
	err := w.Record(sample[0].res, []byte(sample[0].raw))
	w.backupMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Backup("user_1", clerkapi.Metadata{clerkapi.Public: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, filepath.Join(dir, BackupFile))); got != `{"user_id":"user_1","public_metadata":{"a":1}}`+"\n" {
		t.Errorf("backup.ndjson: %q", got)
	}
	if got := string(read(t, filepath.Join(dir, ResultsFile))); !strings.Contains(got, "\n1,1,user_1,succeeded,") {
		t.Errorf("results.csv: %q", got)
	}
}

// TestResultCSV: a result's line of results.csv, written without gocsv's
// reflection, is the line gocsv writes, cells in the order of the header.
func TestResultCSV(t *testing.T) {
	t.Parallel()
	results := []Result{{Row: 7, Line: 9, UserID: "user_7", Status: Unchanged, RemovedKeys: 1, AddedKeys: 22, ChangedKeys: 333,
		DurationMS: 1 << 40, ErrorMessage: " lead, \"quoted\" ", TraceID: "t"}}
	for _, s := range sample {
		results = append(results, s.res)
	}
	for _, r := range results {
		var want bytes.Buffer
		if err := gocsv.MarshalCSVWithoutHeaders([]Result{r}, gocsv.NewSafeCSVWriter(csv.NewWriter(&want))); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		cw := csv.NewWriter(&got)
		cw.Write(r.appendCSV(nil))
		cw.Flush()
		if got.String() != want.String() {
			t.Errorf("row %d:\n got %q\nwant %q", r.Row, got.String(), want.String())
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	w := mustOpen(b, b.TempDir(), Options{Format: "ndjson"})
	defer w.Close()
	r := sample[0].res
	raw := []byte(sample[0].raw)
	b.ReportAllocs()
	for i := range b.N {
		r.Row = i + 1
		w.Record(r, raw)
	}
}

// TestSpreadsheetSafe: a cell of results.csv that a spreadsheet would run
// as a formula (=, +, -, @, tab, CR first) is written with a leading ',
// and reads back as it was, so a resume still works.
func TestSpreadsheetSafe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	starts := []string{"=", "+", "-", "@", "\t", "\r"}
	for i, c := range starts {
		w.Record(Result{Row: i + 1, Line: i + 1, UserID: c + "cmd|' /C calc'!A0", Status: Invalid,
			ErrorCode: "invalid_user_id", ErrorMessage: c + "HYPERLINK(\"http://x\")"}, []byte(`{}`))
	}
	w.Record(Result{Row: 7, Line: 7, UserID: "user_ok", Status: Succeeded, TraceID: "-trace"}, []byte(`{}`))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := read(t, filepath.Join(dir, ResultsFile))
	r := csv.NewReader(strings.NewReader(string(b)))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		for _, col := range []int{2, 6, 9} { // user_id, error_message, clerk_trace_id
			if c := rec[col]; c != "" && strings.IndexByte("=+-@\t\r", c[0]) >= 0 {
				t.Errorf("cell %q of row %s starts a formula", c, rec[0])
			}
		}
	}
	var back []Result
	if err := ReadResults(dir, func(r *Result) { back = append(back, *r) }); err != nil {
		t.Fatal(err)
	}
	for i, c := range starts {
		// As written before the quote: ids escaped, messages on one line.
		id, msg := cleanID(c+"cmd|' /C calc'!A0"), oneLine(c+"HYPERLINK(\"http://x\")")
		if back[i].UserID != id || back[i].ErrorMessage != msg {
			t.Errorf("row %d read back as %q / %q, want %q / %q", i+1, back[i].UserID, back[i].ErrorMessage, id, msg)
		}
	}
	if back[6].TraceID != "-trace" {
		t.Errorf("trace id read back as %q", back[6].TraceID)
	}
	w = mustOpen(t, dir, Options{Format: "ndjson"}) // resume reads it
	if c := w.Counts(); c[Invalid] != 6 || c[Succeeded] != 1 {
		t.Errorf("resumed counts %v", c)
	}
	w.Close()
}

// gocsvResults is how results.csv was read before eachResult did it
// without reflection: the reference it is held to.
func gocsvResults(t *testing.T, data string) []Result {
	t.Helper()
	cr := csv.NewReader(strings.NewReader(data))
	um, err := gocsv.NewUnmarshaller(cr, Result{})
	if err != nil {
		t.Fatal(err)
	}
	var out []Result
	for {
		v, err := um.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		r := v.(Result)
		r.UserID, r.ErrorMessage, r.Key = unsafeCell(r.UserID), unsafeCell(r.ErrorMessage), unsafeCell(r.Key)
		r.ErrorCode, r.TraceID = unsafeCell(r.ErrorCode), unsafeCell(r.TraceID)
		out = append(out, r)
	}
}

// TestEachResultAsGocsv: results.csv reads back as gocsv read it: every
// column, quoting, formula escapes, an earlier version's file without the
// key column, a column this version does not know; a bad cell is an
// error that names its line and column.
func TestEachResultAsGocsv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	results := []Result{{Row: 1, Line: 2, UserID: "=cmd|' /C calc'!A0", Status: Failed, HTTPStatus: 422,
		ErrorCode: "+form", ErrorMessage: "a, \"quoted\"\nmessage 😀", Attempts: 3, DurationMS: 1 << 40,
		TraceID: "@t", RemovedKeys: 4, AddedKeys: 5, ChangedKeys: 6, Key: "-ext_1"}}
	for i, s := range sample {
		r := s.res
		r.Row = i + 2
		results = append(results, r)
	}
	for _, r := range results {
		if err := w.Record(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	data, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	header, rest, _ := strings.Cut(string(data), "\n")
	for name, file := range map[string]string{
		"now":        string(data),
		"no key":     strings.TrimSuffix(header, ",key") + "\n" + "1,2,user_a,succeeded,200,,,1,12,t,0,0,0\n",
		"extra col":  header + ",later\n" + strings.ReplaceAll(strings.TrimSuffix(rest, "\n"), "\n", ",x\n") + ",x\n",
		"empty ints": header + "\n" + "1,,user_a,succeeded,,,,,,,,,,user_a\n",
	} {
		var got []Result
		if err := eachResult(strings.NewReader(file), "results.csv", func(r *Result) { got = append(got, *r) }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := gocsvResults(t, file); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
		if name == "now" && len(got) != len(results) {
			t.Errorf("read back %d results, want %d", len(got), len(results))
		}
	}
	bad := header + "\n" + "1,2,user_a,succeeded,200,,,x,12,t,0,0,0,user_a\n"
	err = eachResult(strings.NewReader(bad), "results.csv", func(*Result) {})
	if err == nil || !strings.Contains(err.Error(), "line 2, column attempts") {
		t.Errorf("bad attempts cell: %v", err)
	}
}

func BenchmarkEachResult(b *testing.B) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write(strings.Split("row,line,user_id,status,http_status,error_code,error_message,attempts,duration_ms,clerk_trace_id,removed_keys,added_keys,changed_keys,key", ","))
	for i := range 10000 {
		r := sample[0].res
		r.Row = i + 1
		cw.Write(r.appendCSV(nil))
	}
	cw.Flush()
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for range b.N {
		n := 0
		if err := eachResult(bytes.NewReader(data), "results.csv", func(*Result) { n++ }); err != nil || n != 10000 {
			b.Fatal(n, err)
		}
	}
}
