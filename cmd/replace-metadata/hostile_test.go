package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// verdict is an invalid row as a report names it.
type verdict struct {
	n, line int
	code    string
}

var (
	validateRowRE = regexp.MustCompile(`^(.+):(\d+): row (\d+): invalid \(([a-z0-9_]+)\): (.+)$`)
	validateSumRE = regexp.MustCompile(`^(.+): (\d+) rows?: (\d+) valid, (\d+) invalid, (\d+) repeats? a user of an earlier row$`)
)

// validateOutput is what validate printed.
type validateOutput struct {
	invalid                      []verdict
	reasons                      map[int]string // by line
	total, valid, nInvalid, dups int
	summaryFound                 bool
}

// parseValidate reads validate's stdout: a line per invalid row, naming
// the file, then the summary line.
func parseValidate(t *testing.T, file, stdout string) validateOutput {
	t.Helper()
	out := validateOutput{reasons: map[int]string{}}
	for _, l := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		if l == "" {
			continue
		}
		if m := validateRowRE.FindStringSubmatch(l); m != nil {
			if m[1] != file {
				t.Errorf("validate names the file %q, want %q: %s", m[1], file, l)
			}
			line, _ := strconv.Atoi(m[2])
			n, _ := strconv.Atoi(m[3])
			out.invalid = append(out.invalid, verdict{n, line, m[4]})
			out.reasons[line] = m[5]
			continue
		}
		if m := validateSumRE.FindStringSubmatch(l); m != nil {
			out.summaryFound = true
			out.total, _ = strconv.Atoi(m[2])
			out.valid, _ = strconv.Atoi(m[3])
			out.nInvalid, _ = strconv.Atoi(m[4])
			out.dups, _ = strconv.Atoi(m[5])
			continue
		}
		t.Errorf("validate printed a line that is neither a row nor the summary: %q", l)
	}
	return out
}

// resultLine is one line of results.csv.
type resultLine struct {
	n, line           int
	userID, status    string
	httpStatus        int
	code, message     string
	attempts          int
	durationMS, trace string
}

// readResultLines reads every line of a run folder's results.csv.
func readResultLines(t *testing.T, dir string) []resultLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("results.csv: %v", err)
	}
	var out []resultLine
	for _, r := range recs[1:] {
		if len(r) != 14 {
			t.Fatalf("results.csv record %q has %d fields", r, len(r))
		}
		var l resultLine
		l.n, _ = strconv.Atoi(r[0])
		l.line, _ = strconv.Atoi(r[1])
		l.userID, l.status = r[2], r[3]
		l.httpStatus, _ = strconv.Atoi(r[4])
		l.code, l.message = r[5], r[6]
		l.attempts, _ = strconv.Atoi(r[7])
		l.durationMS, l.trace = r[8], r[9]
		out = append(out, l)
	}
	return out
}

func sortVerdicts(v []verdict) []verdict {
	v = slices.Clone(v)
	slices.SortFunc(v, func(a, b verdict) int { return a.n - b.n })
	return v
}

