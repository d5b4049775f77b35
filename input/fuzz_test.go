package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode"
	"unicode/utf8"
)

// The fuzz targets check properties of the readers on any input, not only
// that they do not panic: every row comes in order with the right line and
// bytes, and an independent judge built on encoding/json and encoding/csv
// agrees with every verdict it is sure of. Their seed corpora live in
// testdata/fuzz/FuzzNDJSON and testdata/fuzz/FuzzCSV and run with every
// `go test`; `go test ./input -run '^$' -fuzz '^FuzzNDJSON$' -fuzztime 10s`
// explores further.

// readTimeout bounds a whole read of one fuzz input: the readers are linear,
// so anything near it is a hang.
const readTimeout = 20 * time.Second

// readOutcome is everything a Reader gave for one input.
type readOutcome struct {
	rows    []Row
	header  []byte // Header(r), for CSV
	openErr error  // the error of Open (a CSV header error)
	readErr error  // a non-EOF error of Next
	kind    KeyKind
	comma   rune // Delimiter(r)
}

// readBounded opens and drains a Reader. A reader that yields more rows
// than the input has bytes loops; one that takes longer than readTimeout
// hangs, and a watchdog then panics with every goroutine's stack, which the
// fuzzer saves as a crasher. (A watchdog timer rather than a goroutine per
// read keeps each run cheap and its coverage the same from run to run.)
func readBounded(t *testing.T, size int, open func() (Reader, error)) readOutcome {
	t.Helper()
	name := t.Name()
	watchdog := time.AfterFunc(readTimeout, func() {
		debug.SetTraceback("all")
		panic(fmt.Sprintf("%s: the reader did not finish within %v: it hangs", name, readTimeout))
	})
	defer watchdog.Stop()
	var out readOutcome
	r, err := open()
	if err != nil {
		out.openErr = err
		return out
	}
	out.header, out.comma = Header(r), Delimiter(r)
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("Next after io.EOF returned %v, want io.EOF again", err)
			}
			out.kind = r.KeyKind()
			return out
		}
		if err != nil {
			out.readErr = err
			return out
		}
		out.rows = append(out.rows, row)
		if len(out.rows) > size+1 {
			t.Fatalf("reader yielded %d rows from %d bytes: it loops", len(out.rows), size)
		}
	}
}

// rowCode is a row's error code, "" for a valid row.
func rowCode(t *testing.T, r Row) string {
	t.Helper()
	if r.Err == nil {
		return ""
	}
	var e *RowError
	if !errors.As(r.Err, &e) {
		t.Fatalf("row %d: error %v (%T) is not a *RowError", r.N, r.Err, r.Err)
	}
	if e.Code == "" || e.Reason == "" {
		t.Fatalf("row %d: RowError with code %q reason %q", r.N, e.Code, e.Reason)
	}
	if !knownCodes[e.Code] {
		t.Fatalf("row %d: unknown code %q", r.N, e.Code)
	}
	return e.Code
}

var knownCodes = map[string]bool{
	CodeInvalidJSON: true, CodeNotObject: true, CodeUnknownField: true, CodeDuplicateKey: true,
	CodeMissingUserID: true, CodeInvalidUserID: true, CodeMetadataType: true, CodeNoMetadata: true,
	CodeLineTooLong: true, CodeCSVSyntax: true, CodeFieldCount: true, CodeInvalidUTF8: true,
	CodeInvalidExternalID: true, CodeInvalidEmail: true, CodeMixedKeys: true,
}

// fuzzOptions are the options both fuzz targets read with: a column or
// key "note" is kept for people.
var fuzzOptions = Options{Ignore: []string{"note"}}

// keyNames are the fields that name a user, by kind.
var keyNames = map[string]KeyKind{"user_id": UserID, "external_id": ExternalID, "email_address": Email}

