package input

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// Files as spreadsheets save them: separated by ';' or tabs, trailing
// empty columns, columns kept for people.

func TestCSVDelimiters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		opts       Options
		comma      rune
		public     string // of the first row
		raws       []string
	}{
		{name: "semicolon", data: "user_id;public_metadata\nuser_1;{}\nuser_2;null\n",
			comma: ';', public: "{}", raws: []string{"user_1;{}\n", "user_2;null\n"}},
		{name: "tab", data: "user_id\tpublic_metadata\r\nuser_1\t{}\r\nuser_2\tnull\r\n",
			comma: '\t', public: "{}", raws: []string{"user_1\t{}\r\n", "user_2\tnull\r\n"}},
		{name: "quoted cells holding the delimiter", data: "user_id;public_metadata\n" + `user_1;"{""a"":""x;y"",""b"":""p,q""}"` + "\nuser_2;{}\n",
			comma: ';', public: `{"a":"x;y","b":"p,q"}`, raws: []string{`user_1;"{""a"":""x;y"",""b"":""p,q""}"` + "\n", "user_2;{}\n"}},
		{name: "tab, JSON with a tab and a line break", data: "user_id\tpublic_metadata\nuser_1\t\"{\"\"a\"\":\t1,\n\"\"b\"\":2}\"\nuser_2\t{}\n",
			comma: '\t', public: "{\"a\":\t1,\n\"b\":2}", raws: []string{"user_1\t\"{\"\"a\"\":\t1,\n\"\"b\"\":2}\"\n", "user_2\t{}\n"}},
		{name: "BOM and semicolon", data: "\xEF\xBB\xBFuser_id;public_metadata\r\nuser_1;{}\r\nuser_2;{}",
			comma: ';', public: "{}", raws: []string{"user_1;{}\r\n", "user_2;{}"}},
		{name: "blank lines before a ; header", data: "\r\n\nuser_id;public_metadata\nuser_1;{}\nuser_2;{}\n",
			comma: ';', public: "{}", raws: []string{"user_1;{}\n", "user_2;{}\n"}},
		{name: "quoted header names", data: "\"user_id\";\"public_metadata\"\nuser_1;{}\nuser_2;{}\n",
			comma: ';', public: "{}", raws: []string{"user_1;{}\n", "user_2;{}\n"}},
		{name: "spreadsheet names are near enough to tell", data: "user_id;public_metadata;Private Metadata\nuser_1;{};\nuser_2;{};\n",
			comma: ';'}, // the header is then refused, with a suggestion (TestCSVHeader)
		{name: "commas still win", data: "user_id,public_metadata\n" + `user_1,"{""a"":""x;y""}"` + "\nuser_2,{}\n",
			comma: ',', public: `{"a":"x;y"}`, raws: []string{`user_1,"{""a"":""x;y""}"` + "\n", "user_2,{}\n"}},
		{name: "delimiter given", data: "user_id;public_metadata\nuser_1;{}\nuser_2;{}\n", opts: Options{Delimiter: ';'},
			comma: ';', public: "{}", raws: []string{"user_1;{}\n", "user_2;{}\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, slow := range []bool{false, true} {
				var in io.Reader = strings.NewReader(tt.data)
				if slow {
					in = iotest.OneByteReader(in)
				}
				r, err := tt.opts.Open(in, "in.csv", CSV)
				if tt.raws == nil {
					var he *HeaderError
					if !errors.As(err, &he) || !strings.Contains(err.Error(), "Private Metadata") {
						t.Fatalf("got %v, want a header error about Private Metadata", err)
					}
					if got := detectDelimiter([]byte(strings.Split(tt.data, "\n")[0])); got != tt.comma {
						t.Errorf("delimiter %q, want %q", got, tt.comma)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := Delimiter(r); got != tt.comma {
					t.Errorf("Delimiter = %q, want %q", got, tt.comma)
				}
				rows := drain(t, r)
				if len(rows) != len(tt.raws) {
					t.Fatalf("got %d rows, want %d", len(rows), len(tt.raws))
				}
				for i, row := range rows {
					if row.Err != nil {
						t.Errorf("row %d: %v", i+1, row.Err)
					}
					if string(row.Raw) != tt.raws[i] {
						t.Errorf("row %d Raw %q, want %q", i+1, row.Raw, tt.raws[i])
					}
					if want := "user_" + itoa(i+1); row.UserID != want {
						t.Errorf("row %d user %q, want %q", i+1, row.UserID, want)
					}
				}
				if got := string(rows[0].Public); got != tt.public {
					t.Errorf("public_metadata %q, want %q", got, tt.public)
				}
				// The header keeps its delimiter, so failed.csv reads back.
				if h := string(Header(r)); !strings.Contains(h, "public_metadata") || !strings.ContainsRune(h, tt.comma) {
					t.Errorf("Header %q", h)
				}
			}
		})
	}
}

