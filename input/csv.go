package input

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/gocarina/gocsv"
)

// record names the columns gocsv maps from the header. An empty cell is
// an absent field, so plain strings say all there is to say.
type record struct {
	UserID     string `csv:"user_id"`
	ExternalID string `csv:"external_id"`
	Email      string `csv:"email_address"`
	Public     string `csv:"public_metadata"`
	Private    string `csv:"private_metadata"`
	Unsafe     string `csv:"unsafe_metadata"`
}

// CSVReader reads rows from CSV: a header naming one of user_id,
// external_id and email_address (the file's kind of key) and at least one
// metadata column, in any order; each metadata cell holds JSON. Quoted
// cells may span lines; a row's Line is where its record starts.
//
// Cells are separated by ',', ';' or tab, as Options say or as the header
// line shows (PeekDelimiter). A column with no name in the header (the
// empty columns a spreadsheet leaves at the end) is skipped, and so is one
// Options.Ignore names; a value in a column with no name makes its row
// invalid, as it would be silently dropped.
//
// gocsv reads and maps the header onto record; the records themselves are
// read with encoding/csv and picked by the columns the header gave, which
// costs a third of gocsv's reflection per row.
type CSVReader struct {
	name    string
	cr      *csv.Reader
	kind    KeyKind
	cols    [len(fieldNames)]int // the column of each field by slot; -1 if absent
	key     int                  // the column of the key
	unnamed []int                // the columns with no name in the header
	width   int                  // the header's number of columns
	tap     *tap
	header  []byte
	n       int
	s       scanner
}

// NewCSV reads and checks the header of a CSV input. An unusable header is
// a *HeaderError. An empty input is a reader with no rows.
func NewCSV(r io.Reader, name string, o Options) (*CSVReader, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	comma := o.Delimiter
	if comma == 0 {
		comma = PeekDelimiter(br)
	}
	t := &tap{r: br}
	cr := csv.NewReader(t)
	cr.Comma = comma
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
	if err := d.readHeader(um.Headers, o); err != nil {
		// Blank lines before the header are skipped: name its own line.
		line, _ := cr.FieldPos(0)
		return nil, &HeaderError{File: name, Line: line, Reason: err.Error()}
	}
	d.width = len(um.Headers)
	d.header = t.take(cr.InputOffset())
	if !bytes.HasSuffix(d.header, []byte("\n")) {
		d.header = append(d.header, '\n')
	}
	return d, nil
}

// readHeader finds the columns and rejects a header gocsv would half-map:
// unknown or repeated columns, no key or two kinds of key, no metadata.
// Spaces around a name are allowed, as gocsv matches them.
func (d *CSVReader) readHeader(headers []string, o Options) error {
	for i := range d.cols {
		d.cols[i] = -1
	}
	var unknown []string
	for i, h := range headers {
		h = strings.TrimSpace(h)
		slot := fieldSlot([]byte(h))
		switch {
		case h == "":
			d.unnamed = append(d.unnamed, i)
		case slot < 0 && o.ignores(h):
		case slot < 0:
			unknown = append(unknown, h)
		case d.cols[slot] >= 0:
			return fmt.Errorf("column %q appears twice in CSV header", h)
		default:
			d.cols[slot] = i
		}
	}
	if len(unknown) > 0 {
		return unknownColumns(unknown)
	}
	var keys []string
	metadata := false
	for slot, c := range d.cols {
		switch {
		case c < 0:
		case isMetadata(slot):
			metadata = true
		default:
			keys = append(keys, fieldNames[slot])
			d.kind, d.key = slotKind(slot), c
		}
	}
	switch {
	case len(keys) == 0:
		return fmt.Errorf("CSV header has no %s column to name each row's user", keyList)
	case len(keys) > 1:
		return fmt.Errorf("CSV header names users by both %s: a file uses one kind of key", strings.Join(keys, " and "))
	case !metadata:
		return fmt.Errorf("CSV header has no metadata column (want at least one of %s, %s, %s)", fieldPublic, fieldPrivate, fieldUnsafe)
	}
	return nil
}