// oracleKey is Key.Check's rule, written again: reports whether v is a
// well-formed key of kind k.
func oracleKey(k KeyKind, v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	control := strings.ContainsFunc(v, unicode.IsControl)
	switch k {
	case UserID:
		return oracleUserID.MatchString(v)
	case ExternalID:
		return v != "" && !control && strings.TrimSpace(v) == v && !strings.HasPrefix(v, "+") && !strings.HasPrefix(v, "-")
	case Email:
		parts := strings.Split(v, "@")
		return len(parts) == 2 && parts[0] != "" && parts[1] != "" && !control && !strings.ContainsFunc(v, unicode.IsSpace)
	}
	return false
}

// checkValidRow holds for every valid row of either format.
func checkValidRow(t *testing.T, r Row) {
	t.Helper()
	if e := r.Key.Check(); e != nil {
		t.Fatalf("row %d valid with key %+v: %v", r.N, r.Key, e)
	}
	if !oracleKey(r.Key.Kind, r.Key.Value) {
		t.Fatalf("row %d valid with key %+v", r.N, r.Key)
	}
	if (r.Key.Kind == UserID) != (r.UserID != "") || r.Key.Kind == UserID && r.UserID != r.Key.Value {
		t.Fatalf("row %d: UserID %q with key %+v", r.N, r.UserID, r.Key)
	}
	if r.Fields() == 0 {
		t.Fatalf("row %d valid with no metadata field", r.N)
	}
	for i, f := range [...][]byte{r.Public, r.Private, r.Unsafe} {
		if f == nil {
			continue
		}
		if !json.Valid(f) || !utf8.Valid(f) {
			t.Fatalf("row %d: valid row's %s is not valid JSON: %q", r.N, fieldNames[i+1], f)
		}
		if v := bytes.TrimSpace(f); v[0] != '{' && string(v) != "null" {
			t.Fatalf("row %d: valid row's %s is not an object or null: %q", r.N, fieldNames[i+1], f)
		}
		if j := judgeJSON(f); j.dup {
			t.Fatalf("row %d: valid row's %s has a duplicate key: %q", r.N, fieldNames[i+1], f)
		}
	}
}

// oracleUserID is CheckUserID's rule, written again.
var oracleUserID = regexp.MustCompile(`^user_[A-Za-z0-9]{1,128}$`)

// surrogateEscape finds \u escapes of UTF-16 surrogates. encoding/json reads
// a lone one as U+FFFD where the readers refuse it, so the oracle does not
// judge JSON that has any.
var surrogateEscape = regexp.MustCompile(`\\u[dD][89a-fA-F][0-9a-fA-F]{2}`)

// jsonJudgement is what encoding/json says of a JSON text.
type jsonJudgement struct {
	valid     bool     // valid JSON and valid UTF-8
	dup       bool     // an object with the same key twice, at any depth
	nestedDup bool     // the same, below the top level
	top       []string // the keys of a top-level object, in order, repeats kept
	unsure    bool     // the readers are stricter than encoding/json here
}

func judgeJSON(b []byte) jsonJudgement {
	if !utf8.Valid(b) || !json.Valid(b) {
		return jsonJudgement{}
	}
	j := jsonJudgement{valid: true, unsure: surrogateEscape.Match(b)}
	type frame struct {
		keys      map[string]bool // nil for an array
		expectKey bool
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return j
		}
		if err != nil {
			j.unsure = true
			return j
		}
		top := len(stack) - 1
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top >= 0 && stack[top].keys != nil {
					stack[top].expectKey = false
				}
				stack = append(stack, frame{keys: map[string]bool{}, expectKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:top]
				if top-1 >= 0 && stack[top-1].keys != nil {
					stack[top-1].expectKey = true
				}
			}
			if len(stack) > maxDepth-10 {
				j.unsure = true // near the readers' depth limit
			}
		default:
			if top >= 0 && stack[top].keys != nil {
				if stack[top].expectKey {
					k := v.(string)
					if stack[top].keys[k] {
						j.dup = true
						j.nestedDup = j.nestedDup || top > 0
					}
					if top == 0 {
						j.top = append(j.top, k)
					}
					stack[top].keys[k] = true
					stack[top].expectKey = false
				} else {
					stack[top].expectKey = true
				}
			}
		}
	}
}