// drain reads the rest of r's rows.
func drain(t *testing.T, r Reader) []Row {
	t.Helper()
	var rows []Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

func TestPeekDelimiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want rune
	}{
		{"user_id,public_metadata\n", ','},
		{"user_id;public_metadata\n", ';'},
		{"user_id\tpublic_metadata\n", '\t'},
		{"user_id;public_metadata", ';'}, // no line break: the header is all there is
		{"user_id;public_metadata\r\nuser_1,x,y,z;{}\n", ';'},
		{"\xEF\xBB\xBFuser_id;public_metadata\n", ';'},
		{"\xEF\xBB\xBF\r\nuser_id;public_metadata\n", ';'}, // the BOM is no header line
		{"\n\r\n\nuser_id\tunsafe_metadata\n", '\t'},
		{"User ID;Public Metadata\n", ';'},         // names near the tool's
		{"userId\tpublicMetadata\n", '\t'},         // and so are these
		{"user_id;public_metadata,x\n", ';'},       // two names beat none
		{"user_id\n", ','},                         // one column: any delimiter will do
		{"email;name\n", ','},                      // nothing known: the default
		{"", ','},                                  // empty
		{"\"user_id\";\"public_metadata\"\n", ';'}, // quoted names
		{"\"user_id;x\",public_metadata\n", ','},   // a ';' inside a quoted name
	}
	for _, tt := range tests {
		for _, slow := range []bool{false, true} {
			var in io.Reader = strings.NewReader(tt.in)
			if slow {
				in = iotest.OneByteReader(in)
			}
			br := bufio.NewReaderSize(in, 16)
			if got := PeekDelimiter(br); got != tt.want {
				t.Errorf("%q (one byte at a time: %v): %q, want %q", tt.in, slow, got, tt.want)
			}
			// Nothing was consumed.
			if rest, _ := io.ReadAll(br); string(rest) != tt.in {
				t.Errorf("%q: %q left to read", tt.in, rest)
			}
		}
	}
	// A header longer than the buffer is told from what it holds.
	long := "user_id;public_metadata;" + strings.Repeat("x", 100) + "\n"
	if got := PeekDelimiter(bufio.NewReaderSize(strings.NewReader(long), 32)); got != ';' {
		t.Errorf("long header: %q, want ';'", got)
	}
}

