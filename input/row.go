package input

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The row's fields, as NDJSON keys and CSV columns: the key that names
// the user (one of three) and the three metadata fields.
const (
	fieldUserID     = "user_id"
	fieldPublic     = "public_metadata"
	fieldPrivate    = "private_metadata"
	fieldUnsafe     = "unsafe_metadata"
	fieldExternalID = "external_id"
	fieldEmail      = "email_address"
)

const (
	keyList   = "user_id, external_id or email_address"
	fieldList = keyList + ", and any of public_metadata, private_metadata, unsafe_metadata"
)

// fieldNames are the fields by slot: the metadata fields are slots 1 to 3
// (see Row.field), the keys 0, 4 and 5.
var fieldNames = [...]string{fieldUserID, fieldPublic, fieldPrivate, fieldUnsafe, fieldExternalID, fieldEmail}

func fieldSlot(key []byte) int {
	for i, f := range fieldNames {
		if string(key) == f {
			return i
		}
	}
	return -1
}

// slotKind returns the kind of key of a slot, 0 for a metadata field.
func slotKind(slot int) KeyKind {
	switch slot {
	case 0:
		return UserID
	case 4:
		return ExternalID
	case 5:
		return Email
	}
	return 0
}

// isMetadata reports whether slot is a metadata field's.
func isMetadata(slot int) bool { return slot >= 1 && slot <= 3 }

// unknownName words an unknown field or column: with the near name it
// likely misspells, if any.
func unknownName(what, name string) string {
	if s := Suggest(name, fieldNames[:]); s != "" {
		return fmt.Sprintf("unknown %s %s; did you mean %s?", what, quote(name), s)
	}
	return fmt.Sprintf("unknown %s %s (want %s)", what, quote(name), fieldList)
}

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

// fileKey is what an NDJSON reader knows of its file's kind of key: the
// kind, and the line of the row that set it (0 before one did).
type fileKey struct {
	kind KeyKind
	line int
}

// parseLine judges one NDJSON line (without its line break, not blank) and
// fills row. The metadata fields are sub-slices of line. file is the
// file's kind of key so far; o says which keys to skip. It reports whether
// the line read as an object with exactly one kind of key, whatever else
// is wrong with it: such a row sets the file's kind of key when it has
// none yet.
func (s *scanner) parseLine(line []byte, row *Row, file fileKey, o *Options) (named bool) {
	s.data, s.pos = line, 0
	row.Err = nil
	err, named := s.rowObject(row, file, o)
	if row.Key.Kind == UserID {
		row.UserID = row.Key.Value
	}
	if err == nil {
		err = validate(row)
	}
	if err != nil {
		row.Err = err
	}
	return named
}

// rowObject scans the line as one JSON object with the row's keys. A JSON
// syntax error wins over a wrong type or an unknown key found earlier on
// the line, so a broken line is always called broken; then a key of
// another kind than the file's wins over the rest, since it makes the row
// mean another user.
func (s *scanner) rowObject(row *Row, file fileKey, o *Options) (err *RowError, named bool) {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		k := kindInvalid
		if s.pos < len(s.data) {
			k = kindOf(s.data[s.pos])
		}
		if err := s.whole(); err != nil {
			return s.syntax(err), false
		}
		return rowErr(CodeNotObject, "row is %s, want a JSON object with %s", k, fieldList), false
	}
	var st objectState
	s.pos++
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
	} else {
		for {
			if err := s.member(row, &st, o); err != nil {
				return s.syntax(err), false
			}
			s.skipSpace()
			if s.pos >= len(s.data) {
				return s.syntax(s.fail("unexpected end of JSON in object")), false
			}
			if s.data[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.data[s.pos] == '}' {
				s.pos++
				break
			}
			return s.syntax(s.fail("expected ',' or '}' in object")), false
		}
	}
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.syntax(s.fail("trailing data after the JSON object")), false
	}
	return st.verdict(row, file)
}

