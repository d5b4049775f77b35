package input

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"testing"
)

// splitCases are inputs and where their records end. They are
// FuzzCSVSplitter's seeds too.
var splitCases = []struct {
	name     string
	in       string
	ends     []int
	rejected bool // encoding/csv reports a syntax error
	comma    rune // 0 is ','
}{
	{name: "empty", in: ""},
	{name: "one record", in: "a,b\n", ends: []int{4}},
	{name: "no final line break", in: "a,b\nc,d", ends: []int{4, 7}},
	{name: "CRLF", in: "a,b\r\nc,d\r\n", ends: []int{5, 10}},
	{name: "empty lines are no records", in: "a\n\n\r\nb\n", ends: []int{2, 7}},
	{name: "only empty lines", in: "\n\r\n\n"},
	{name: "a CR before the end is dropped", in: "a\r", ends: []int{2}},
	{name: "a lone CR is an empty line", in: "\r"},
	{name: "two CRs are a record", in: "\r\r\n", ends: []int{3}},
	{name: "a line of spaces is a record", in: "a\n  \nb\n", ends: []int{2, 5, 7}},
	{name: "empty fields", in: ",,\n,", ends: []int{3, 4}},
	{name: "quoted line breaks", in: "a,\"x\ny\r\nz\"\nb\n", ends: []int{11, 13}},
	{name: "quoted empty lines", in: "\"\n\n\r\n\"\n", ends: []int{7}},
	{name: "doubled quotes", in: "\"a\"\"b\",c\n\"\"\"\",\"\"\n", ends: []int{9, 17}},
	{name: "quoted JSON", in: "user_1,\"{\"\"a\"\":\"\",\n\"\"}\"\n", ends: []int{24}},
	{name: "closing quote then CRLF", in: "\"a\"\r\nb\n", ends: []int{5, 7}},
	{name: "closing quote then CR at the end", in: "\"a\"\r", ends: []int{4}},
	{name: "closing quote at the end", in: "a,\"b\"", ends: []int{5}},
	{name: "comma after a closing quote", in: "\"a\",\"b\",c\n", ends: []int{10}},

	// encoding/csv goes on after a syntax error at the next line, or
	// reads an open quote to the end of the input.
	{name: "bare quote", in: "a\"b\nc\n", ends: []int{4, 6}, rejected: true},
	{name: "bare quote after a quoted line break", in: "\"x\ny\",a\"b\nc\n", ends: []int{10, 12}, rejected: true},
	{name: "a CR then a quote is a bare quote", in: "\r\"a\"\nb\n", ends: []int{5, 7}, rejected: true},
	{name: "text after a closing quote", in: "\"a\"b,\"c\nd\n", ends: []int{8, 10}, rejected: true},
	{name: "stray CR after a closing quote", in: "\"a\"\rb\nc\n", ends: []int{6, 8}, rejected: true},
	{name: "two CRs after a closing quote", in: "\"a\"\r\r\nc\n", ends: []int{6, 8}, rejected: true},
	{name: "unterminated quote", in: "a\n\"b\nc\n", ends: []int{2, 7}, rejected: true},

	// Other delimiters: a quote opens a field only after the file's own.
	{name: "semicolon: quoted line break", in: "a;\"x\ny\"\nb\n", ends: []int{8, 10}, comma: ';'},
	{name: "semicolon: comma is text", in: "a,\"x\ny\"\nb\n", ends: []int{5, 8, 10}, rejected: true, comma: ';'},
	{name: "semicolon: after a closing quote", in: "\"a\";\"b\"\n\"c\",d\n", ends: []int{8, 14}, rejected: true, comma: ';'},
	{name: "tab: quoted JSON", in: "user_1\t\"{\"\"a\"\":1,\n\"\"b\"\":2}\"\n", ends: []int{28}, comma: '\t'},
	{name: "tab: a comma does not open a field", in: "a\t,\"b\nc\n", ends: []int{6, 8}, rejected: true, comma: '\t'},
}

func TestCSVSplitter(t *testing.T) {
	t.Parallel()
	for _, c := range splitCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := []byte(c.in)
			for _, chunk := range []int{len(data) + 1, 1, 2} {
				if got := splitEnds(data, chunk, c.comma); !slices.Equal(got, c.ends) {
					t.Errorf("%q in pieces of %d: records end at %v, want %v", c.in, chunk, got, c.ends)
				}
			}
			ends, rejected := csvEnds(data, c.comma)
			if !slices.Equal(ends, c.ends) || rejected != c.rejected {
				t.Errorf("%q: encoding/csv ends records at %v (rejected: %v), the case says %v (%v)", c.in, ends, rejected, c.ends, c.rejected)
			}
		})
	}
}

// FuzzCSVSplitter holds CSVSplitter to encoding/csv: on every input and
// with every delimiter, the records end where encoding/csv's InputOffset
// says they do, however the input is cut into pieces. That includes the input encoding/csv rejects,
// where it resumes at the next line: matching that keeps a row count the
// same as the rows CSVReader numbers.
func FuzzCSVSplitter(f *testing.F) {
	for _, c := range splitCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, comma := range []rune{',', ';', '\t'} {
			want, rejected := csvEnds(data, comma)
			for _, chunk := range []int{len(data) + 1, 1, 3} {
				got := splitEnds(data, chunk, comma)
				if !slices.Equal(got, want) {
					t.Fatalf("%q split at %q in pieces of %d: records end at %v, encoding/csv says %v (rejected: %v)", data, comma, chunk, got, want, rejected)
				}
			}
		}
	})
}

// csvEnds returns where encoding/csv, set up as CSVReader sets it up, ends
// each record of data, and whether it rejected one. A record with the
// wrong number of fields is not rejected: it was read whole.
func csvEnds(data []byte, comma rune) (ends []int, rejected bool) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.ReuseRecord = true
	if comma != 0 {
		cr.Comma = comma
	}
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return ends, rejected
		}
		if err != nil && !errors.Is(err, csv.ErrFieldCount) {
			rejected = true
		}
		ends = append(ends, int(cr.InputOffset()))
	}
}

// splitEnds returns where a CSVSplitter ends each record of data, given
// the input in pieces of at most chunk bytes.
func splitEnds(data []byte, chunk int, comma rune) []int {
	s := CSVSplitter{Comma: comma}
	var ends []int
	for off := 0; off < len(data); {
		p := data[off:min(off+chunk, len(data))]
		n := s.Split(p)
		if n < 0 {
			off += len(p)
			continue
		}
		off += n
		ends = append(ends, off)
	}
	if s.End() {
		ends = append(ends, len(data))
	}
	return ends
}

func BenchmarkCSVSplitter(b *testing.B) {
	data := RealisticCSV(20000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var s CSVSplitter
		n := 0
		for p := data; ; n++ {
			i := s.Split(p)
			if i < 0 {
				break
			}
			p = p[i:]
		}
		if n != 20001 {
			b.Fatalf("%d records, want 20001", n)
		}
	}
}