// csvCell quotes s as a spreadsheet does: in quotes, quotes doubled.
func csvCell(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ndRow is an NDJSON row setting public_metadata.
func ndRow(id, public string) string {
	return `{"user_id":"` + id + `","public_metadata":` + public + `}`
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// pub is the metadata a user must have afterwards when only its
// public_metadata was replaced ("" leaves a field as seeded).
func pub(v string) [3]string { return [3]string{v, "", ""} }

// seededIDs finds every well-formed user id in an input, to seed the
// emulator with: a row that must not be applied then shows as a seeded user
// left untouched, not as a 404.
var seededIDs = regexp.MustCompile(`user_[A-Za-z0-9]+`)

// hostileCase is one hostile input file and every verdict on it.
type hostileCase struct {
	name, format, data string
	args               []string // flags for both validate and run
	// invalid maps the line of each invalid row to its error code; every
	// other row is valid, and must be applied.
	invalid map[int]string
	// reasons maps a line to a word its reason must contain.
	reasons map[int]string
	// want is each applied user's metadata afterwards, compared as JSON
	// that no parser reads differently ("" = as seeded). Every other user
	// must be left exactly as seeded.
	want map[string][3]string
	// history is the public_metadata of each write a user received, in
	// order.
	history map[string][]string
	dups    int
	// header, when set, is the header error that refuses the whole file.
	header string
	// maxBody raises the emulator's body limit for the big rows.
	maxBody int64
}

func hostileCases() []hostileCase {
	const h = "user_id,public_metadata\n"
	bigBlob := strings.Repeat("x", 5<<20)
	bigCell := strings.Repeat("y", 1<<20)
	numbers := `{"big":9007199254740993,"neg":-9223372036854775809,"exp":1.0e2,"E":1E+400,"tiny":1e-400,"z":-0,"frac":0.10, "sp" : [ 1 , 2 ] }`
	unicode := `{"e":"h\u00e9llo \ud83d\ude00 😀 日本","html":"<script>&amp;</script>","esc":"a\"b\\c\/d\n\u0000\u2028","fam":"👩‍👩‍👧‍👦","rtl":"\u202e","bom":"\ufeff"}`
	pathIDs := []string{" user_p", "user_p ", "user_1/../../instance", "user_1?x=1", "user_1#x", "%2e%2e", "user_1%2Fmetadata", "..", "user_1/metadata", "user_１", "user_"}
	return []hostileCase{
		{
			name: "bom crlf blank lines no final newline", format: "ndjson",
			data: "\xEF\xBB\xBF" + ndRow("user_a", `{"v":1}`) + "\r\n\r\n  \t\r\n" + ndRow("user_b", `{"v":2}`) + "\r\n\n" +
				ndRow("user_c", `{"v":}`) + "\r\n" + ndRow("user_d", `{"v":4}`),
			invalid: map[int]string{6: "invalid_json"},
			want:    map[string][3]string{"user_a": pub(`{"v":1}`), "user_b": pub(`{"v":2}`), "user_d": pub(`{"v":4}`)},
		},
		{
			name: "bom crlf blank lines no final newline", format: "csv",
			data: "\xEF\xBB\xBFuser_id,public_metadata\r\nuser_a," + csvCell(`{"v":1}`) + "\r\n\r\n\r\nuser_b,{}\r\nuser_c," +
				csvCell(`{"v":}`) + "\r\nuser_d,null",
			invalid: map[int]string{6: "invalid_json"},
			want:    map[string][3]string{"user_a": pub(`{"v":1}`), "user_b": pub(`{}`), "user_d": pub(`null`)},
		},
		{
			name: "multi-megabyte line", format: "ndjson",
			data: ndRow("user_a", `{"v":1}`) + "\n" + ndRow("user_big", `{"blob":"`+bigBlob+`"}`) + "\n" +
				ndRow("user_c", `[1]`) + "\n" + ndRow("user_d", `{"v":4}`) + "\n",
			invalid: map[int]string{3: "metadata_not_object"},
			want: map[string][3]string{"user_a": pub(`{"v":1}`), "user_big": pub(`{"blob":"` + bigBlob + `"}`),
				"user_d": pub(`{"v":4}`)},
			maxBody: 16 << 20,
		},
		{
			name: "one-megabyte cell", format: "csv",
			data:    h + "user_a,{}\nuser_big," + csvCell(`{"blob":"`+bigCell+`"}`) + "\nuser_c,[1]\nuser_d,null\n",
			invalid: map[int]string{4: "metadata_not_object"},
			want:    map[string][3]string{"user_a": pub(`{}`), "user_big": pub(`{"blob":"` + bigCell + `"}`), "user_d": pub(`null`)},
			maxBody: 4 << 20,
		},
		{
			name: "quotes commas and newlines inside JSON", format: "csv",
			data: h +
				"user_a," + csvCell("{\"a\":\"x,y\",\n\"b\":\n1}") + "\n" + // lines 2-4
				"user_b," + csvCell("[1,\n2]") + "\n" + // lines 5-6
				"user_c," + csvCell("{\"c\":\"line\nbreak\"}") + "\n" + // lines 7-8: a raw newline inside a JSON string
				"user_d," + csvCell(`{"q":"say \"hi\", ok","k,\"":1}`) + "\n" + // line 9
				"user_e,\"{\"\"a\"\":1}\" \n", // line 10: text after the closing quote
			invalid: map[int]string{5: "metadata_not_object", 7: "invalid_json", 10: "csv_syntax"},
			reasons: map[int]string{7: "control character"},
			want: map[string][3]string{"user_a": pub("{\"a\":\"x,y\",\n\"b\":\n1}"),
				"user_d": pub(`{"q":"say \"hi\", ok","k,\"":1}`)},
		},
		{
			name: "metadata of every wrong kind", format: "ndjson",
			data: strings.Join([]string{
				ndRow("user_a", `{"v":1}`),
				ndRow("user_k1", `[1,2]`),
				`{"user_id":"user_k2","private_metadata":"{}"}`,
				`{"user_id":"user_k3","unsafe_metadata":12.5}`,
				ndRow("user_k4", `true`),
				ndRow("user_k5", `{"v":}`),
				ndRow("user_k6", `{"v":1}`) + ` x`,
				ndRow("user_k7", "{\"v\":\"\xff\xfe\"}"),
				`{"user_id":"user_k8","public_metadata":{},"public_metadata":{"v":1}}`,
				ndRow("user_k9", `{"a":1,"b":2,"a":3}`),
				ndRow("user_k10", `{"x":[{"y":{"z":{"a":1,"b":2,"a":3}}}]}`),
				ndRow("user_k11", `{"a":1,"\u0061":2}`),
				ndRow("user_b", `{"a":{"x":1},"b":{"x":1}}`),
				`[{"user_id":"user_k12","public_metadata":{}}]`,
				`{"user_id":"user_k13"}`,
				ndRow("user_k14", `{"s":"\ud800"}`),
				ndRow("user_k15", strings.Repeat("[", 600)+strings.Repeat("]", 600)),
				ndRow("user_c", `{}`),
			}, "\n") + "\n",
			invalid: map[int]string{
				2: "metadata_not_object", 3: "metadata_not_object", 4: "metadata_not_object", 5: "metadata_not_object",
				6: "invalid_json", 7: "invalid_json", 8: "invalid_utf8", 9: "duplicate_key", 10: "duplicate_key",
				11: "duplicate_key", 12: "duplicate_key", 14: "not_an_object", 15: "no_metadata", 16: "invalid_json", 17: "invalid_json",
			},
			reasons: map[int]string{
				2: "array", 3: "string", 4: "number", 5: "boolean", 7: "trailing data", 8: "UTF-8",
				9: "twice", 10: "duplicate key", 11: "duplicate key", 12: "duplicate key", 16: "surrogate", 17: "deeper",
			},
			want: map[string][3]string{"user_a": pub(`{"v":1}`), "user_b": pub(`{"a":{"x":1},"b":{"x":1}}`), "user_c": pub(`{}`)},
		},
		{
			name: "metadata of every wrong kind", format: "csv",
			data: h + strings.Join([]string{
				"user_a,{}",
				"user_k1,[1]",
				"user_k2," + csvCell(`"{}"`),
				"user_k3,12",
				"user_k4,false",
				"user_k5," + csvCell(`{"v":}`),
				"user_k6," + csvCell(`{} x`),
				"user_k7," + csvCell("{\"v\":\"\xfe\"}"),
				"user_k8," + csvCell(`{"x":{"a":1,"b":{},"a":2}}`),
				"user_k9," + csvCell(`  `),
				"user_k10,",
				"user_k11,{},{}",
				"user_k12",
				`user_k13,{"a":1}`,
				"user_b, {} ",
			}, "\n") + "\n",
			invalid: map[int]string{
				3: "metadata_not_object", 4: "metadata_not_object", 5: "metadata_not_object", 6: "metadata_not_object",
				7: "invalid_json", 8: "invalid_json", 9: "invalid_utf8", 10: "duplicate_key", 11: "invalid_json",
				12: "no_metadata", 13: "csv_field_count", 14: "csv_field_count", 15: "csv_syntax",
			},
			reasons: map[int]string{10: "duplicate key", 8: "trailing data"},
			want:    map[string][3]string{"user_a": pub(`{}`), "user_b": pub(`{}`)},
		},
		{
			name: "big numbers and unicode", format: "ndjson",
			data: ndRow("user_n1", numbers) + "\n" + ndRow("user_n2", unicode) + "\n" +
				`{"user_id":"user_n3","private_metadata":` + unicode + `,"unsafe_metadata":` + numbers + "}\n",
			want: map[string][3]string{"user_n1": pub(numbers), "user_n2": pub(unicode), "user_n3": {"", unicode, numbers}},
		},
		{
			name: "big numbers and unicode", format: "csv",
			data: "user_id,unsafe_metadata,public_metadata\nuser_n1,," + csvCell(numbers) + "\nuser_n2," + csvCell(numbers) + "," + csvCell(unicode) + "\n",
			want: map[string][3]string{"user_n1": pub(numbers), "user_n2": {unicode, "", numbers}},
		},
		{
			name: "user ids", format: "ndjson",
			data: func() string {
				lines := []string{ndRow("user_a", `{"v":1}`), `{"public_metadata":{"v":1}}`, ndRow("", `{"v":1}`)}
				for _, id := range pathIDs {
					lines = append(lines, `{"user_id":`+jsonString(id)+`,"public_metadata":{"v":1}}`)
				}
				lines = append(lines, `{"user_id":"user_1\/x","public_metadata":{}}`, `{"user_id":null,"public_metadata":{}}`,
					`{"user_id":7,"public_metadata":{}}`, ndRow("user_b", `{"v":2}`))
				return strings.Join(lines, "\n") + "\n"
			}(),
			invalid: func() map[int]string {
				m := map[int]string{2: "missing_user_id", 3: "invalid_user_id"}
				for i := range len(pathIDs) + 3 {
					m[4+i] = "invalid_user_id"
				}
				return m
			}(),
			reasons: map[int]string{3: "empty", 4: "whitespace", 5: "whitespace", 6: "not a Clerk user id"},
			want:    map[string][3]string{"user_a": pub(`{"v":1}`), "user_b": pub(`{"v":2}`)},
		},
		{
			name: "user ids", format: "csv",
			data: func() string {
				lines := []string{"user_a,{}", ",{}"}
				for _, id := range pathIDs {
					lines = append(lines, csvCell(id)+",{}")
				}
				lines = append(lines, csvCell("user_1\n")+",{}", "user_b,null") // the quoted id spans two lines
				return h + strings.Join(lines, "\n") + "\n"
			}(),
			invalid: func() map[int]string {
				m := map[int]string{3: "invalid_user_id"}
				for i := range len(pathIDs) + 1 {
					m[4+i] = "invalid_user_id"
				}
				return m
			}(),
			want: map[string][3]string{"user_a": pub(`{}`), "user_b": pub(`null`)},
		},
		{
			name: "unknown key", format: "ndjson",
			data: ndRow("user_a", `{}`) + "\n" + `{"user_id":"user_t","public_metdata":{"v":1}}` + "\n" +
				`{"user_id":"user_t","public_metadata":{"v":1},"extra":1}` + "\n" + ndRow("user_b", `{}`) + "\n",
			invalid: map[int]string{2: "unknown_field", 3: "unknown_field"},
			reasons: map[int]string{2: "public_metdata", 3: "extra"},
			want:    map[string][3]string{"user_a": pub(`{}`), "user_b": pub(`{}`)},
			dups:    1, // user_t twice: a well-formed id counts, valid row or not
		},
		{
			name: "unknown column", format: "csv",
			data:   "user_id,public_metdata\nuser_a,{}\n",
			header: `in.csv:1: unknown column "public_metdata"`,
		},
		{
			name: "unknown column after blank lines", format: "csv",
			data:   "\r\n\nuser_id,private_metadata,unsafe_metdata\nuser_a,{},{}\n",
			header: `in.csv:3: unknown column "unsafe_metdata"`,
		},
		{
			name: "no user_id column", format: "csv",
			data:   "\xEF\xBB\xBFpublic_metadata\r\n{}\r\n",
			header: "in.csv:1: CSV header has no user_id, external_id or email_address column",
		},
		{
			name: "duplicate users", format: "ndjson",
			data: ndRow("user_d", `{"v":1}`) + "\n" + ndRow("user_e", `{}`) + "\n" + ndRow("user_d", `{"v":2}`) + "\n" +
				ndRow("user_d", `{"v":3}`) + "\n",
			want:    map[string][3]string{"user_d": pub(`{"v":3}`), "user_e": pub(`{}`)},
			history: map[string][]string{"user_d": {`{"v":1}`, `{"v":2}`, `{"v":3}`}},
			dups:    2,
		},
		{
			name: "duplicate users rejected", format: "ndjson", args: []string{"--reject-duplicates"},
			data: ndRow("user_d", `{"v":1}`) + "\n" + ndRow("user_e", `{}`) + "\n" + ndRow("user_d", `{"v":2}`) + "\n" +
				ndRow("user_d", `{"v":3}`) + "\n",
			invalid: map[int]string{3: "duplicate_user", 4: "duplicate_user"},
			want:    map[string][3]string{"user_d": pub(`{"v":1}`), "user_e": pub(`{}`)},
			history: map[string][]string{"user_d": {`{"v":1}`}},
			dups:    2,
		},
		{
			name: "duplicate users", format: "csv",
			data:    h + "user_d," + csvCell(`{"v":1}`) + "\nuser_e,{}\nuser_d," + csvCell(`{"v":2}`) + "\nuser_d,null\n",
			want:    map[string][3]string{"user_d": pub(`null`), "user_e": pub(`{}`)},
			history: map[string][]string{"user_d": {`{"v":1}`, `{"v":2}`, `null`}},
			dups:    2,
		},
		{
			name: "duplicate users rejected", format: "csv", args: []string{"--reject-duplicates"},
			data:    h + "user_d," + csvCell(`{"v":1}`) + "\nuser_e,{}\nuser_d," + csvCell(`{"v":2}`) + "\nuser_d,null\n",
			invalid: map[int]string{4: "duplicate_user", 5: "duplicate_user"},
			want:    map[string][3]string{"user_d": pub(`{"v":1}`), "user_e": pub(`{}`)},
			history: map[string][]string{"user_d": {`{"v":1}`}},
			dups:    2,
		},
		{name: "empty file", format: "ndjson", data: ""},
		{name: "blank lines only", format: "ndjson", data: "\n\r\n \t\n"},
		{name: "empty file", format: "csv", data: ""},
		{name: "header only", format: "csv", data: "\xEF\xBB\xBFuser_id,public_metadata\r\n"},
		{name: "header only without newline", format: "csv", data: "user_id,public_metadata"},
		{
			name: "one valid row", format: "ndjson", data: ndRow("user_a", `{"v":1}`),
			want: map[string][3]string{"user_a": pub(`{"v":1}`)},
		},
		{
			name: "one valid row", format: "csv", data: h + "user_a," + csvCell(`{"v":1}`),
			want: map[string][3]string{"user_a": pub(`{"v":1}`)},
		},
	}
}

// TestHostileFiles runs validate and run on each hostile file: validate
// names exactly the invalid rows, with file:line and a reason; run gives
// the same verdicts in results.csv, applies the valid rows around them and
// leaves every other user alone.
func TestHostileFiles(t *testing.T) {
	t.Parallel()
	for _, c := range hostileCases() {
		t.Run(c.format+"/"+c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := "in." + c.format
			writeFile(t, filepath.Join(dir, file), c.data)
			srv, url := startEmulator(t, emulator.Config{RecordHistory: true, MaxBodyBytes: c.maxBody})
			seeded := map[string]bool{}
			for _, id := range seededIDs.FindAllString(c.data, -1) {
				if !seeded[id] {
					seeded[id] = true
					srv.AddUser(id, json.RawMessage(seedMetadata[0]), json.RawMessage(seedMetadata[1]), json.RawMessage(seedMetadata[2]))
				}
			}
			vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}

			val := runIn(t, dir, nil, append([]string{"validate", "--input", file}, c.args...)...)
			applied := runIn(t, dir, vars, append([]string{"run", "--input", file, "--run-id", "hostile",
				"--rate", "unlimited", "--log-format", "json"}, c.args...)...)

			if c.header != "" {
				for what, got := range map[string]result{"validate": val, "run": applied} {
					if got.code != exitUsage || !strings.Contains(got.stderr, c.header) {
						t.Errorf("%s: exit %d, want %d and %q on stderr\nstderr:\n%s", what, got.code, exitUsage, c.header, got.stderr)
					}
				}
				if n := srv.Stats().Requests; n != 0 {
					t.Errorf("the emulator received %d requests for a file whose header is refused", n)
				}
				if _, err := os.Stat(filepath.Join(dir, "runs")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a refused file left a report folder: %v", err)
				}
				return
			}

			// validate: exactly the invalid rows, then the summary.
			v := parseValidate(t, file, val.stdout)
			want := map[int]string{}
			for line, code := range c.invalid {
				want[line] = code
			}
			got := map[int]string{}
			for _, iv := range v.invalid {
				got[iv.line] = iv.code
			}
			if !maps.Equal(got, want) {
				t.Errorf("validate found invalid rows %v, want %v\nstdout:\n%s", got, want, val.stdout)
			}
			for line, word := range c.reasons {
				if !strings.Contains(v.reasons[line], word) {
					t.Errorf("validate's reason for line %d is %q, want it to mention %q", line, v.reasons[line], word)
				}
			}
			wantCode := exitOK
			if len(c.invalid) > 0 {
				wantCode = exitRows
			}
			if val.code != wantCode || !v.summaryFound || v.nInvalid != len(c.invalid) || v.dups != c.dups || v.valid != v.total-v.nInvalid {
				t.Errorf("validate: exit %d (want %d), summary %+v (want %d invalid, %d repeats)\nstdout:\n%s\nstderr:\n%s",
					val.code, wantCode, v, len(c.invalid), c.dups, val.stdout, val.stderr)
			}

			// run: the same verdicts, the valid rows applied.
			if applied.code != wantCode {
				t.Fatalf("run: exit %d, want %d\nstderr:\n%s", applied.code, wantCode, applied.stderr)
			}
			runDir := applied.runDir(t)
			res := readResultLines(t, runDir)
			var runInvalid []verdict
			succeeded := 0
			for _, r := range res {
				switch r.status {
				case "invalid":
					runInvalid = append(runInvalid, verdict{r.n, r.line, r.code})
					if r.httpStatus != 0 || r.attempts != 0 || r.message == "" {
						t.Errorf("invalid row %d: http %d, %d attempts, message %q", r.n, r.httpStatus, r.attempts, r.message)
					}
				case "succeeded":
					succeeded++
				default:
					t.Errorf("row %d at line %d %s (%s: %s), want it applied", r.n, r.line, r.status, r.code, r.message)
				}
			}
			if a, b := sortVerdicts(runInvalid), sortVerdicts(v.invalid); !slices.Equal(a, b) {
				t.Errorf("run's invalid rows %v, validate's %v", a, b)
			}
			if len(res) != v.total || succeeded != v.valid {
				t.Errorf("results.csv has %d rows, %d succeeded; validate counted %d rows, %d valid", len(res), succeeded, v.total, v.valid)
			}
			sum := readSummary(t, runDir)
			if sum.Total != v.total || sum.Counts[reports.Invalid] != v.nInvalid || sum.Counts[reports.Succeeded] != v.valid || sum.Duplicates != c.dups || !sum.Complete {
				t.Errorf("summary %+v, want total %d, invalid %d, succeeded %d, duplicates %d", sum, v.total, v.nInvalid, v.valid, c.dups)
			}
			if st := srv.Stats(); st.WritesApplied != int64(v.valid) {
				t.Errorf("the emulator applied %d writes, want %d", st.WritesApplied, v.valid)
			}

			// The store: applied users as wanted, every other one as seeded.
			for id := range c.want {
				if !seeded[id] {
					t.Fatalf("test bug: %s is not seeded", id)
				}
			}
			for _, u := range srv.Users() {
				w := c.want[u.ID]
				for f, stored := range [][]byte{u.Public, u.Private, u.Unsafe} {
					switch {
					case w[f] == "" && string(stored) != seedMetadata[f]:
						t.Errorf("%s %s = %.200s, want it untouched", u.ID, fieldNames[f], stored)
					case w[f] != "" && !sameJSON(stored, []byte(w[f])):
						t.Errorf("%s %s = %.200s, want %.200s", u.ID, fieldNames[f], stored, w[f])
					}
				}
			}
			for id, want := range c.history {
				got := srv.History(id)
				if len(got) != len(want) {
					t.Errorf("%s received %d writes, want %d", id, len(got), len(want))
					continue
				}
				for i := range want {
					if !sameJSON(got[i], []byte(`{"public_metadata":`+want[i]+`}`)) {
						t.Errorf("%s write %d was %s, want public_metadata %s", id, i+1, got[i], want[i])
					}
				}
			}
		})
	}
}