// verdict is the oracle's opinion of a row.
type verdict int

const (
	unsure verdict = iota
	valid
	invalid
)

// oracleRow is what the oracle expects of a valid row.
type oracleRow struct {
	key    Key
	fields [3][]byte // public, private, unsafe; nil absent
}

func (o *oracleRow) none() bool {
	return o.fields[0] == nil && o.fields[1] == nil && o.fields[2] == nil
}

// judgeNDJSONLine judges one NDJSON line with encoding/json, in a file
// whose kind of key is file (0: none yet). named is the kind of key the
// line names, if it reads as an object with one kind (valid or not);
// sure is false when the oracle cannot tell whether the reader reads it.
func judgeNDJSONLine(line []byte, file KeyKind) (v verdict, o oracleRow, named KeyKind, sure bool) {
	j := judgeJSON(line)
	switch {
	case !j.valid || j.nestedDup:
		return invalid, o, 0, true
	case j.unsure:
		return unsure, o, 0, false
	}
	if b := bytes.TrimLeft(line, " \t\r\n"); b[0] != '{' {
		return invalid, o, 0, true
	}
	kinds := map[KeyKind]bool{}
	for _, k := range j.top {
		if kind, ok := keyNames[k]; ok {
			kinds[kind] = true
			named = kind
		}
	}
	if len(kinds) != 1 {
		named = 0
	}
	if j.dup || len(kinds) != 1 || file != 0 && named != file {
		return invalid, o, named, true
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return unsure, o, named, false
	}
	// In a fixed order: ranging over m would make the coverage the fuzzer
	// steers by differ from run to run.
	for _, k := range j.top {
		val := m[k]
		slot := fieldSlot([]byte(k))
		switch {
		case slot < 0 && fuzzOptions.ignores(k):
		case slot < 0:
			return invalid, o, named, true // an unknown key
		case slotKind(slot) != 0:
			var id string
			if val[0] != '"' || json.Unmarshal(val, &id) != nil || !oracleKey(named, id) {
				return invalid, o, named, true
			}
			o.key = Key{named, id}
		case val[0] != '{' && string(val) != "null":
			return invalid, o, named, true
		default:
			o.fields[slot-1] = val
		}
	}
	if o.none() {
		return invalid, o, named, true
	}
	return valid, o, named, true
}

// judgeCSVCells judges a CSV record's cells, named by the header.
func judgeCSVCells(header, rec []string) (verdict, oracleRow) {
	var o oracleRow
	v := valid
	for i, h := range header {
		cell := rec[i]
		name := strings.TrimSpace(h)
		if name == "" {
			if cell != "" {
				v = invalid // a value in a column with no name
			}
			continue
		}
		if fuzzOptions.ignores(name) {
			continue
		}
		if kind, ok := keyNames[name]; ok {
			o.key = Key{kind, cell}
			if !oracleKey(kind, cell) {
				v = invalid
			}
			continue
		}
		slot := fieldSlot([]byte(name))
		if cell == "" {
			continue
		}
		o.fields[slot-1] = []byte(cell)
		j := judgeJSON([]byte(cell))
		switch t := strings.TrimSpace(cell); {
		case !j.valid || j.dup:
			v = invalid
		case t[0] != '{' && t != "null":
			v = invalid
		case j.unsure && v == valid:
			v = unsure
		}
	}
	if o.none() {
		v = invalid
	}
	return v, o
}

// sameRows fails unless two reads of the same input gave the same rows.
func sameRows(t *testing.T, what string, got, want []Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.N != w.N || g.Line != w.Line || g.UserID != w.UserID || g.Key != w.Key || !bytes.Equal(g.Raw, w.Raw) ||
			!bytes.Equal(g.Public, w.Public) || !bytes.Equal(g.Private, w.Private) || !bytes.Equal(g.Unsafe, w.Unsafe) ||
			fmt.Sprint(g.Err) != fmt.Sprint(w.Err) {
			t.Fatalf("%s: row %d differs:\n got %+v\nwant %+v", what, i+1, g, w)
		}
	}
}

