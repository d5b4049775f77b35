package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gocarina/gocsv"
)

// record names the columns gocsv maps from the header. An empty cell is
// an absent field, so plain strings say all there is to say.
type record struct {
	UserID  string `csv:"user_id"`
	Public  string `csv:"public_metadata"`
	Private string `csv:"private_metadata"`
	Unsafe  string `csv:"unsafe_metadata"`
}

// CSVReader reads rows from CSV: a header naming user_id and at least one
// metadata column, in any order; each metadata cell holds JSON. Quoted
// cells may span lines; a row's Line is where its record starts.
//
// gocsv reads and maps the header onto record; the records themselves are
// read with encoding/csv and picked by the columns the header gave, which
// costs a third of gocsv's reflection per row.
type CSVReader struct {
	name   string
	cr     *csv.Reader
	cols   [4]int // the column of user_id and each metadata field; -1 if absent
	width  int    // the header's number of columns
	tap    *tap
	header []byte
	n      int
	s      scanner
}

// NewCSV reads and checks the header of a CSV input. An unusable header is
// a *HeaderError. An empty input is a reader with no rows.
func NewCSV(r io.Reader, name string) (*CSVReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	t := &tap{r: br}
	cr := csv.NewReader(t)
	cr.ReuseRecord = true
	d := &CSVReader{name: name, cr: cr, tap: t}
	um, err := gocsv.NewUnmarshaller(cr, record{})
	switch {
	case errors.Is(err, io.EOF):
		return d, nil // no header, no rows
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, &HeaderError{File: name, Line: pe.StartLine, Reason: "bad CSV header: " + pe.Err.Error()}
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := checkHeader(um); err != nil {
		// Blank lines before the header are skipped: name its own line.
		line, _ := cr.FieldPos(0)
		return nil, &HeaderError{File: name, Line: line, Reason: err.Error()}
	}
	d.cols = [4]int{-1, -1, -1, -1}
	for i, h := range um.Headers {
		d.cols[fieldSlot([]byte(strings.TrimSpace(h)))] = i
	}
	d.width = len(um.Headers)
	d.header = t.take(cr.InputOffset())
	if !bytes.HasSuffix(d.header, []byte("\n")) {
		d.header = append(d.header, '\n')
	}
	return d, nil
}

// checkHeader rejects a header gocsv would half-map: unknown or repeated
// columns, no user_id, no metadata. Spaces around a name are allowed, as
// gocsv matches them.
func checkHeader(um *gocsv.Unmarshaller) error {
	seen := map[string]bool{}
	for _, h := range um.Headers {
		h = strings.TrimSpace(h)
		if fieldSlot([]byte(h)) < 0 {
			return fmt.Errorf("unknown column %s in CSV header (want %s)", quote(h), fieldList)
		}
		if seen[h] {
			return fmt.Errorf("column %q appears twice in CSV header", h)
		}
		seen[h] = true
	}
	if !seen[fieldUserID] {
		return fmt.Errorf("CSV header has no user_id column (want %s)", fieldList)
	}
	if len(seen) == 1 {
		return fmt.Errorf("CSV header has no metadata column (want at least one of %s, %s, %s)", fieldPublic, fieldPrivate, fieldUnsafe)
	}
	return nil
}

// Next returns the next row, or io.EOF after the last.
func (d *CSVReader) Next() (Row, error) {
	if d.width == 0 {
		return Row{}, io.EOF
	}
	rec, err := d.cr.Read()
	if errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	d.n++
	row := Row{N: d.n, Raw: d.tap.take(d.cr.InputOffset())}
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return Row{}, fmt.Errorf("read %s: %w", d.name, err)
		}
		row.Line = pe.StartLine
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			row.Err = rowErr(CodeFieldCount, "record has %d fields where the header has %d", len(rec), d.width)
		} else {
			row.Err = rowErr(CodeCSVSyntax, "CSV syntax error at line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
		}
		return row, nil
	}
	row.Line, _ = d.cr.FieldPos(0)
	row.UserID = rec[d.cols[0]]
	// One buffer holds the row's metadata cells.
	size := 0
	for _, c := range d.cols[1:] {
		if c >= 0 {
			size += len(rec[c])
		}
	}
	buf := make([]byte, 0, size)
	for slot := 1; slot <= 3; slot++ {
		c := d.cols[slot]
		if c < 0 || rec[c] == "" {
			continue
		}
		start := len(buf)
		buf = append(buf, rec[c]...)
		cell := buf[start:len(buf):len(buf)]
		if e := d.s.metadataCell(fieldNames[slot], cell); e != nil {
			row.Err = e
			return row, nil
		}
		*row.field(slot) = cell
	}
	if e := validate(&row); e != nil {
		row.Err = e
	}
	return row, nil
}

// tap keeps the bytes the CSV parser has read and not yet claimed, so each
// record's own bytes can be cut out by offset and written back verbatim.
//
// The cuts are at encoding/csv's own InputOffset, not a CSVSplitter's,
// though the two agree (FuzzCSVSplitter holds them to it): the parser that
// read a record is the one authority on where it ended. That matters for a
// record it rejects, whose bytes go to failed.csv as they were: its end is
// where encoding/csv chose to resume, which its documentation does not
// promise, and a second opinion could only ever disagree. Splitting here
// too would also cost a second pass over every byte. The splitter serves
// where no parser runs: counting rows while the input is hashed, and
// reading the header of a failed.csv.
type tap struct {
	r    io.Reader
	buf  []byte // buf[start:] are the bytes from offset base on
	from int
	base int64
}

func (t *tap) Read(p []byte) (int, error) {
	if t.from > 0 && t.from >= len(t.buf)/2 {
		t.buf = t.buf[:copy(t.buf, t.buf[t.from:])]
		t.from = 0
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// take returns a copy of the bytes up to offset end and forgets them.
func (t *tap) take(end int64) []byte {
	k := int(end - t.base)
	out := bytes.Clone(t.buf[t.from : t.from+k])
	t.from += k
	t.base = end
	if cap(t.buf) > 1<<20 && len(t.buf)-t.from < 64<<10 {
		// A huge record has passed: let its buffer go.
		t.buf = append([]byte(nil), t.buf[t.from:]...)
		t.from = 0
	}
	return out
}
