package input

import (
	"errors"
	"strings"
	"testing"
)

func TestCSVFields(t *testing.T) {
	t.Parallel()
	const header = "user_id,public_metadata,private_metadata,unsafe_metadata\n"
	tests := []struct {
		name, data              string
		public, private, unsafe string
	}{
		{"public only", header + `user_1,"{""plan"":""pro"",""nestedKey"":{""innerCamel"":1}}",,` + "\n",
			`{"plan":"pro","nestedKey":{"innerCamel":1}}`, "-", "-"},
		{"null", header + "user_1,null,,\n", "null", "-", "-"},
		{"empty object", header + "user_1,,{},\n", "-", "{}", "-"},
		{"all three", header + `user_1,"{""a"":1}","{""b"":[1,2]}","{""c"":""x""}"` + "\n",
			`{"a":1}`, `{"b":[1,2]}`, `{"c":"x"}`},
		{"columns in any order", "unsafe_metadata,user_id\n{},user_1\n", "-", "-", "{}"},
		{"big ints and unicode", "user_id,public_metadata\n" + `user_1,"{""n"":9007199254740993,""e"":""\u00e9😀"",""f"":1.0e2}"` + "\n",
			`{"n":9007199254740993,"e":"\u00e9😀","f":1.0e2}`, "-", "-"},
		{"comma and newline inside JSON", "user_id,public_metadata\n" + "user_1,\"{\"\"a\"\":\"\"x,y\"\",\n\"\"b\"\":1}\"\n",
			"{\"a\":\"x,y\",\n\"b\":1}", "-", "-"},
		{"whitespace around the JSON is kept", "user_id,public_metadata\nuser_1, {} \n", " {} ", "-", "-"},
		{"header with spaces", " user_id , public_metadata \nuser_1,{}\n", "{}", "-", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := readAll(t, CSV, tt.data)
			if len(rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(rows))
			}
			r := rows[0]
			if r.Err != nil {
				t.Fatalf("row invalid: %v", r.Err)
			}
			if r.UserID != "user_1" || r.Line != 2 || r.N != 1 {
				t.Errorf("row %d at line %d user %q, want row 1 at line 2 user_1", r.N, r.Line, r.UserID)
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
		})
	}
}

func TestCSVInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, record, code, reason string
	}{
		{"invalid json", `user_1,"{""a"":}"`, CodeInvalidJSON, "public_metadata: invalid JSON at byte 6"},
		{"trailing garbage", `user_1,"{} x"`, CodeInvalidJSON, "trailing data"},
		{"array", `user_1,[1]`, CodeMetadataType, "public_metadata must be a JSON object or null, got an array"},
		{"string", `user_1,"""x"""`, CodeMetadataType, "got a string"},
		{"number", `user_1,12`, CodeMetadataType, "got a number"},
		{"bool", `user_1,false`, CodeMetadataType, "got a boolean"},
		{"whitespace only cell", `user_1,"  "`, CodeInvalidJSON, "unexpected end"},
		{"duplicate key", `user_1,"{""a"":{""b"":1,""b"":2}}"`, CodeDuplicateKey, `duplicate key "b"`},
		{"invalid utf8", "user_1,\"{\"\"a\"\":\"\"\xfe\"\"}\"", CodeInvalidUTF8, "invalid UTF-8"},
		{"empty user_id", `,{}`, CodeInvalidUserID, "empty"},
		{"user_id with space", `user_1 ,{}`, CodeInvalidUserID, "whitespace"},
		{"path user_id", `user_1/../../instance,{}`, CodeInvalidUserID, "not a Clerk user id"},
		{"percent user_id", `user_1%2Fmetadata,{}`, CodeInvalidUserID, "not a Clerk user id"},
		{"no metadata", `user_1,`, CodeNoMetadata, "sets none"},
		{"too many fields", `user_1,{},{}`, CodeFieldCount, "where the header has 2"},
		{"too few fields", `user_1`, CodeFieldCount, "where the header has 2"},
		{"bare quote", `user_1,{"a":1}`, CodeCSVSyntax, "bare \""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := "user_id,public_metadata\nuser_0,{}\n" + tt.record + "\nuser_2,{}\n"
			rows := readAll(t, CSV, data)
			if len(rows) != 3 {
				t.Fatalf("got %d rows, want 3", len(rows))
			}
			r := rows[1]
			if got := code(r); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, r.Err, tt.code)
			}
			if !strings.Contains(r.Err.Error(), tt.reason) {
				t.Errorf("reason %q does not mention %q", r.Err, tt.reason)
			}
			if r.Line != 3 || r.N != 2 {
				t.Errorf("row %d at line %d, want row 2 at line 3", r.N, r.Line)
			}
			if string(r.Raw) != tt.record+"\n" {
				t.Errorf("Raw = %q, want %q", r.Raw, tt.record+"\n")
			}
			if after := rows[2]; after.Err != nil || after.UserID != "user_2" || after.Line != 4 {
				t.Errorf("row after: user %q line %d err %v", after.UserID, after.Line, after.Err)
			}
		})
	}
}

func TestCSVHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, reason string
	}{
		{"unknown column", "user_id,public_metdata\nuser_1,{}\n", `unknown column "public_metdata" in CSV header; did you mean public_metadata?`},
		{"camel case", "user_id,publicMetadata\nuser_1,{}\n", `unknown column "publicMetadata" in CSV header; did you mean public_metadata?`},
		{"words", "user_id;public metadata\nuser_1;{}\n", `unknown column "public metadata" in CSV header; did you mean public_metadata?`},
		{"spreadsheet title", "User ID;public_metadata\nuser_1;{}\n", `unknown column "User ID" in CSV header; did you mean user_id?`},
		{"several unknown", "User ID;publicMetadata;email\n", `unknown columns "User ID" (did you mean user_id?), "publicMetadata" (did you mean public_metadata?) and "email" in CSV header (want user_id, external_id or email_address, and any of public_metadata, private_metadata, unsafe_metadata); ` +
			`a column kept for people can be skipped with --ignore-columns email`},
		{"unknown, nothing near", "user_id,public_metadata,notes\n", `unknown column "notes" in CSV header (want user_id, external_id or email_address, and any of public_metadata, private_metadata, unsafe_metadata); a column kept for people can be skipped with --ignore-columns notes`},
		{"a name --ignore-columns cannot take", "user_id,public_metadata,\"a,b\"\n", `unknown column "a,b" in CSV header (want user_id, external_id or email_address, and any of public_metadata, private_metadata, unsafe_metadata)`},
		{"delimiter of another file", "user_id;public_metadata\nuser_1;{}\n", `unknown column "user_id;public_metadata" in CSV header`}, // with --csv-delimiter ,
		{"no user_id", "public_metadata\n{}\n", "CSV header has no user_id, external_id or email_address column to name each row's user"},
		{"only empty names", ",,\n", "no user_id, external_id or email_address column"},
		{"only user_id", "user_id\nuser_1\n", "no metadata column"},
		{"only external_id", "external_id\nx\n", "no metadata column"},
		{"user_id and email_address", "user_id,email_address,public_metadata\n", "CSV header names users by both user_id and email_address: a file uses one kind of key"},
		{"all three keys", "email_address;external_id;user_id;public_metadata\n", "names users by both user_id and external_id and email_address"},
		{"duplicate column", "user_id,public_metadata,public_metadata\nuser_1,{},{}\n", "appears twice"},
		{"duplicate key column", "external_id,public_metadata,external_id\n", `column "external_id" appears twice`},
		{"bad quoting", "user_id,\"public_metadata\n", "bad CSV header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o Options
			if strings.HasPrefix(tt.name, "delimiter of another") {
				o.Delimiter = ','
			}
			_, err := NewCSV(strings.NewReader(tt.data), "in.csv", o)
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("got %v, want a HeaderError", err)
			}
			if !strings.Contains(err.Error(), tt.reason) || !strings.HasPrefix(err.Error(), "in.csv:1: ") {
				t.Errorf("error %q, want in.csv:1: ... %s", err, tt.reason)
			}
		})
	}
}

func TestCSVLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		data  string
		lines []int
		raw   []string
	}{
		{"plain", "user_id,public_metadata\nuser_1,{}\nuser_2,{}\n", []int{2, 3}, []string{"user_1,{}\n", "user_2,{}\n"}},
		{"crlf", "user_id,public_metadata\r\nuser_1,{}\r\nuser_2,{}\r\n", []int{2, 3}, []string{"user_1,{}\r\n", "user_2,{}\r\n"}},
		{"bom", "\xEF\xBB\xBFuser_id,public_metadata\nuser_1,{}\n", []int{2}, []string{"user_1,{}\n"}},
		{"no final newline", "user_id,public_metadata\nuser_1,{}\nuser_2,{}", []int{2, 3}, []string{"user_1,{}\n", "user_2,{}"}},
		{"blank lines", "user_id,public_metadata\n\nuser_1,{}\n\n\nuser_2,{}\n", []int{3, 6}, []string{"\nuser_1,{}\n", "\n\nuser_2,{}\n"}},
		{"newlines in quoted cells", "user_id,public_metadata\nuser_1,\"{\n\"\"a\"\":\n1}\"\nuser_2,{}\n", []int{2, 5},
			[]string{"user_1,\"{\n\"\"a\"\":\n1}\"\n", "user_2,{}\n"}},
		{"header only", "user_id,public_metadata\n", nil, nil},
		{"header only without newline", "user_id,public_metadata", nil, nil},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := readAll(t, CSV, tt.data)
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
				if string(r.Raw) != tt.raw[i] {
					t.Errorf("row %d Raw = %q, want %q", i+1, r.Raw, tt.raw[i])
				}
			}
		})
	}
}

func TestCSVHeaderBytes(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"\xEF\xBB\xBFuser_id,public_metadata\r\nuser_1,{}\r\n", "user_id,public_metadata"} {
		r, err := NewCSV(strings.NewReader(data), "in.csv", Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := "user_id,public_metadata\r\n"
		if !strings.Contains(data, "\r\n") {
			want = "user_id,public_metadata\n"
		}
		if got := string(Header(r)); got != want {
			t.Errorf("Header = %q, want %q", got, want)
		}
	}
}

func TestCSVBigCell(t *testing.T) {
	t.Parallel()
	blob := strings.Repeat("y", 1<<20)
	data := "user_id,public_metadata\nuser_1,\"{\"\"blob\"\":\"\"" + blob + "\"\"}\"\nuser_2,{}\n"
	rows := readAll(t, CSV, data)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	if rows[0].Err != nil || len(rows[0].Public) != len(blob)+11 {
		t.Errorf("big row: err %v, %d bytes", rows[0].Err, len(rows[0].Public))
	}
	if rows[1].Err != nil || rows[1].Line != 3 {
		t.Errorf("row after the big one: line %d err %v", rows[1].Line, rows[1].Err)
	}
}

func TestFormatOf(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]Format{"a.csv": CSV, "A.CSV": CSV, "x/y.ndjson": NDJSON, "y.jsonl": NDJSON} {
		if got, err := FormatOf(path); err != nil || got != want {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := FormatOf("data.json"); err == nil {
		t.Error("FormatOf(data.json) succeeded, want an error naming --format")
	}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	var x Index
	const n = 100000
	for i := range n {
		if x.Add("user_" + itoa(i)) {
			t.Fatalf("user_%d seen before it was added", i)
		}
	}
	for i := range n {
		if !x.Add("user_" + itoa(i)) {
			t.Fatalf("user_%d not seen after it was added", i)
		}
	}
	if x.Len() != n {
		t.Errorf("Len = %d, want %d", x.Len(), n)
	}
}

func itoa(i int) string {
	var b [20]byte
	p := len(b)
	for {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[p:])
		}
	}
}
