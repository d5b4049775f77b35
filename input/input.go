// Package input reads the rows of a replace-metadata job from CSV or NDJSON,
// one at a time, and judges each: a valid row carries a user id and the exact
// JSON bytes of each metadata field it sets; an invalid row carries the
// reason, and is never sent.
//
// Absent, null and {} are kept apart all the way: a field the row does not
// set is a nil slice, a JSON null is the four bytes "null", and {} is "{}".
// Metadata is never decoded into Go values, so key order and integers above
// 2^53 reach the wire as they were written.
package input

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Row is one data row of the input.
type Row struct {
	// N numbers the data rows from 1 in input order (the CSV header and
	// blank lines are not rows). It names the row across resumed runs.
	N int
	// Line is the 1-based physical line where the row starts.
	Line int
	// UserID is the row's user id, as written. It is set on invalid rows
	// when the row had a string user_id, even a malformed one.
	UserID string
	// Public, Private and Unsafe hold each metadata field's JSON exactly as
	// given; nil means the row leaves that field untouched.
	Public, Private, Unsafe json.RawMessage
	// Raw is the row's own bytes in the input (without the line break for
	// NDJSON, the whole record for CSV), for re-running failed rows.
	Raw []byte
	// Err is nil for a valid row, else a *RowError saying why it is invalid.
	Err error
}

// Fields returns how many of the three metadata fields the row sets.
func (r *Row) Fields() int {
	n := 0
	for _, f := range [...]json.RawMessage{r.Public, r.Private, r.Unsafe} {
		if f != nil {
			n++
		}
	}
	return n
}

// Codes of invalid rows: the error_code column of the report.
const (
	CodeInvalidJSON   = "invalid_json"
	CodeNotObject     = "not_an_object"
	CodeUnknownField  = "unknown_field"
	CodeDuplicateKey  = "duplicate_key"
	CodeMissingUserID = "missing_user_id"
	CodeInvalidUserID = "invalid_user_id"
	CodeMetadataType  = "metadata_not_object"
	CodeNoMetadata    = "no_metadata"
	CodeLineTooLong   = "line_too_long"
	CodeCSVSyntax     = "csv_syntax"
	CodeFieldCount    = "csv_field_count"
	CodeDuplicateUser = "duplicate_user"
	CodeInvalidUTF8   = "invalid_utf8"
)

// RowError says why a row is invalid.
type RowError struct {
	Code   string
	Reason string
}

func (e *RowError) Error() string { return e.Reason }

func rowErr(code, format string, args ...any) *RowError {
	return &RowError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// HeaderError is a problem with the input as a whole (a bad CSV header):
// the run must stop before anything is sent.
type HeaderError struct {
	File   string
	Line   int
	Reason string
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// Format is an input file format.
type Format string

// The formats the job reads.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
)

// ParseFormat returns the format named s ("csv", "ndjson" or "jsonl").
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "ndjson", "jsonl":
		return NDJSON, nil
	}
	return "", fmt.Errorf("unknown input format %q (want csv or ndjson)", s)
}

// FormatOf tells the format from a file name's extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".ndjson", ".jsonl":
		return NDJSON, nil
	}
	return "", fmt.Errorf("cannot tell the format of %q from its extension (.csv, .ndjson, .jsonl): set --format", path)
}

// Reader yields the rows of an input in order. Next returns io.EOF after
// the last row; any other error is a failure to read the input itself.
type Reader interface {
	Next() (Row, error)
}

// Open returns a Reader for r in the given format. name is the file name
// used in messages. For CSV it reads and checks the header first and
// returns a *HeaderError if it is unusable.
func Open(r io.Reader, name string, f Format) (Reader, error) {
	switch f {
	case CSV:
		return NewCSV(r, name)
	case NDJSON:
		return NewNDJSON(r, name), nil
	}
	return nil, fmt.Errorf("unknown input format %q", f)
}

// Header returns the bytes that must precede rows' Raw bytes to make a file
// of the same format (the CSV header line), or nil.
func Header(r Reader) []byte {
	if c, ok := r.(*CSVReader); ok {
		return c.header
	}
	return nil
}