// pathIDRE is the only path a request may have: a well-formed id's own
// metadata.
var pathIDRE = regexp.MustCompile(`^/v1/users/user_[A-Za-z0-9]+/metadata$`)

// TestPathBreakingIDs feeds ids shaped to leave /v1/users/{id}/metadata
// (a segment, a query, a fragment, percent-encoding, control characters,
// look-alike slashes) between valid rows: the emulator must see only PUTs
// to the valid users' own paths, with no query.
func TestPathBreakingIDs(t *testing.T) {
	t.Parallel()
	hostile := []string{
		"user_1/../../instance", "user_1?x=1", "user_1#x", "%2e%2e", "user_1%2Fmetadata", "..",
		".", "/", "", " ", "user_1/", "/user_1", "user_1/metadata", "../users/user_ok0", "user_ok0/../user_ok1",
		"user_1%00", "user_1%252e%252e", "user_1%3Fx=1", "user_1%23x", "user_1\\..\\x", "user_1;x=1", "user_1&x=1",
		"user_1 x", "user_1\tx", "user_1\u0000", "user_1\r\nX-Injected: 1", "user_1\u2215x", "user_1\uff0fx",
		"user_1\u2024\u2024", "https://evil.example/", "//evil.example/x", "user_１", "USER_1", "user_" + strings.Repeat("a", 200),
	}
	for _, format := range []string{"ndjson", "csv"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			srv, base := startEmulator(t, emulator.Config{RecordRequests: true})
			srv.AddUser("user_1", json.RawMessage(seedMetadata[0]), nil, nil)
			var b strings.Builder
			if format == "csv" {
				b.WriteString("user_id,public_metadata\n")
			}
			valid := map[string]bool{}
			for i, id := range hostile {
				ok := fmt.Sprintf("user_ok%d", i)
				srv.AddUser(ok, nil, nil, nil)
				valid[ok] = true
				if format == "csv" {
					fmt.Fprintf(&b, "%s,\"{\"\"i\"\":1}\"\n%s,{}\n", ok, csvCell(id))
				} else {
					fmt.Fprintf(&b, "%s\n{\"user_id\":%s,\"public_metadata\":{}}\n", ndRow(ok, `{"i":1}`), jsonString(id))
				}
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "in."+format), b.String())
			got := runIn(t, dir, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": base},
				"run", "--input", "in."+format, "--run-id", "paths", "--rate", "unlimited")
			if got.code != exitRows {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", got.code, exitRows, got.stderr)
			}
			sum := readSummary(t, got.runDir(t))
			if sum.Counts[reports.Invalid] != len(hostile) || sum.Counts[reports.Succeeded] != len(hostile) || sum.Counts[reports.Failed] != 0 {
				t.Errorf("summary %+v, want %d invalid and %d succeeded", sum, len(hostile), len(hostile))
			}
			puts := 0
			for _, r := range srv.Requests() {
				if r.Method == "GET" && r.Path == "/v1/users" {
					q, err := url.ParseQuery(r.RawQuery)
					for _, id := range q["user_id"] {
						if !valid[id] {
							t.Errorf("read %s names %q, not a valid row's user", r.RawQuery, id)
						}
					}
					if err != nil || len(q) != 2 {
						t.Errorf("read %q: %v", r.RawQuery, err)
					}
					continue
				}
				puts++
				if r.Method != "PUT" || !pathIDRE.MatchString(r.Path) || r.RawQuery != "" || !valid[r.UserID] {
					t.Errorf("request %s %s?%s (user %q) is not a PUT to a valid row's own metadata", r.Method, r.Path, r.RawQuery, r.UserID)
				}
			}
			if puts != len(hostile) {
				t.Errorf("the emulator received %d writes, want one per valid row (%d)", puts, len(hostile))
			}
			if u, _ := srv.User("user_1"); string(u.Public) != seedMetadata[0] {
				t.Errorf("user_1, the prefix of many hostile ids, was written: %s", u.Public)
			}
		})
	}
}