// unknownColumns words the unknown columns of a header: each with the
// name it likely misspells, and how to keep the others for people.
func unknownColumns(names []string) error {
	if len(names) == 1 {
		if s := Suggest(names[0], fieldNames[:]); s != "" {
			return fmt.Errorf("unknown column %s in CSV header; did you mean %s?", quote(names[0]), s)
		}
	}
	var list, people []string
	simple := true
	for _, n := range names {
		if s := Suggest(n, fieldNames[:]); s != "" {
			list = append(list, fmt.Sprintf("%s (did you mean %s?)", quote(n), s))
			continue
		}
		list = append(list, quote(n))
		people = append(people, n)
		simple = simple && !strings.ContainsAny(n, ",\"'") && strings.IndexFunc(n, unicode.IsControl) < 0
	}
	var b strings.Builder
	b.WriteString("unknown column")
	if len(names) > 1 {
		b.WriteString("s")
	}
	b.WriteString(" ")
	for i, item := range list {
		switch {
		case i == 0:
		case i == len(list)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(item)
	}
	b.WriteString(" in CSV header")
	if len(people) > 0 {
		fmt.Fprintf(&b, " (want %s)", fieldList)
		if simple {
			if len(people) == 1 {
				fmt.Fprintf(&b, "; a column kept for people can be skipped with --ignore-columns %s", people[0])
			} else {
				fmt.Fprintf(&b, "; columns kept for people can be skipped with --ignore-columns %s", strings.Join(people, ","))
			}
		}
	}
	return errors.New(b.String())
}

// KeyKind returns the kind of key the header names, or 0 for an empty
// input.
func (d *CSVReader) KeyKind() KeyKind { return d.kind }

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
	row.Key = Key{Kind: d.kind, Value: rec[d.key]}
	if d.kind == UserID {
		row.UserID = row.Key.Value
	}
	for _, c := range d.unnamed {
		if rec[c] != "" {
			row.Err = rowErr(CodeUnknownField, "column %d (%s) has no name in the header, but this row has a value in it", c+1, columnLetters(c))
			return row, nil
		}
	}
	// One buffer holds the row's metadata cells.
	size := 0
	for slot := 1; slot <= 3; slot++ {
		if c := d.cols[slot]; c >= 0 {
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

// columnLetters names the 0-based column i as spreadsheets do: A to Z,
// then AA.
func columnLetters(i int) string {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append(b, byte('A'+(i-1)%26))
	}
	slices.Reverse(b)
	return string(b)
}

// PeekDelimiter tells the delimiter of the CSV input br reads from its
// header line, the first line that is not empty, without consuming any
// of it: of ',', ';' and tab, the one that splits the line into the most
// names of the tool's columns, then the most names near one (User ID,
// publicMetadata); ',' when none does better. A leading byte order mark
// is skipped. It reads no further than the end of the header line, or
// br's buffer.
//
// The columns a reader ignores play no part, so every reader of one file
// (the rows' reader, a row counter, a merge of failed.csv files) tells
// the same delimiter from its header.
func PeekDelimiter(br *bufio.Reader) rune {
	start := 0
	if b, _ := br.Peek(len(bom)); bytes.Equal(b, bom) {
		start = len(bom)
	}
	end := start // the buffered bytes from start to end hold no line break
	for final := false; ; {
		b, _ := br.Peek(br.Buffered())
		for end < len(b) {
			i := bytes.IndexByte(b[end:], '\n')
			if i < 0 {
				end = len(b)
				break
			}
			if line := bytes.TrimSuffix(b[start:end+i], []byte("\r")); len(line) > 0 {
				return detectDelimiter(line)
			}
			start = end + i + 1
			end = start
		}
		if final || len(b) >= br.Size() {
			return detectDelimiter(bytes.TrimSuffix(b[start:], []byte("\r")))
		}
		// One more byte at least: a reader's bytes arrive as they come.
		if _, err := br.Peek(len(b) + 1); err != nil {
			final = true
		}
	}
}

// delimiters are the delimiters a CSV input may use, the preferred first.
var delimiters = [...]rune{',', ';', '\t'}

func detectDelimiter(line []byte) rune {
	best, bestExact, bestNear := delimiters[0], 0, 0
	for _, comma := range delimiters {
		cr := csv.NewReader(bytes.NewReader(line))
		cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord = comma, true, -1
		cells, err := cr.Read()
		if err != nil {
			continue
		}
		exact, near := 0, 0
		for _, c := range cells {
			switch c = strings.TrimSpace(c); {
			case fieldSlot([]byte(c)) >= 0:
				exact++
			case Suggest(c, fieldNames[:]) != "":
				near++
			}
		}
		if exact > bestExact || exact == bestExact && near > bestNear {
			best, bestExact, bestNear = comma, exact, near
		}
	}
	return best
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