// ndjsonLines splits an NDJSON input into its physical lines as the reader
// sees them: without the line break, a CR before it dropped, the BOM of
// line 1 kept (callers strip it).
func ndjsonLines(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the input ended with a line break
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}

func blankLine(b []byte) bool { return len(bytes.Trim(b, " \t\r")) == 0 }

func FuzzNDJSON(f *testing.F) {
	f.Add([]byte(`{"user_id":"user_1","public_metadata":{"a":1}}` + "\n"))
	f.Fuzz(checkNDJSON)
}

// checkNDJSON is FuzzNDJSON's property check of one input.
func checkNDJSON(t *testing.T, data []byte) {
	open := func(r io.Reader, limit int) func() (Reader, error) {
		return func() (Reader, error) {
			d, err := fuzzOptions.Open(r, "fuzz.ndjson", NDJSON)
			if limit > 0 {
				d.(*NDJSONReader).MaxRowBytes = limit
			}
			return d, err
		}
	}
	out := readBounded(t, len(data), open(bytes.NewReader(data), 0))
	if out.readErr != nil {
		t.Fatalf("reading from memory failed: %v", out.readErr)
	}

	// Every non-blank line is one row, in order, with its line number
	// and its exact bytes. The first line the oracle reads as naming one
	// kind of key sets the file's; after a line it is unsure of, the
	// file's kind is unknown to it, and so is any row's validity.
	lines := ndjsonLines(data)
	k := 0
	var file KeyKind
	lost := false
	for i, l := range lines {
		if i == 0 {
			l = bytes.TrimPrefix(l, bom)
		}
		if blankLine(l) {
			continue
		}
		if k >= len(out.rows) {
			t.Fatalf("line %d %q has no row (%d rows)", i+1, l, len(out.rows))
		}
		r := out.rows[k]
		k++
		if r.N != k || r.Line != i+1 {
			t.Fatalf("row %d at line %d, want row %d at line %d", r.N, r.Line, k, i+1)
		}
		if !bytes.Equal(r.Raw, l) {
			t.Fatalf("row %d Raw %q, want line %d %q", r.N, r.Raw, i+1, l)
		}
		code := rowCode(t, r)
		if code == "" {
			checkValidRow(t, r)
			for _, f := range [...][]byte{r.Public, r.Private, r.Unsafe} {
				if f != nil && !bytes.Contains(r.Raw, f) {
					t.Fatalf("row %d: field %q is not in the line %q", r.N, f, r.Raw)
				}
			}
		}
		v, o, named, sure := judgeNDJSONLine(l, file)
		if lost && v == valid {
			v = unsure
		}
		if file == 0 && !lost {
			file = named
			lost = !sure
		}
		switch {
		case v == valid && code != "":
			t.Fatalf("row %d %q invalid (%s: %v), encoding/json finds it valid", r.N, l, code, r.Err)
		case v == invalid && code == "":
			t.Fatalf("row %d %q valid, encoding/json finds it invalid", r.N, l)
		case v == valid:
			if o.key != r.Key {
				t.Fatalf("row %d key %+v, encoding/json reads %+v", r.N, r.Key, o.key)
			}
			for i, f := range [...][]byte{r.Public, r.Private, r.Unsafe} {
				if !bytes.Equal(f, o.fields[i]) || (f == nil) != (o.fields[i] == nil) {
					t.Fatalf("row %d %s = %q, encoding/json reads %q", r.N, fieldNames[i+1], f, o.fields[i])
				}
			}
		}
	}
	if k != len(out.rows) {
		t.Fatalf("%d rows from %d non-blank lines", len(out.rows), k)
	}
	if !lost && out.kind != file {
		t.Fatalf("KeyKind %v, the oracle's rows name users by %v", out.kind, file)
	}

	// The rows do not depend on how the input arrives.
	one := readBounded(t, len(data), open(iotest.OneByteReader(bytes.NewReader(data)), 0))
	sameRows(t, "one byte at a time", one.rows, out.rows)

	// A line over MaxRowBytes is an invalid row of its own, blank or
	// not; the rest read as before, but that such a line names no user,
	// so a later one may set the file's kind of key: rows may then differ
	// in being of the file's kind or not, and in how a missing key is told.
	const limit = 24
	small := readBounded(t, len(data), open(bytes.NewReader(data), limit))
	var want []Row
	k = 0 // the next row of the full read
	for i, l := range lines {
		blank := blankLine(l)
		if i == 0 {
			blank = blankLine(bytes.TrimPrefix(l, bom))
		}
		switch {
		case len(l) > limit: // the check comes before the BOM is cut
			want = append(want, Row{Line: i + 1, Err: rowErr(CodeLineTooLong, "line is longer than %d bytes", limit)})
		case !blank:
			want = append(want, out.rows[k])
		}
		if !blank {
			k++
		}
	}
	for i := range want {
		want[i].N = i + 1
	}
	got := slices.Clone(small.rows)
	for i := range min(len(got), len(want)) {
		g, w := got[i].Err, want[i].Err
		switch {
		case isCode(g, CodeMixedKeys) || isCode(w, CodeMixedKeys),
			isCode(g, CodeMissingUserID) && isCode(w, CodeMissingUserID):
			got[i].Err, want[i].Err = nil, nil
		}
	}
	sameRows(t, fmt.Sprintf("MaxRowBytes %d", limit), got, want)

	// A line longer than the read buffer reads the same: leading spaces
	// before the object change nothing but Raw. It costs 64 KiB a run,
	// so only some inputs (chosen by length, to stay deterministic) pay.
	if len(lines) > 0 && len(data) < 4096 && len(data)%8 == 0 {
		pad := bytes.Repeat([]byte(" "), 64<<10+7)
		var b bytes.Buffer
		first := true
		for i, l := range lines {
			if i > 0 {
				b.WriteByte('\n')
			}
			if i == 0 && bytes.HasPrefix(l, bom) {
				b.Write(bom)
				l = l[len(bom):]
			}
			if first && !blankLine(l) {
				b.Write(pad)
				first = false
			}
			b.Write(l)
		}
		padded := readBounded(t, b.Len(), open(bytes.NewReader(b.Bytes()), 0))
		if len(padded.rows) != len(out.rows) {
			t.Fatalf("padded: %d rows, want %d", len(padded.rows), len(out.rows))
		}
		for i, p := range padded.rows {
			w := out.rows[i]
			if p.N != w.N || p.Line != w.Line || p.UserID != w.UserID || rowCode(t, p) != rowCode(t, w) ||
				!bytes.Equal(p.Public, w.Public) || !bytes.Equal(p.Private, w.Private) || !bytes.Equal(p.Unsafe, w.Unsafe) {
				t.Fatalf("padded row %d differs:\n got %+v\nwant %+v", i+1, p, w)
			}
		}
	}
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("user_id,public_metadata\nuser_1,\"{\"\"a\"\":1}\"\n"))
	f.Fuzz(checkCSV)
}

