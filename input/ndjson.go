package input

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRowBytes bounds one row. Clerk keeps 8 KB of metadata, so a row
// this long is a broken file, and reading on would only hold memory.
const DefaultMaxRowBytes = 64 << 20

var bom = []byte("\xEF\xBB\xBF")

// NDJSONReader reads rows from newline-delimited JSON: one object per line,
// blank lines skipped, LF or CRLF line breaks, a leading UTF-8 BOM ignored.
// The first row that names its user by one kind of key sets the file's
// kind; a later row that uses another is invalid (CodeMixedKeys).
type NDJSONReader struct {
	// MaxRowBytes bounds a line; longer lines are invalid rows.
	MaxRowBytes int

	r    *bufio.Reader
	name string
	line int // physical line number of the last line read
	n    int // rows so far
	s    scanner
	long []byte // a line longer than the bufio buffer, being gathered
	opts Options
	file fileKey
}

// NewNDJSON returns a reader of NDJSON rows from r; name is the file name
// used in messages.
func NewNDJSON(r io.Reader, name string) *NDJSONReader {
	return &NDJSONReader{
		MaxRowBytes: DefaultMaxRowBytes,
		r:           bufio.NewReaderSize(r, 64<<10),
		name:        name,
	}
}

// Next returns the next row, or io.EOF after the last.
func (d *NDJSONReader) Next() (Row, error) {
	for {
		line, tooLong, err := d.readLine()
		if err != nil {
			return Row{}, err
		}
		if tooLong {
			d.n++
			return Row{N: d.n, Line: d.line, Err: rowErr(CodeLineTooLong,
				"line is longer than %d bytes", d.MaxRowBytes)}, nil
		}
		if d.line == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		if isBlank(line) {
			continue
		}
		d.n++
		row := Row{N: d.n, Line: d.line, Raw: bytes.Clone(line)}
		if d.s.parseLine(row.Raw, &row, d.file, &d.opts) && d.file.kind == 0 {
			d.file = fileKey{kind: row.Key.Kind, line: row.Line}
		}
		return row, nil
	}
}

// KeyKind returns the kind of key of the first row that named its user by
// one, or 0 before such a row.
func (d *NDJSONReader) KeyKind() KeyKind { return d.file.kind }

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// readLine returns the next line without its line break. The bytes are
// valid until the next call. A line over MaxRowBytes is skipped whole and
// reported as tooLong.
func (d *NDJSONReader) readLine() (line []byte, tooLong bool, err error) {
	if cap(d.long) > 1<<20 {
		d.long = nil // a huge line has passed: let its buffer go
	}
	chunk, err := d.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		d.long = append(d.long[:0], chunk...)
		for errors.Is(err, bufio.ErrBufferFull) {
			chunk, err = d.r.ReadSlice('\n')
			if !tooLong && len(d.long)+len(chunk) > d.MaxRowBytes+2 {
				tooLong = true
				d.long = d.long[:0]
			}
			if !tooLong {
				d.long = append(d.long, chunk...)
			}
		}
		chunk = d.long
	}
	switch {
	case err == io.EOF && len(chunk) == 0 && !tooLong:
		return nil, false, io.EOF
	case err != nil && err != io.EOF:
		return nil, false, fmt.Errorf("read %s: %w", d.name, err)
	}
	d.line++
	chunk = bytes.TrimSuffix(chunk, []byte("\n"))
	chunk = bytes.TrimSuffix(chunk, []byte("\r"))
	if len(chunk) > d.MaxRowBytes {
		tooLong = true
	}
	return chunk, tooLong, nil
}