// objectState is what rowObject has seen of a row's members so far.
type objectState struct {
	semantic *RowError // the first problem that is not a syntax error
	seen     [len(fieldNames)]bool
	ignored  []string // the ignored keys seen, to catch one written twice
	mixed    bool     // keys of two kinds
}

func (st *objectState) note(e *RowError) {
	if st.semantic == nil {
		st.semantic = e
	}
}

// member scans one member of the row's object: its key, judged, and its
// value, kept when it is a key or a metadata field. The error is a syntax
// error.
func (s *scanner) member(row *Row, st *objectState, o *Options) error {
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return s.fail("expected a string key in object")
	}
	key, _, err := s.str(true)
	if err != nil {
		return err
	}
	slot := fieldSlot(key)
	switch {
	case slot < 0 && o.ignores(string(key)):
		if slices.Contains(st.ignored, string(key)) {
			st.note(rowErr(CodeDuplicateKey, "field %q appears twice", truncate(key)))
		}
		st.ignored = append(st.ignored, string(key))
	case slot < 0:
		st.note(rowErr(CodeUnknownField, "%s", unknownName("field", string(key))))
	case st.seen[slot]:
		st.note(rowErr(CodeDuplicateKey, "field %q appears twice", truncate(key)))
	}
	kk := KeyKind(0)
	if slot >= 0 {
		st.seen[slot] = true
		kk = slotKind(slot)
	}
	switch {
	case kk == 0:
	case row.Key.Kind == 0:
		row.Key.Kind = kk
	case row.Key.Kind != kk:
		st.mixed = true
		st.note(rowErr(CodeMixedKeys, "row names its user by both %s and %s: use one", row.Key.Kind, kk))
	}
	s.skipSpace()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return s.fail("expected ':' after object key")
	}
	s.pos++
	s.skipSpace()
	start := s.pos
	var k kind
	if start < len(s.data) {
		k = kindOf(s.data[start])
	}
	if kk != 0 && k == kindString {
		v, _, err := s.str(true)
		if err != nil {
			return err
		}
		if kk == row.Key.Kind {
			row.Key.Value = string(v)
		}
	} else if err := s.value(0); err != nil {
		return err
	}
	val := s.data[start:s.pos:s.pos]
	switch {
	case kk != 0 && k != kindString:
		st.note(rowErr(invalidKeyCode(kk), "%s must be a string, got %s", kk, k))
	case isMetadata(slot):
		if k != kindObject && k != kindNull {
			st.note(rowErr(CodeMetadataType, "%s must be a JSON object or null, got %s", fieldNames[slot], k))
		}
		*row.field(slot) = val
	}
	return nil
}

// verdict judges a row whose object was read whole, and reports whether it
// named its user by exactly one kind of key.
func (st *objectState) verdict(row *Row, file fileKey) (*RowError, bool) {
	named := row.Key.Kind != 0 && !st.mixed
	if named && file.kind != 0 && row.Key.Kind != file.kind {
		return rowErr(CodeMixedKeys, "row names its user by %s, but the file names users by %s (from line %d on): a file uses one kind of key",
			row.Key.Kind, file.kind, file.line), true
	}
	if st.semantic != nil {
		return st.semantic, named
	}
	if row.Key.Kind == 0 {
		if file.kind != 0 {
			return rowErr(CodeMissingUserID, "%s is missing", file.kind), false
		}
		return rowErr(CodeMissingUserID, "row names no user: it has none of %s", keyList), false
	}
	return nil, named
}

// invalidKeyCode is the code of a malformed key of kind k.
func invalidKeyCode(k KeyKind) string {
	switch k {
	case ExternalID:
		return CodeInvalidExternalID
	case Email:
		return CodeInvalidEmail
	}
	return CodeInvalidUserID
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
	if e := row.Key.Check(); e != nil {
		return e
	}
	if row.Fields() == 0 {
		return rowErr(CodeNoMetadata, "row sets none of %s, %s, %s", fieldPublic, fieldPrivate, fieldUnsafe)
	}
	return nil
}
