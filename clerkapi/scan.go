package clerkapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// scanner walks the JSON of an answer once, checking its syntax as
// json.Valid does (the same grammar and nesting limit; like json.Valid it
// takes any bytes at or above 0x20 inside strings) while the caller picks
// the members it reads. A list answer is 1.4 KB a user, a hundred users a
// read, a read for every hundred rows of a sync: json.Valid first and a
// walk after cost two passes (three, with the skip of each user) and were
// half of the tool's CPU in a sync where every row is unchanged.
type scanner struct {
	b     []byte
	i     int
	depth int
}

// maxDepth is json.Valid's nesting limit.
const maxDepth = 10000

var errDepth = errors.New("exceeded max depth")

func (s *scanner) syntax(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("unexpected end of JSON input (%s)", what)
	}
	return fmt.Errorf("invalid character %q at offset %d (%s)", s.b[s.i], s.i, what)
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end checks that nothing but whitespace follows.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return s.syntax("after top-level value")
	}
	return nil
}

// value checks the value at s.i and moves past it; it returns where the
// value starts.
func (s *scanner) value() (int, error) {
	start := s.i
	if s.i >= len(s.b) {
		return start, s.syntax("looking for beginning of value")
	}
	var err error
	switch c := s.b[s.i]; {
	case c == '"':
		_, err = s.str()
	case c == '{':
		err = s.object(nil)
	case c == '[':
		err = s.array(nil)
	case c == '-' || c >= '0' && c <= '9':
		err = s.number()
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	default:
		err = s.syntax("looking for beginning of value")
	}
	return start, err
}

// plainByte marks the string bytes that need no look: not a quote, not a
// backslash, not a control character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str checks the string at s.i (its opening quote) and moves past it. It
// reports whether the string holds an escape.
func (s *scanner) str() (escaped bool, err error) {
	b := s.b
	i := s.i + 1
	for {
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			s.i = i
			return escaped, s.syntax("in string literal")
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				s.i = i + 1
				return escaped, s.syntax("in string escape code")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) || !isHex(b[k]) {
						s.i = k
						return escaped, s.syntax("in \\u hexadecimal character escape")
					}
				}
				i += 6
			default:
				s.i = i + 1
				return escaped, s.syntax("in string escape code")
			}
		default: // a control character
			s.i = i
			return escaped, s.syntax("in string literal")
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	b := s.b
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && b[s.i] >= '1' && b[s.i] <= '9':
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	default:
		return s.syntax("in numeric literal")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if s.i >= len(b) || !isDigit(b[s.i]) {
			return s.syntax("after decimal point in numeric literal")
		}
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(b) || !isDigit(b[s.i]) {
			return s.syntax("in exponent of numeric literal")
		}
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	}
	return nil
}

func (s *scanner) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if s.i >= len(s.b) || s.b[s.i] != lit[k] {
			return s.syntax("in literal " + lit)
		}
		s.i++
	}
	return nil
}

// object checks the object at s.i and moves past it. member, if not nil,
// is called for each member, in order, with the key's bytes between its
// quotes (escaped tells whether they hold an escape) and the span of its
// value, b[vs:ve], already checked; an error it returns stops the walk.
func (s *scanner) object(member func(key []byte, escaped bool, vs, ve int) error) error {
	if s.depth++; s.depth > maxDepth {
		return errDepth
	}
	defer func() { s.depth-- }()
	s.i++ // {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax("looking for beginning of object key string")
		}
		ks := s.i
		escaped, err := s.str()
		if err != nil {
			return err
		}
		ke := s.i
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax("after object key")
		}
		s.i++
		s.space()
		vs, err := s.value()
		if err != nil {
			return err
		}
		if member != nil {
			if err := member(s.b[ks+1:ke-1], escaped, vs, s.i); err != nil {
				return err
			}
		}
		s.space()
		if s.i >= len(s.b) {
			return s.syntax("after object key:value pair")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return nil
		default:
			return s.syntax("after object key:value pair")
		}
	}
}

// array checks the array at s.i and moves past it. elem, if not nil, is
// called at each element instead of value: it must check the element and
// move past it.
func (s *scanner) array(elem func() error) error {
	if s.depth++; s.depth > maxDepth {
		return errDepth
	}
	defer func() { s.depth-- }()
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		var err error
		if elem != nil {
			err = elem()
		} else {
			_, err = s.value()
		}
		if err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.syntax("after array element")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case ']':
			s.i++
			return nil
		default:
			return s.syntax("after array element")
		}
	}
}

// valid reports whether b is one JSON value, as json.Valid does.
func valid(b []byte) bool {
	s := scanner{b: b}
	s.space()
	if _, err := s.value(); err != nil {
		return false
	}
	return s.end() == nil
}

// text decodes the checked string v (quotes included) as encoding/json
// does: in place, unless it holds an escape or bytes that are not UTF-8
// (which json turns into U+FFFD).
func text(v []byte, escaped bool) (string, error) {
	if in := v[1 : len(v)-1]; !escaped && utf8.Valid(in) {
		return string(in), nil
	}
	var t string
	err := json.Unmarshal(v, &t)
	return t, err
}