// checkCSV is FuzzCSV's property check of one input.
func checkCSV(t *testing.T, data []byte) {
	open := func(r io.Reader) func() (Reader, error) {
		return func() (Reader, error) { return NewCSV(r, "fuzz.csv", fuzzOptions) }
	}
	out := readBounded(t, len(data), open(bytes.NewReader(data)))
	if out.readErr != nil {
		t.Fatalf("reading from memory failed: %v", out.readErr)
	}
	one := readBounded(t, len(data), open(iotest.OneByteReader(bytes.NewReader(data))))
	if fmt.Sprint(one.openErr) != fmt.Sprint(out.openErr) || !bytes.Equal(one.header, out.header) {
		t.Fatalf("one byte at a time: open error %v header %q, want %v %q", one.openErr, one.header, out.openErr, out.header)
	}
	sameRows(t, "one byte at a time", one.rows, out.rows)

	// The oracle: encoding/csv alone, and encoding/json for the cells,
	// with the delimiter that names the most of the tool's columns.
	body := bytes.TrimPrefix(data, bom)
	comma := PeekDelimiter(bufio.NewReader(bytes.NewReader(data)))
	checkDelimiter(t, body, comma)
	if out.openErr == nil && out.comma != comma {
		t.Fatalf("the reader splits at %q, PeekDelimiter says %q", out.comma, comma)
	}
	cr := csv.NewReader(bytes.NewReader(body))
	cr.Comma = comma
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		if out.openErr != nil || len(out.rows) != 0 {
			t.Fatalf("empty input: open error %v, %d rows", out.openErr, len(out.rows))
		}
		return
	case err != nil:
		var he *HeaderError
		var pe *csv.ParseError
		if !errors.As(out.openErr, &he) || !errors.As(err, &pe) || he.Line != pe.StartLine {
			t.Fatalf("header %v, but Open returned %v", err, out.openErr)
		}
		return
	}
	if msg := oracleHeader(header); msg != "" {
		// The header error names the header's own line: blank lines may
		// come before it.
		var he *HeaderError
		if line, _ := cr.FieldPos(0); !errors.As(out.openErr, &he) || he.Line != line {
			t.Fatalf("header %q at line %d: %s, but Open returned %v", header, line, msg, out.openErr)
		}
		return
	}
	if out.openErr != nil {
		t.Fatalf("header %q is fine, but Open returned %v", header, out.openErr)
	}

	// The header and the rows' Raw bytes are the input, in order.
	rest, ok := bytes.CutPrefix(body, out.header)
	if !ok {
		if !bytes.Equal(append(bytes.Clone(body), '\n'), out.header) || len(out.rows) > 0 {
			t.Fatalf("Header %q is not the start of the input %q", out.header, body)
		}
		rest = nil
	}
	for _, r := range out.rows {
		var ok bool
		if rest, ok = bytes.CutPrefix(rest, r.Raw); !ok {
			t.Fatalf("row %d Raw %q is not the next bytes of the input %q", r.N, r.Raw, rest)
		}
	}
	if len(bytes.Trim(rest, "\r\n")) > 0 {
		t.Fatalf("input left after the last row: %q", rest)
	}

	for k := 0; ; k++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			if k != len(out.rows) {
				t.Fatalf("%d rows, encoding/csv reads %d records", len(out.rows), k)
			}
			break
		}
		if k >= len(out.rows) {
			t.Fatalf("encoding/csv reads record %d, the reader stopped at %d rows", k+1, len(out.rows))
		}
		r := out.rows[k]
		code := rowCode(t, r)
		if r.N != k+1 || r.Line < 2 {
			t.Fatalf("row %d at line %d, want row %d at line 2 or later", r.N, r.Line, k+1)
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("encoding/csv: %v", err)
			}
			if (code != CodeCSVSyntax && code != CodeFieldCount) || r.Line != pe.StartLine {
				t.Fatalf("row %d at line %d %s, encoding/csv says %v", r.N, r.Line, code, err)
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if r.Line != line {
			t.Fatalf("row %d at line %d, encoding/csv says line %d", r.N, r.Line, line)
		}
		if code == "" {
			checkValidRow(t, r)
			// The fields are the cells of the row's own bytes.
			own := csv.NewReader(bytes.NewReader(append(bytes.Clone(out.header), r.Raw...)))
			own.Comma = comma
			recs, err := own.ReadAll()
			if err != nil || len(recs) != 2 {
				t.Fatalf("row %d Raw %q does not read as one record: %v", r.N, r.Raw, err)
			}
			_, o := judgeCSVCells(recs[0], recs[1])
			if o.key != r.Key {
				t.Fatalf("row %d key %+v, its bytes hold %+v", r.N, r.Key, o.key)
			}
			for i, f := range [...][]byte{r.Public, r.Private, r.Unsafe} {
				if !bytes.Equal(f, o.fields[i]) || (f == nil) != (o.fields[i] == nil) {
					t.Fatalf("row %d %s = %q, its bytes hold %q", r.N, fieldNames[i+1], f, o.fields[i])
				}
			}
		}
		switch v, _ := judgeCSVCells(header, rec); {
		case v == valid && code != "":
			t.Fatalf("row %d %q invalid (%s: %v), the oracle finds it valid", r.N, rec, code, r.Err)
		case v == invalid && code == "":
			t.Fatalf("row %d %q valid, the oracle finds it invalid", r.N, rec)
		}
	}
}

