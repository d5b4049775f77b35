// Package input reads the rows of a replace-metadata job from CSV or NDJSON,
// one at a time, and judges each: a valid row carries the key that names
// its user (a Clerk user id, an external id or an email address, the same
// kind throughout a file) and the exact JSON bytes of each metadata field
// it sets; an invalid row carries the reason, and is never sent.
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
	// Key names the row's user: the kind of key and its value, as
	// written. It is set on invalid rows when the row had a string key,
	// even a malformed one; Kind is also set when the key was not a string.
	Key Key
	// UserID is the row's Clerk user id when its key is a user_id (then
	// it is Key.Value), else "".
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
	// CodeInvalidExternalID: the external_id is empty, has a control
	// character or surrounding space, or begins with + or -.
	CodeInvalidExternalID = "invalid_external_id"
	// CodeInvalidEmail: the email_address is not one @ with text on both
	// sides, or has a space or a control character.
	CodeInvalidEmail = "invalid_email_address"
	// CodeMixedKeys: the row names its user by two kinds of key, or by
	// another kind than the file's.
	CodeMixedKeys = "mixed_user_keys"
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
	// KeyKind is the kind of key the input names its users by, once
	// known: for CSV from the header, for NDJSON from the first row that
	// names its user by one kind of key (valid or not). Before, it is 0.
	KeyKind() KeyKind
}

// Options are how an input is read beyond its format. The zero Options
// detect the CSV delimiter and skip nothing.
type Options struct {
	// Delimiter separates CSV cells: ',', ';' or '\t'. 0 detects it from
	// the header line (see PeekDelimiter).
	Delimiter rune
	// Ignore names CSV columns and NDJSON keys that rows may have and the
	// reader skips: columns a file keeps for people (email, name). They
	// cannot be the tool's own fields.
	Ignore []string
}

// Check reports options no reader can use.
func (o Options) Check() error {
	switch o.Delimiter {
	case 0, ',', ';', '\t':
	default:
		return fmt.Errorf("CSV delimiter %q: want ',', ';' or tab", o.Delimiter)
	}
	for _, name := range o.Ignore {
		switch {
		case strings.TrimSpace(name) == "":
			return fmt.Errorf("an empty name in the columns to ignore")
		case fieldSlot([]byte(strings.TrimSpace(name))) >= 0:
			return fmt.Errorf("cannot ignore %s: it is one of the fields the tool reads", quote(name))
		}
	}
	return nil
}

// ignores reports whether name (a CSV column, spaces around it dropped,
// or an NDJSON key) is one the options skip.
func (o Options) ignores(name string) bool {
	for _, n := range o.Ignore {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// Open returns a Reader for r in the given format, with the default
// Options. name is the file name used in messages. For CSV it reads and
// checks the header first and returns a *HeaderError if it is unusable.
func Open(r io.Reader, name string, f Format) (Reader, error) {
	return Options{}.Open(r, name, f)
}

// Open returns a Reader for r in the given format that reads it with the
// options o, as the package-level Open does with the defaults.
func (o Options) Open(r io.Reader, name string, f Format) (Reader, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	switch f {
	case CSV:
		return NewCSV(r, name, o)
	case NDJSON:
		d := NewNDJSON(r, name)
		d.opts = o
		return d, nil
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

// Delimiter returns the delimiter a CSV Reader splits cells at, or 0 for
// another format.
func Delimiter(r Reader) rune {
	if c, ok := r.(*CSVReader); ok {
		return c.cr.Comma
	}
	return 0
}
