package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/input"
)

// TestRowCounter: the rows counted while the input is hashed are the rows
// the reader numbers, however the copy cuts the input into writes.
func TestRowCounter(t *testing.T) {
	t.Parallel()
	const h = "user_id,public_metadata\n"
	cases := []struct {
		name   string
		format input.Format
		in     string
		want   int
	}{
		{"csv empty", input.CSV, "", 0},
		{"csv header only", input.CSV, "user_id,public_metadata", 0},
		{"csv rows", input.CSV, h + "user_1,{}\nuser_2,{}\n", 2},
		{"csv no final line break", input.CSV, h + "user_1,{}\nuser_2,{}", 2},
		{"csv BOM and CRLF", input.CSV, "\xEF\xBB\xBF" + "user_id,public_metadata\r\nuser_1,{}\r\n", 1},
		{"csv BOM then an empty line", input.CSV, "\xEF\xBB\xBF\n" + h + "user_1,{}\n", 1},
		{"csv empty lines", input.CSV, "\n\r\n" + h + "\nuser_1,{}\n\r\n\nuser_2,{}\n\n", 2},
		{"csv a line of spaces is a row", input.CSV, h + "user_1,{}\n  \nuser_2,{}\n", 3},
		{"csv quoted line breaks", input.CSV, h + "user_1,\"{\n\"\"a\"\":\n\n1}\"\r\nuser_2,\"{}\"\n", 2},
		{"csv bare quote", input.CSV, h + "user_1,{\"a\":1}\nuser_2,{}\n", 2},
		{"csv unterminated quote", input.CSV, h + "user_1,\"{}\nuser_2,{}\n", 1},
		{"csv ; with quoted line breaks", input.CSV, "user_id;public_metadata\nuser_1;\"{\n\"\"a\"\":1}\"\nuser_2;\"{\n}\"\n", 2},
		{"csv tab, BOM, quoted line breaks", input.CSV, "\xEF\xBB\xBFuser_id\tpublic_metadata\r\nuser_1\t\"{\r\n}\"\r\n", 1},
		{"ndjson", input.NDJSON, "{}\n\n  \r\n{}\n{}", 3},
		{"ndjson BOM", input.NDJSON, "\xEF\xBB\xBF\n{}\n", 1},
		{"ndjson BOM not at the start", input.NDJSON, "{}\n\xEF\xBB\xBF\n", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if n := readRows(t, c.in, c.format); n != c.want {
				t.Fatalf("the reader reads %d rows, the case says %d", n, c.want)
			}
			f, err := os.Open(writeFile(t, filepath.Join(t.TempDir(), "in"), c.in))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := &source{format: c.format, file: f}
			if err := src.survey(); err != nil || src.rows != c.want {
				t.Errorf("survey: %d rows (%v), want %d", src.rows, err, c.want)
			}
			for _, chunk := range []int{len(c.in) + 1, 1, 2} {
				rc := &rowCounter{csv: c.format == input.CSV}
				rc.split.Comma = input.PeekDelimiter(bufio.NewReader(strings.NewReader(c.in)))
				if bytes.HasPrefix([]byte(c.in), []byte(utf8BOM)) {
					rc.skip = len(utf8BOM)
				}
				for p := []byte(c.in); len(p) > 0; {
					k := min(chunk, len(p))
					rc.Write(p[:k])
					p = p[k:]
				}
				if got := rc.total(); got != c.want {
					t.Errorf("in writes of %d bytes: %d rows, want %d", chunk, got, c.want)
				}
			}
		})
	}
}

// TestRowCounterDelimiterGiven: with --csv-delimiter, the survey splits
// records at it, as the reader will, not at the one the header suggests.
func TestRowCounterDelimiterGiven(t *testing.T) {
	t.Parallel()
	// Read with ',', the header is one unknown column and each line a
	// record; with ';' detection would see user_id and public_metadata.
	in := "user_id;public_metadata\nuser_1,\"{\n}\"\n"
	f, err := os.Open(writeFile(t, filepath.Join(t.TempDir(), "in.csv"), in))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &source{format: input.CSV, file: f, opts: input.Options{Delimiter: ','}}
	if err := src.survey(); err != nil || src.rows != 1 {
		t.Errorf("survey with ',': %d rows (%v), want 1", src.rows, err)
	}
	src = &source{format: input.CSV, file: f}
	if err := src.survey(); err != nil || src.rows != 2 {
		t.Errorf("survey with the delimiter detected (';'): %d rows (%v), want 2", src.rows, err)
	}
}

func readRows(t *testing.T, in string, f input.Format) int {
	t.Helper()
	r, err := input.Open(bytes.NewReader([]byte(in)), "in", f)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; ; n++ {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			return n
		} else if err != nil {
			t.Fatal(err)
		}
	}
}