// oracleHeader says what is wrong with a CSV header, or "".
func oracleHeader(h []string) string {
	seen := map[string]bool{}
	keys, metadata := 0, false
	for _, name := range h {
		name = strings.TrimSpace(name)
		switch {
		case name == "" || fuzzOptions.ignores(name):
			continue
		case fieldSlot([]byte(name)) < 0:
			return "unknown column"
		case seen[name]:
			return "repeated column"
		}
		seen[name] = true
		if _, ok := keyNames[name]; ok {
			keys++
		} else {
			metadata = true
		}
	}
	switch {
	case keys == 0:
		return "no key column"
	case keys > 1:
		return "two kinds of key"
	case !metadata:
		return "no metadata column"
	}
	return ""
}

// checkDelimiter fails unless comma splits the header line of body (its
// first line that is not empty) into at least as many of the tool's
// column names as either other delimiter.
func checkDelimiter(t *testing.T, body []byte, comma rune) {
	t.Helper()
	var line []byte
	for _, l := range bytes.Split(body, []byte("\n")) {
		if l = bytes.TrimSuffix(l, []byte("\r")); len(l) > 0 {
			line = l
			break
		}
	}
	names := func(c rune) int {
		cr := csv.NewReader(bytes.NewReader(line))
		cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord = c, true, -1
		cells, _ := cr.Read()
		n := 0
		for _, cell := range cells {
			if fieldSlot([]byte(strings.TrimSpace(cell))) >= 0 {
				n++
			}
		}
		return n
	}
	for _, other := range []rune{',', ';', '\t'} {
		if names(other) > names(comma) {
			t.Fatalf("header %q: delimiter %q names %d columns, %q names %d", line, comma, names(comma), other, names(other))
		}
	}
}