func TestCSVUnnamedColumns(t *testing.T) {
	t.Parallel()
	data := "user_id;public_metadata;;\n" +
		"user_1;{};;\n" +
		"user_2;{};x;\n" +
		"user_3;{};; \n" +
		"user_4;{}\n"
	rows := readAll(t, CSV, data)
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want 4", len(rows))
	}
	if rows[0].Err != nil || string(rows[0].Public) != "{}" {
		t.Errorf("row 1: %v %q, want valid", rows[0].Err, rows[0].Public)
	}
	for i, want := range []string{"", "column 3 (C) has no name in the header", "column 4 (D) has no name in the header", "record has 2 fields"} {
		r := rows[i]
		switch {
		case want == "" && r.Err != nil:
			t.Errorf("row %d: %v, want valid", i+1, r.Err)
		case want != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), want)):
			t.Errorf("row %d: %v, want %q", i+1, r.Err, want)
		}
	}
	if got := code(rows[1]); got != CodeUnknownField {
		t.Errorf("row 2 code %q, want %q", got, CodeUnknownField)
	}
	if rows[1].UserID != "user_2" {
		t.Errorf("row 2 user %q: the row still names its user", rows[1].UserID)
	}
	// An unnamed column may sit anywhere, spaces in its header cell too.
	rows = readAll(t, CSV, "user_id, ,public_metadata\nuser_1,,{}\n")
	if len(rows) != 1 || rows[0].Err != nil || string(rows[0].Public) != "{}" {
		t.Errorf("unnamed middle column: %+v", rows)
	}
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 27: "AB", 701: "ZZ", 702: "AAA"} {
		if got := columnLetters(i); got != want {
			t.Errorf("columnLetters(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestIgnoredColumns(t *testing.T) {
	t.Parallel()
	o := Options{Ignore: []string{"email", " name "}}
	data := "email;user_id;name;public_metadata\n" +
		"a@example.com;user_1;Ann;{}\n" +
		"b@example.com;user_2;\"Bo; \"\"B\"\"\";null\n"
	rows, _ := readWith(t, o, CSV, data)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	for i, r := range rows {
		if r.Err != nil || r.UserID != "user_"+itoa(i+1) {
			t.Errorf("row %d: user %q err %v", i+1, r.UserID, r.Err)
		}
	}
	if string(rows[1].Raw) != "b@example.com;user_2;\"Bo; \"\"B\"\"\";null\n" {
		t.Errorf("Raw %q: the ignored cells are kept in it", rows[1].Raw)
	}
	// The same in NDJSON: the keys are skipped, their values still checked.
	lines := `{"email":"a@example.com","user_id":"user_1","public_metadata":{},"name":{"first":"Ann"}}` + "\n" +
		`{"user_id":"user_2","name":"Bo","name":"B","public_metadata":{}}` + "\n" +
		`{"user_id":"user_3","name":{"a":1,"a":2},"public_metadata":{}}` + "\n" +
		`{"user_id":"user_4","nickname":"x","public_metadata":{}}` + "\n"
	rows, _ = readWith(t, o, NDJSON, lines)
	for i, want := range []string{"", CodeDuplicateKey, CodeDuplicateKey, CodeUnknownField} {
		if got := code(rows[i]); got != want {
			t.Errorf("ndjson row %d: code %q (%v), want %q", i+1, got, rows[i].Err, want)
		}
	}
	// Without the option the header names them and says how to keep them.
	_, err := Open(strings.NewReader(data), "in.csv", CSV)
	want := `unknown columns "email" and "name" in CSV header (want user_id, external_id or email_address, and any of public_metadata, private_metadata, unsafe_metadata); ` +
		`columns kept for people can be skipped with --ignore-columns email,name`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("got %v\nwant ...%s", err, want)
	}
}

func TestOptionsCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{}, ""},
		{Options{Delimiter: ',', Ignore: []string{"email", "name"}}, ""},
		{Options{Delimiter: '\t'}, ""},
		{Options{Delimiter: '|'}, `CSV delimiter '|': want ',', ';' or tab`},
		{Options{Ignore: []string{"email", "public_metadata"}}, `cannot ignore "public_metadata": it is one of the fields the tool reads`},
		{Options{Ignore: []string{" user_id"}}, `cannot ignore " user_id"`},
		{Options{Ignore: []string{""}}, "an empty name"},
	} {
		err := tt.opts.Check()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.opts, err, tt.want)
		}
		if err != nil {
			if _, oerr := tt.opts.Open(strings.NewReader(""), "x.csv", CSV); oerr == nil {
				t.Errorf("%+v: Open accepted what Check refuses", tt.opts)
			}
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"publicMetadata":                      "public_metadata",
		"public metadata":                     "public_metadata",
		"Public_Metadata":                     "public_metadata",
		"public_metdata":                      "public_metadata",
		"pubic_metadata":                      "public_metadata",
		"User ID":                             "user_id",
		"userid":                              "user_id",
		"user-id":                             "user_id",
		"usr_id":                              "user_id",
		"user_id\u200b":                       "user_id",
		"externalId":                          "external_id",
		"external_ids":                        "external_id",
		"Email Address":                       "email_address",
		"email_adress":                        "email_address",
		"unsafeMetaData":                      "unsafe_metadata",
		"private.metadata":                    "private_metadata",
		"email":                               "",
		"name":                                "",
		"metadata":                            "",
		"id":                                  "",
		"user":                                "",
		"":                                    "",
		strings.Repeat("public_metadata", 10): "",
	} {
		if got := Suggest(name, fieldNames[:]); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", name, got, want)
		}
	}
}
