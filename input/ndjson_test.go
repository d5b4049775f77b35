package input

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every row of data in format f, failing the test on a read
// or header error.
func readAll(t *testing.T, f Format, data string) []Row {
	t.Helper()
	rows, _ := readWith(t, Options{}, f, data)
	return rows
}

// readWith reads every row of data in format f with the options o, and
// returns the reader too, failing the test on a read or header error.
func readWith(t *testing.T, o Options, f Format, data string) ([]Row, Reader) {
	t.Helper()
	r, err := o.Open(strings.NewReader(data), "in."+string(f), f)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var rows []Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows, r
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		rows = append(rows, row)
	}
}

// code returns the row's error code, or "" for a valid row.
func code(r Row) string {
	var e *RowError
	if errors.As(r.Err, &e) {
		return e.Code
	}
	if r.Err != nil {
		return "?" + r.Err.Error()
	}
	return ""
}

// field renders a metadata field as the test tables write it: "-" absent.
func field(b []byte) string {
	if b == nil {
		return "-"
	}
	return string(b)
}

func TestNDJSONFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line              string
		public, private, unsafe string
	}{
		{"public only", `{"user_id":"user_1","public_metadata":{"plan":"pro","nestedKey":{"innerCamel":1}}}`,
			`{"plan":"pro","nestedKey":{"innerCamel":1}}`, "-", "-"},
		{"null is kept apart from absent", `{"user_id":"user_1","public_metadata":null}`, "null", "-", "-"},
		{"empty object clears", `{"user_id":"user_1","private_metadata":{}}`, "-", "{}", "-"},
		{"all three", `{"user_id":"user_1","public_metadata":{"a":1},"private_metadata":{"b":[1,2]},"unsafe_metadata":{"c":"x"}}`,
			`{"a":1}`, `{"b":[1,2]}`, `{"c":"x"}`},
		{"bytes kept exactly", `{"user_id":"user_1","public_metadata": { "z" : 9007199254740993, "a":1.0e2 ,"e":"\u00e9😀\ud83d\ude00" } }`,
			`{ "z" : 9007199254740993, "a":1.0e2 ,"e":"\u00e9😀\ud83d\ude00" }`, "-", "-"},
		{"keys in any order", `{"unsafe_metadata":{},"user_id":"user_1","public_metadata":null}`, "null", "-", "{}"},
		{"escaped key names the field", `{"user_id":"user_1","public\u005fmetadata":{"a":1}}`, `{"a":1}`, "-", "-"},
		{"same key in sibling objects", `{"user_id":"user_1","public_metadata":{"a":{"x":1},"b":{"x":2}}}`, `{"a":{"x":1},"b":{"x":2}}`, "-", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := readAll(t, NDJSON, tt.line+"\n")
			if len(rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(rows))
			}
			r := rows[0]
			if r.Err != nil {
				t.Fatalf("row invalid: %v", r.Err)
			}
			if r.UserID != "user_1" {
				t.Errorf("UserID = %q, want user_1", r.UserID)
			}
			for _, f := range []struct{ name, got, want string }{
				{"public", field(r.Public), tt.public},
				{"private", field(r.Private), tt.private},
				{"unsafe", field(r.Unsafe), tt.unsafe},
			} {
				if f.got != f.want {
					t.Errorf("%s = %s, want %s", f.name, f.got, f.want)
				}
			}
			if string(r.Raw) != tt.line {
				t.Errorf("Raw = %q, want the line %q", r.Raw, tt.line)
			}
		})
	}
}

func TestNDJSONInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, code, reason string
	}{
		{"invalid json", `{"user_id":"user_1","public_metadata":{"a":}}`, CodeInvalidJSON, "column 44"},
		{"truncated", `{"user_id":"user_1","public_metadata":{"a":1}`, CodeInvalidJSON, "unexpected end"},
		{"trailing garbage", `{"user_id":"user_1","public_metadata":{}} x`, CodeInvalidJSON, "trailing data"},
		{"two objects", `{"user_id":"user_1","public_metadata":{}}{}`, CodeInvalidJSON, "trailing data"},
		{"array row", `[1,2]`, CodeNotObject, "row is an array"},
		{"string row", `"user_1"`, CodeNotObject, "row is a string"},
		{"metadata array", `{"user_id":"user_1","public_metadata":[1]}`, CodeMetadataType, "public_metadata must be a JSON object or null, got an array"},
		{"metadata string", `{"user_id":"user_1","private_metadata":"{}"}`, CodeMetadataType, "got a string"},
		{"metadata number", `{"user_id":"user_1","unsafe_metadata":1}`, CodeMetadataType, "got a number"},
		{"metadata bool", `{"user_id":"user_1","unsafe_metadata":true}`, CodeMetadataType, "got a boolean"},
		{"missing user_id", `{"public_metadata":{}}`, CodeMissingUserID, "user_id is missing"},
		{"user_id null", `{"user_id":null,"public_metadata":{}}`, CodeInvalidUserID, "must be a string"},
		{"user_id number", `{"user_id":12,"public_metadata":{}}`, CodeInvalidUserID, "must be a string"},
		{"empty user_id", `{"user_id":"","public_metadata":{}}`, CodeInvalidUserID, "empty"},
		{"user_id with spaces", `{"user_id":" user_1","public_metadata":{}}`, CodeInvalidUserID, "whitespace"},
		{"user_id trailing newline escape", `{"user_id":"user_1\n","public_metadata":{}}`, CodeInvalidUserID, "whitespace"},
		{"path traversal", `{"user_id":"user_1/../../instance","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"query", `{"user_id":"user_1?x=1","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"fragment", `{"user_id":"user_1#x","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"percent dots", `{"user_id":"%2e%2e","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"percent slash", `{"user_id":"user_1%2Fmetadata","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"dot dot", `{"user_id":"..","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"escaped slash", `{"user_id":"user_1\/x","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"bare prefix", `{"user_id":"user_","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"other prefix", `{"user_id":"org_123","public_metadata":{}}`, CodeInvalidUserID, "not a Clerk user id"},
		{"unknown key", `{"user_id":"user_1","public_metdata":{}}`, CodeUnknownField, `unknown field "public_metdata"`},
		{"no metadata", `{"user_id":"user_1"}`, CodeNoMetadata, "sets none"},
		{"empty object row", `{}`, CodeMissingUserID, "missing"},
		{"duplicate field", `{"user_id":"user_1","public_metadata":{},"public_metadata":{"a":1}}`, CodeDuplicateKey, "appears twice"},
		{"duplicate user_id", `{"user_id":"user_1","user_id":"user_2","public_metadata":{}}`, CodeDuplicateKey, "appears twice"},
		{"duplicate key in metadata", `{"user_id":"user_1","public_metadata":{"a":1,"a":2}}`, CodeDuplicateKey, `duplicate key "a"`},
		{"duplicate key deep", `{"user_id":"user_1","public_metadata":{"x":[{"b":{"a":1,"c":2,"a":3}}]}}`, CodeDuplicateKey, `duplicate key "a"`},
		{"duplicate key escaped", `{"user_id":"user_1","public_metadata":{"a":1,"\u0061":2}}`, CodeDuplicateKey, `duplicate key "a"`},
		{"invalid utf8", "{\"user_id\":\"user_1\",\"public_metadata\":{\"a\":\"\xff\"}}", CodeInvalidUTF8, "invalid UTF-8 at column 45"},
		{"invalid utf8 key", "{\"user_id\":\"user_1\",\"public_metadata\":{\"\xc3\":1}}", CodeInvalidUTF8, "invalid UTF-8"},
		{"lone surrogate", `{"user_id":"user_1","public_metadata":{"a":"\ud800"}}`, CodeInvalidJSON, "surrogate"},
		{"lone low surrogate", `{"user_id":"user_1","public_metadata":{"a":"\udc00x"}}`, CodeInvalidJSON, "surrogate"},
		{"control char", "{\"user_id\":\"user_1\",\"public_metadata\":{\"a\":\"\x01\"}}", CodeInvalidJSON, "control character"},
		{"bad escape", `{"user_id":"user_1","public_metadata":{"a":"\x"}}`, CodeInvalidJSON, "invalid escape"},
		{"leading zero", `{"user_id":"user_1","public_metadata":{"a":01}}`, CodeInvalidJSON, "expected ','"},
		{"bare dot", `{"user_id":"user_1","public_metadata":{"a":1.}}`, CodeInvalidJSON, "decimal point"},
		{"NaN", `{"user_id":"user_1","public_metadata":{"a":NaN}}`, CodeInvalidJSON, "expected a JSON value"},
		{"single quotes", `{'user_id':'user_1'}`, CodeInvalidJSON, "expected a string key"},
		{"trailing comma", `{"user_id":"user_1","public_metadata":{"a":1,}}`, CodeInvalidJSON, "expected a string key"},
		{"too deep", `{"user_id":"user_1","public_metadata":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, CodeInvalidJSON, "deeper than"},
		{"syntax beats unknown key", `{"nope":1,"user_id":"user_1","public_metadata":{"a":}}`, CodeInvalidJSON, "invalid JSON"},
		{"bom inside the file", "\xEF\xBB\xBF{\"user_id\":\"user_1\",\"public_metadata\":{}}", CodeInvalidJSON, "column 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A valid line first, so a BOM on the test line is not at the
			// start of the file.
			rows := readAll(t, NDJSON, `{"user_id":"user_0","public_metadata":{}}`+"\n"+tt.line+"\n")
			if len(rows) != 2 {
				t.Fatalf("got %d rows, want 2", len(rows))
			}
			r := rows[1]
			if got := code(r); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, r.Err, tt.code)
			}
			if !strings.Contains(r.Err.Error(), tt.reason) {
				t.Errorf("reason %q does not mention %q", r.Err, tt.reason)
			}
			if r.Line != 2 || r.N != 2 {
				t.Errorf("row %d at line %d, want row 2 at line 2", r.N, r.Line)
			}
			if string(r.Raw) != tt.line {
				t.Errorf("Raw = %q, want the line", r.Raw)
			}
		})
	}
}

// Messages about invalid rows must not quote metadata values.
func TestNDJSONReasonsHideValues(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value"
	lines := []string{
		`{"user_id":"user_1","private_metadata":{"ssn":"` + secret + `",}}`,
		`{"user_id":"user_1","private_metadata":"` + secret + `"}`,
		`{"user_id":"user_1","private_metadata":{"ssn":` + secret + `}}`,
		`{"user_id":"user_1","private_metadata":{"ssn":"` + secret + "\xff" + `"}}`,
		`{"user_id":"user_1","private_metadata":{"a":"` + secret + `"}} ` + secret,
	}
	rows := readAll(t, NDJSON, strings.Join(lines, "\n"))
	for _, r := range rows {
		if r.Err == nil {
			t.Fatalf("line %d valid, want invalid", r.Line)
		}
		if strings.Contains(r.Err.Error(), secret) || strings.Contains(r.Err.Error(), "s3cr") {
			t.Errorf("line %d: reason %q quotes the value", r.Line, r.Err)
		}
	}
}

func TestNDJSONLines(t *testing.T) {
	t.Parallel()
	const ok = `{"user_id":"user_%d","public_metadata":{}}`
	row := func(i int) string { return strings.Replace(ok, "%d", string(rune('0'+i)), 1) }
	tests := []struct {
		name  string
		data  string
		lines []int
	}{
		{"plain", row(1) + "\n" + row(2) + "\n", []int{1, 2}},
		{"no final newline", row(1) + "\n" + row(2), []int{1, 2}},
		{"blank lines", "\n" + row(1) + "\n\n  \t\n" + row(2) + "\n\n", []int{2, 5}},
		{"crlf", row(1) + "\r\n\r\n" + row(2) + "\r\n", []int{1, 3}},
		{"bom", "\xEF\xBB\xBF" + row(1) + "\n" + row(2), []int{1, 2}},
		{"bom then blank", "\xEF\xBB\xBF\n" + row(1), []int{2}},
		{"empty", "", nil},
		{"only blank", "\n\r\n \n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := readAll(t, NDJSON, tt.data)
			if len(rows) != len(tt.lines) {
				t.Fatalf("got %d rows, want %d", len(rows), len(tt.lines))
			}
			for i, r := range rows {
				if r.Err != nil {
					t.Errorf("row %d: %v", i+1, r.Err)
				}
				if r.Line != tt.lines[i] || r.N != i+1 {
					t.Errorf("row %d at line %d, want row %d at line %d", r.N, r.Line, i+1, tt.lines[i])
				}
				if bytes.ContainsAny(r.Raw, "\r\n") || bytes.HasPrefix(r.Raw, bom) {
					t.Errorf("row %d Raw %q keeps a line break or BOM", i+1, r.Raw)
				}
			}
		})
	}
}

func TestNDJSONLongLines(t *testing.T) {
	t.Parallel()
	big := `{"user_id":"user_1","public_metadata":{"blob":"` + strings.Repeat("x", 5<<20) + `"}}`
	data := `{"user_id":"user_0","public_metadata":{}}` + "\n" + big + "\n" + `{"user_id":"user_2","public_metadata":{}}` + "\n"
	// One byte at a time through the reader is the worst case for gathering.
	r := NewNDJSON(iotest.HalfReader(strings.NewReader(data)), "big.ndjson")
	var rows []Row
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3", len(rows))
	}
	for i, row := range rows {
		if row.Err != nil || row.Line != i+1 {
			t.Errorf("row %d: line %d err %v", i+1, row.Line, row.Err)
		}
	}
	if len(rows[1].Public) != 5<<20+11 {
		t.Errorf("big row's public_metadata has %d bytes", len(rows[1].Public))
	}

	// Over the limit: the line is an invalid row and the next still reads.
	r = NewNDJSON(strings.NewReader(data), "big.ndjson")
	r.MaxRowBytes = 1 << 20
	rows = nil
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3", len(rows))
	}
	if code(rows[1]) != CodeLineTooLong || rows[1].Line != 2 {
		t.Errorf("long row: code %q line %d, want %q at line 2", code(rows[1]), rows[1].Line, CodeLineTooLong)
	}
	if rows[2].Err != nil || rows[2].Line != 3 || rows[2].UserID != "user_2" {
		t.Errorf("row after the long one: %+v", rows[2])
	}
}

func TestNDJSONReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	r := NewNDJSON(io.MultiReader(strings.NewReader(`{"user_id":"user_1","public_metadata":{}}`+"\n"), iotest.ErrReader(boom)), "x.ndjson")
	if _, err := r.Next(); err != nil {
		t.Fatalf("first row: %v", err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the read error", err)
	}
}
