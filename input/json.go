package input

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON values, so a hostile line of a
// million '[' is an error, not a stack to grow.
const maxDepth = 512

// syntaxError is a JSON error at a byte offset of the value being scanned.
// It never quotes the input: metadata values are private.
type syntaxError struct {
	off  int // 0-based offset into the scanned bytes
	msg  string
	code string // CodeInvalidJSON, CodeInvalidUTF8 or CodeDuplicateKey
}

func (e *syntaxError) Error() string { return e.msg }

// scanner checks JSON strictly (RFC 8259, UTF-8, no unpaired surrogate
// escapes, no duplicate keys at any depth) in one pass without building
// values. It keeps no state between calls except reusable buffers.
type scanner struct {
	data []byte
	pos  int

	// keys holds the keys of every object being scanned, innermost last;
	// each open object remembers where its own keys start.
	keys [][]byte
	// decoded is scratch space for keys written with escapes.
	decoded []byte
}

func (s *scanner) fail(msg string, args ...any) error {
	return &syntaxError{off: s.pos, msg: fmt.Sprintf(msg, args...), code: CodeInvalidJSON}
}

// duplicate is the error for a key seen twice in one object: valid JSON
// syntax, but parsers keep one value or the other, silently.
func (s *scanner) duplicate(key []byte) error {
	return &syntaxError{off: s.pos, msg: fmt.Sprintf("duplicate key %q", truncate(key)), code: CodeDuplicateKey}
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// kind is the type of a JSON value, told by its first byte.
type kind byte

const (
	kindInvalid kind = iota
	kindObject
	kindArray
	kindString
	kindNumber
	kindBool
	kindNull
)

func (k kind) String() string {
	switch k {
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindNull:
		return "null"
	}
	return "invalid"
}

func kindOf(c byte) kind {
	switch {
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == '"':
		return kindString
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber
	case c == 't' || c == 'f':
		return kindBool
	case c == 'n':
		return kindNull
	}
	return kindInvalid
}

// value scans one JSON value at s.pos (no leading space) and leaves s.pos
// just after it.
func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end of JSON")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, err := s.str(false)
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.fail("expected a JSON value")
	}
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		return s.fail("expected a JSON value")
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) number() error {
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return s.fail("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			s.pos = i
			return s.fail("invalid number: no digits after the decimal point")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			s.pos = i
			return s.fail("invalid number: no digits in the exponent")
		}
	}
	s.pos = i
	return nil
}

// str scans a string at s.pos. When decode is set it returns the string's
// decoded bytes: a sub-slice of the input when there are no escapes, else
// s.decoded (escaped is then true), valid only until the next call.
func (s *scanner) str(decode bool) (b []byte, escaped bool, err error) {
	d := s.data
	s.pos++ // opening quote
	start := s.pos
	for {
		// Fast path over plain ASCII.
		i := s.pos
		for i < len(d) {
			c := d[i]
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				break
			}
			i++
		}
		s.pos = i
		if i >= len(d) {
			return nil, false, s.fail("unterminated string")
		}
		switch c := d[i]; {
		case c == '"':
			s.pos++
			if !decode {
				return nil, escaped, nil
			}
			if !escaped {
				return d[start:i], false, nil
			}
			return s.unescape(d[start:i]), true, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, s.fail("control character in string (must be escaped)")
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size <= 1 {
				err := s.fail("invalid UTF-8 in string")
				err.(*syntaxError).code = CodeInvalidUTF8
				return nil, false, err
			}
			s.pos += size
		}
	}
}

// escape checks one escape sequence at s.pos (the backslash).
func (s *scanner) escape() error {
	d := s.data
	if s.pos+1 >= len(d) {
		return s.fail("unterminated string")
	}
	switch d[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return nil
	case 'u':
		r, ok := hex4(d[s.pos+2:])
		if !ok {
			return s.fail(`invalid \u escape`)
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			// A high surrogate must be followed by an escaped low one:
			// a lone surrogate is read differently by different parsers.
			rest := d[s.pos+6:]
			if len(rest) < 6 || rest[0] != '\\' || rest[1] != 'u' {
				return s.fail(`unpaired UTF-16 surrogate in \u escape`)
			}
			lo, ok := hex4(rest[2:])
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return s.fail(`unpaired UTF-16 surrogate in \u escape`)
			}
			s.pos += 12
		case r >= 0xDC00 && r <= 0xDFFF:
			return s.fail(`unpaired UTF-16 surrogate in \u escape`)
		default:
			s.pos += 6
		}
		return nil
	default:
		return s.fail("invalid escape in string")
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// unescape decodes the body of a string already checked by str.
func (s *scanner) unescape(b []byte) []byte {
	out := s.decoded[:0]
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch b[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(b[i+2:])
			if r >= 0xD800 && r < 0xDC00 {
				lo, _ := hex4(b[i+8:])
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			out = append(out, b[i+1])
		}
		i += 2
	}
	s.decoded = out
	return out
}

func (s *scanner) array(depth int) error {
	if depth > maxDepth {
		return s.fail("JSON nested deeper than %d levels", maxDepth)
	}
	s.pos++ // [
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if err := s.value(depth); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.fail("unexpected end of JSON in array")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or ']' in array")
		}
	}
}

// object scans an object and rejects a key written twice (compared after
// unescaping, so "a" and "\u0061" are the same key).
func (s *scanner) object(depth int) error {
	if depth > maxDepth {
		return s.fail("JSON nested deeper than %d levels", maxDepth)
	}
	s.pos++ // {
	base := len(s.keys)
	defer func() { s.keys = s.keys[:base] }()
	var big map[string]struct{} // for objects with many keys
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.fail("expected a string key in object")
		}
		keyAt := s.pos
		key, escaped, err := s.str(true)
		if err != nil {
			return err
		}
		if big != nil {
			if _, dup := big[string(key)]; dup {
				s.pos = keyAt
				return s.duplicate(key)
			}
			big[string(key)] = struct{}{}
		} else {
			for _, k := range s.keys[base:] {
				if bytes.Equal(k, key) {
					s.pos = keyAt
					return s.duplicate(key)
				}
			}
			if escaped {
				key = bytes.Clone(key) // s.decoded is reused by the next escaped key
			}
			s.keys = append(s.keys, key)
			if len(s.keys)-base > 32 {
				big = make(map[string]struct{}, 64)
				for _, k := range s.keys[base:] {
					big[string(k)] = struct{}{}
				}
			}
		}
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.fail("expected ':' after object key")
		}
		s.pos++
		s.skipSpace()
		if err := s.value(depth); err != nil {
			return err
		}
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.fail("unexpected end of JSON in object")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or '}' in object")
		}
	}
}
