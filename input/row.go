package input

import (
	"errors"
	"fmt"
	"strings"
)

// The row's fields, as NDJSON keys and CSV columns.
const (
	fieldUserID  = "user_id"
	fieldPublic  = "public_metadata"
	fieldPrivate = "private_metadata"
	fieldUnsafe  = "unsafe_metadata"
)

const fieldList = "user_id, public_metadata, private_metadata, unsafe_metadata"

// maxUserIDLen bounds the part after "user_"; Clerk's ids have 27.
const maxUserIDLen = 128

// CheckUserID returns nil if id looks like a Clerk user id: "user_" followed
// by letters and digits. Nothing else may reach a request path, so no id can
// add a segment, a query or a fragment, or be percent-decoded into one.
func CheckUserID(id string) *RowError {
	switch {
	case id == "":
		return rowErr(CodeInvalidUserID, "user_id is empty")
	case strings.TrimSpace(id) != id:
		return rowErr(CodeInvalidUserID, "user_id %s has surrounding whitespace (ids are never trimmed)", quote(id))
	}
	rest, ok := strings.CutPrefix(id, "user_")
	if !ok || rest == "" || len(rest) > maxUserIDLen {
		return rowErr(CodeInvalidUserID, "user_id %s is not a Clerk user id (user_ followed by letters and digits)", quote(id))
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return rowErr(CodeInvalidUserID, "user_id %s is not a Clerk user id (user_ followed by letters and digits)", quote(id))
		}
	}
	return nil
}

// quote renders s for a message: quoted, escaped, and cut short.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

func truncate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// parseLine judges one NDJSON line (without its line break, not blank) and
// fills row. The metadata fields are sub-slices of line.
func (s *scanner) parseLine(line []byte, row *Row) {
	s.data, s.pos = line, 0
	row.Err = nil
	if err := s.rowObject(row); err != nil {
		row.Err = err
		return
	}
	if err := validate(row); err != nil {
		row.Err = err
	}
}

// rowObject scans the line as one JSON object with the row's keys. A JSON
// syntax error wins over a wrong type or an unknown key found earlier on
// the line, so a broken line is always called broken.
func (s *scanner) rowObject(row *Row) *RowError {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		k := kindInvalid
		if s.pos < len(s.data) {
			k = kindOf(s.data[s.pos])
		}
		if err := s.whole(); err != nil {
			return s.syntax(err)
		}
		return rowErr(CodeNotObject, "row is %s, want a JSON object with %s", k, fieldList)
	}
	var semantic *RowError
	note := func(e *RowError) {
		if semantic == nil {
			semantic = e
		}
	}
	var seen [4]bool
	hasUserID := false
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
	} else {
		for {
			s.skipSpace()
			if s.pos >= len(s.data) || s.data[s.pos] != '"' {
				return s.syntax(s.fail("expected a string key in object"))
			}
			key, _, err := s.str(true)
			if err != nil {
				return s.syntax(err)
			}
			slot := fieldSlot(key)
			switch {
			case slot < 0:
				note(rowErr(CodeUnknownField, "unknown field %q (want %s)", truncate(key), fieldList))
			case seen[slot]:
				note(rowErr(CodeDuplicateKey, "field %q appears twice", truncate(key)))
			}
			if slot >= 0 {
				seen[slot] = true
			}
			s.skipSpace()
			if s.pos >= len(s.data) || s.data[s.pos] != ':' {
				return s.syntax(s.fail("expected ':' after object key"))
			}
			s.pos++
			s.skipSpace()
			start := s.pos
			var k kind
			if start < len(s.data) {
				k = kindOf(s.data[start])
			}
			if slot == 0 && k == kindString {
				id, _, err := s.str(true)
				if err != nil {
					return s.syntax(err)
				}
				row.UserID = string(id)
				hasUserID = true
			} else if err := s.value(0); err != nil {
				return s.syntax(err)
			}
			val := s.data[start:s.pos:s.pos]
			switch slot {
			case 0:
				if k != kindString {
					note(rowErr(CodeInvalidUserID, "user_id must be a string, got %s", k))
				}
			case 1, 2, 3:
				if k != kindObject && k != kindNull {
					note(rowErr(CodeMetadataType, "%s must be a JSON object or null, got %s", fieldNames[slot], k))
				}
				*row.field(slot) = val
			}
			s.skipSpace()
			if s.pos >= len(s.data) {
				return s.syntax(s.fail("unexpected end of JSON in object"))
			}
			if s.data[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.data[s.pos] == '}' {
				s.pos++
				break
			}
			return s.syntax(s.fail("expected ',' or '}' in object"))
		}
	}
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.syntax(s.fail("trailing data after the JSON object"))
	}
	if semantic != nil {
		return semantic
	}
	if !hasUserID && !seen[0] {
		return rowErr(CodeMissingUserID, "user_id is missing")
	}
	return nil
}

var fieldNames = [...]string{fieldUserID, fieldPublic, fieldPrivate, fieldUnsafe}

func fieldSlot(key []byte) int {
	for i, f := range fieldNames {
		if string(key) == f {
			return i
		}
	}
	return -1
}

// field returns the metadata field of slot 1, 2 or 3.
func (r *Row) field(slot int) *[]byte {
	switch slot {
	case 1:
		return (*[]byte)(&r.Public)
	case 2:
		return (*[]byte)(&r.Private)
	default:
		return (*[]byte)(&r.Unsafe)
	}
}

// whole checks that s.data from s.pos is exactly one JSON value.
func (s *scanner) whole() error {
	s.skipSpace()
	if err := s.value(0); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.fail("trailing data after the JSON value")
	}
	return nil
}

// syntax turns a scanner error on an NDJSON line into the row's reason.
func (s *scanner) syntax(err error) *RowError {
	return syntaxReason("", "column", err)
}

// syntaxReason words a scanner error: where (prefix, then the unit the
// offset counts in) and what, never the bytes themselves.
func syntaxReason(prefix, unit string, err error) *RowError {
	var se *syntaxError
	if !errors.As(err, &se) {
		return rowErr(CodeInvalidJSON, "%sinvalid JSON: %v", prefix, err)
	}
	switch se.code {
	case CodeInvalidUTF8:
		return rowErr(se.code, "%sinvalid UTF-8 at %s %d", prefix, unit, se.off+1)
	case CodeDuplicateKey:
		return rowErr(se.code, "%s%s at %s %d: JSON parsers would keep one of the values silently", prefix, se.msg, unit, se.off+1)
	}
	return rowErr(se.code, "%sinvalid JSON at %s %d: %s", prefix, unit, se.off+1, se.msg)
}

// metadataCell judges a CSV cell holding one metadata field's JSON.
func (s *scanner) metadataCell(name string, cell []byte) *RowError {
	s.data, s.pos = cell, 0
	s.skipSpace()
	k := kindInvalid
	if s.pos < len(s.data) {
		k = kindOf(s.data[s.pos])
	}
	if err := s.whole(); err != nil {
		return syntaxReason(name+": ", "byte", err)
	}
	if k != kindObject && k != kindNull {
		return rowErr(CodeMetadataType, "%s must be a JSON object or null, got %s", name, k)
	}
	return nil
}

// validate applies the checks shared by both formats to a parsed row.
func validate(row *Row) *RowError {
	if e := CheckUserID(row.UserID); e != nil {
		return e
	}
	if row.Fields() == 0 {
		return rowErr(CodeNoMetadata, "row sets none of %s, %s, %s", fieldPublic, fieldPrivate, fieldUnsafe)
	}
	return nil
}
