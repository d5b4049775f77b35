package jsondiff

import (
	"bytes"
	"math/big"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner below accepts exactly what json.Valid accepts, so a value that is not JSON is
// never equal to anything, and the decoding of strings follows encoding/json (escapes
// resolved, surrogate pairs joined, an unpaired surrogate or a byte that is not UTF-8 read as
// U+FFFD), so "equal" here means "equal once encoding/json has read both".

// maxDepth is encoding/json's nesting limit: deeper is not valid JSON to it, nor here.
const maxDepth = 10000

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// at is b[i], or 0 past the end.
func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// stringStop marks the bytes a string's scan must look at: the quote, the backslash and the
// control characters, which JSON does not allow unescaped. Every other byte is skipped in a
// tight loop, which is most of the time spent on metadata.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// scanString checks the string that opens at b[i] and returns the index just past its
// closing quote.
func scanString(b []byte, i int) (int, bool) {
	if at(b, i) != '"' {
		return i, false
	}
	for i++; i < len(b); i++ {
		for i < len(b) && !stringStop[b[i]] {
			i++
		}
		switch at(b, i) {
		case '"':
			return i + 1, true
		case '\\':
			i++
			switch at(b, i) {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || hex4(b[i+1:i+5]) < 0 {
					return i, false
				}
				i += 4
			default:
				return i, false
			}
		default: // a control character, or the end
			return i, false
		}
	}
	return i, false
}

// hex4 is the value of four hex digits, or -1.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// nextRune decodes the character at s[p] of the contents of a string scanString accepted and
// returns it with the index of the next one.
func nextRune(s []byte, p int) (rune, int) {
	c := s[p]
	if c >= utf8.RuneSelf {
		r, n := utf8.DecodeRune(s[p:])
		return r, p + n
	}
	if c != '\\' {
		return rune(c), p + 1
	}
	switch s[p+1] {
	case 'b':
		return '\b', p + 2
	case 'f':
		return '\f', p + 2
	case 'n':
		return '\n', p + 2
	case 'r':
		return '\r', p + 2
	case 't':
		return '\t', p + 2
	case 'u':
		r := hex4(s[p+2:])
		if !utf16.IsSurrogate(r) {
			return r, p + 6
		}
		if p+12 <= len(s) && s[p+6] == '\\' && s[p+7] == 'u' {
			if d := utf16.DecodeRune(r, hex4(s[p+8:])); d != utf8.RuneError {
				return d, p + 12
			}
		}
		return utf8.RuneError, p + 6
	default: // '"', '\\', '/'
		return rune(s[p+1]), p + 2
	}
}

// compareText orders the contents of two accepted strings by their decoded text, in byte
// order of its UTF-8 (which is the order of the code points).
func compareText(x, y []byte) int {
	p, q := 0, 0
	for p < len(x) && q < len(y) {
		if c := x[p]; c == y[q] && c < utf8.RuneSelf && c != '\\' {
			p, q = p+1, q+1
			continue
		}
		var rx, ry rune
		rx, p = nextRune(x, p)
		ry, q = nextRune(y, q)
		if rx != ry {
			if rx < ry {
				return -1
			}
			return 1
		}
	}
	switch {
	case p < len(x):
		return 1
	case q < len(y):
		return -1
	}
	return 0
}

func sameText(x, y []byte) bool {
	return bytes.Equal(x, y) || compareText(x, y) == 0
}

// skipValue returns the index just past the value that starts at b[i], checking only what it
// takes to find the end; the caller checks the value itself when it reads it.
func skipValue(b []byte, i int) (int, bool) {
	switch at(b, i) {
	case '"':
		return scanString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				var ok bool
				if i, ok = scanString(b, i); !ok {
					return i, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	s := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ':', ' ', '\t', '\n', '\r':
			return i, i > s
		}
		i++
	}
	return i, i > s
}

// number is a JSON number in its parts.
type number struct {
	neg    bool
	int    []byte // digits before the point
	frac   []byte // digits after it
	expNeg bool
	exp    []byte // digits of the exponent
}

// scanNumber checks the number that starts at b[i] and returns it with the index just past it.
func scanNumber(b []byte, i int) (number, int, bool) {
	var n number
	if at(b, i) == '-' {
		n.neg = true
		i++
	}
	s := i
	switch c := at(b, i); {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = digits(b, i)
	default:
		return n, i, false
	}
	n.int = b[s:i]
	if at(b, i) == '.' {
		s = i + 1
		if i = digits(b, s); i == s {
			return n, i, false
		}
		n.frac = b[s:i]
	}
	if c := at(b, i); c == 'e' || c == 'E' {
		i++
		if c := at(b, i); c == '+' || c == '-' {
			n.expNeg = c == '-'
			i++
		}
		s = i
		if i = digits(b, s); i == s {
			return n, i, false
		}
		n.exp = b[s:i]
	}
	return n, i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// digit is the k-th digit of the integer part followed by the fraction.
func (n *number) digit(k int) byte {
	if k < len(n.int) {
		return n.int[k]
	}
	return n.frac[k-len(n.int)]
}

// significant is the span [lo, hi) of n's digits (integer part, then fraction) from the first
// non-zero one to the last; lo == hi when n is zero.
func (n *number) significant() (lo, hi int) {
	hi = len(n.int) + len(n.frac)
	for lo < hi && n.digit(lo) == '0' {
		lo++
	}
	for hi > lo && n.digit(hi-1) == '0' {
		hi--
	}
	return lo, hi
}

// sameNumber reports whether x and y have the same decimal value. With the digits from the
// first non-zero one to the last as d1…dn, a number is ±0.d1…dn × 10^e: equal numbers have the
// same sign, the same digits and the same e, whatever their spelling, or are both zero.
func sameNumber(x, y *number) bool {
	xlo, xhi := x.significant()
	ylo, yhi := y.significant()
	if xlo == xhi || ylo == yhi {
		return xlo == xhi && ylo == yhi
	}
	if x.neg != y.neg || xhi-xlo != yhi-ylo {
		return false
	}
	for k := range xhi - xlo {
		if x.digit(xlo+k) != y.digit(ylo+k) {
			return false
		}
	}
	// e is the written exponent plus the place of the first significant digit.
	dx, dy := int64(len(x.int)-xlo), int64(len(y.int)-ylo)
	ex, okx := x.smallExp()
	ey, oky := y.smallExp()
	if okx && oky {
		return ex+dx == ey+dy
	}
	// An exponent of 19 digits or more: rare enough to pay for big.Int.
	bx := x.bigExp()
	by := y.bigExp()
	return bx.Add(bx, big.NewInt(dx)).Cmp(by.Add(by, big.NewInt(dy))) == 0
}

// smallExp is n's exponent if it has at most 18 digits, so that adding a digit count to it
// cannot overflow.
func (n *number) smallExp() (int64, bool) {
	d := bytes.TrimLeft(n.exp, "0")
	if len(d) > 18 {
		return 0, false
	}
	var e int64
	for _, c := range d {
		e = e*10 + int64(c-'0')
	}
	if n.expNeg {
		e = -e
	}
	return e, true
}

func (n *number) bigExp() *big.Int {
	e := new(big.Int)
	if len(n.exp) > 0 {
		e.SetString(string(n.exp), 10)
	}
	if n.expNeg {
		e.Neg(e)
	}
	return e
}