// TestFuzzOracle pins the fuzz targets' oracle on lines whose verdict is
// known, so a fuzz run that finds nothing is not an oracle that judges
// nothing.
func TestFuzzOracle(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]verdict{
		`{"user_id":"user_1","public_metadata":{"a":1}}`:                           valid,
		`{"user_id":"user_1","public_metadata":null,"unsafe_metadata":{}}`:         valid,
		`{"user_id":"user\u005f1","public_metadata":{}}`:                           valid,
		`{"user_id":"user_1","public_metadata":{"n":1E400,"b":9007199254740993}}`:  valid,
		`{"user_id":"user_1","public_metadata":{"a":1,"a":2}}`:                     invalid,
		`{"user_id":"user_1","public_metadata":{"x":[{"a":1,"b":{"a":1},"a":2}]}}`: invalid,
		`{"user_id":"user_1","public_metadata":{"a":{"x":1},"b":{"x":2}}}`:         valid,
		`{"user_id":"user_1","public_metadata":[]}`:                                invalid,
		`{"user_id":"user_1","public_metdata":{}}`:                                 invalid,
		`{"user_id":"user_1"}`:                                            invalid,
		`{"user_id":" user_1","public_metadata":{}}`:                      invalid,
		`{"user_id":"user_1/..","public_metadata":{}}`:                    invalid,
		`{"public_metadata":{}}`:                                          invalid,
		`{"user_id":"user_1","public_metadata":{}} x`:                     invalid,
		"{\"user_id\":\"user_1\",\"public_metadata\":{\"a\":\"\xff\"}}":   invalid,
		`{"user_id":"user_1","public_metadata":{"a":"\ud800"}}`:           unsure,
		`{"external_id":"crm-1","public_metadata":{}}`:                    valid,
		`{"external_id":"+crm-1","public_metadata":{}}`:                   invalid,
		`{"external_id":"crm\u00001","public_metadata":{}}`:               invalid,
		`{"external_id":" crm","public_metadata":{}}`:                     invalid,
		`{"email_address":"a@b.c","public_metadata":{}}`:                  valid,
		`{"email_address":"a@b@c","public_metadata":{}}`:                  invalid,
		`{"email_address":"a b@c","public_metadata":{}}`:                  invalid,
		`{"email_address":"a@b","user_id":"user_1","public_metadata":{}}`: invalid,
		`{"user_id":"user_1","note":{"x":[1]},"public_metadata":{}}`:      valid,
		`{"user_id":"user_1","note":1,"note":2,"public_metadata":{}}`:     invalid,
	} {
		if got, _, _, _ := judgeNDJSONLine([]byte(line), 0); got != want {
			t.Errorf("oracle says %d for %s, want %d", got, line, want)
		}
	}
	// In a file that names users by user_id.
	for line, want := range map[string]verdict{
		`{"user_id":"user_1","public_metadata":{}}`:      valid,
		`{"external_id":"crm-1","public_metadata":{}}`:   invalid,
		`{"email_address":"a@b.c","public_metadata":{}}`: invalid,
	} {
		if got, _, _, _ := judgeNDJSONLine([]byte(line), UserID); got != want {
			t.Errorf("oracle says %d for %s in a user_id file, want %d", got, line, want)
		}
	}
	for line, want := range map[string]KeyKind{
		`{"external_id":"+crm-1","public_metadata":[]}`:               ExternalID, // valid or not, it names one kind
		`{"user_id":"user_1","user_id":"user_2"}`:                     UserID,
		`{"external_id":1,"user_id":"user_1"}`:                        0, // two kinds
		`{"public_metadata":{}}`:                                      0,
		`{"email_address":"a","public_metadata":{"a":{"b":1,"b":2}}}`: 0, // the reader cannot read it
		`{"email_address":"a","public_metadata":{}} x`:                0,
	} {
		if _, _, named, _ := judgeNDJSONLine([]byte(line), 0); named != want {
			t.Errorf("oracle says %s names users by %v, want %v", line, named, want)
		}
	}
	h := []string{"user_id", " public_metadata "}
	for _, c := range []struct {
		rec  []string
		want verdict
	}{
		{[]string{"user_1", `{"a":1}`}, valid},
		{[]string{"user_1", ` null `}, valid},
		{[]string{"user_1", ``}, invalid},
		{[]string{"user_1", `{"a":1,"a":1}`}, invalid},
		{[]string{"user_1 ", `{}`}, invalid},
		{[]string{"user_1", `"x"`}, invalid},
	} {
		if got, _ := judgeCSVCells(h, c.rec); got != c.want {
			t.Errorf("oracle says %d for %q, want %d", got, c.rec, c.want)
		}
	}
	h = []string{"email_address", "note", "public_metadata", ""}
	for _, c := range []struct {
		rec  []string
		want verdict
	}{
		{[]string{"a@b.c", "for people", `{}`, ""}, valid},
		{[]string{"a@b.c", "", `{}`, "x"}, invalid},
		{[]string{"a.b.c", "", `{}`, ""}, invalid},
		{[]string{"", "", `{}`, ""}, invalid},
	} {
		if got, _ := judgeCSVCells(h, c.rec); got != c.want {
			t.Errorf("oracle says %d for %q, want %d", got, c.rec, c.want)
		}
	}
	for _, c := range []struct {
		h    []string
		want string
	}{
		{[]string{"user_id", "public_metadata", "", " "}, ""},
		{[]string{"note", "external_id", "unsafe_metadata", "note"}, ""},
		{[]string{"user_id", "email_address", "public_metadata"}, "two kinds of key"},
		{[]string{"", "public_metadata"}, "no key column"},
		{[]string{"user_id", "Public Metadata"}, "unknown column"},
	} {
		if got := oracleHeader(c.h); got != c.want {
			t.Errorf("oracle says %q for the header %q, want %q", got, c.h, c.want)
		}
	}
}
