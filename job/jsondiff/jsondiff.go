// Package jsondiff compares metadata values as raw JSON bytes. A run uses it to skip a row
// whose new metadata already equals what the user holds (so a run applied twice writes nothing
// the second time), to count the keys a replace would remove, add or change (the removal guard
// and the plan need the count before the write), and to detect drift between what a plan saw
// and what the user holds now.
//
// Nothing is decoded into Go values: both sides are walked as bytes, so key order, escape
// spellings and number spellings do not make two values differ, and integers above 2^53 or
// numbers past float64's range are compared by their exact decimal value, never rounded.
package jsondiff

import (
	"bytes"
	"slices"
	"sync"
)

// Equal reports whether a and b hold the same JSON value: objects equal when they have the same
// keys (order ignored) with equal values; arrays element by element in order; strings by their
// decoded text (so "\u00e9" equals "é", "\/" equals "/"); numbers by exact decimal value (1, 1.0,
// 1e0, 10e-1 and 0.1e1 are equal; 9007199254740993 and 9007199254740992 are not; -0 equals 0);
// true/false/null by kind. null is not {} and not absent. A nil slice (absent) equals only nil.
//
// A value that is not valid JSON (as json.Valid judges it) equals nothing, not even itself.
func Equal(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	w := walkers.Get().(*walker)
	ea, eb, ok := w.equal(a, skipWS(a, 0), b, skipWS(b, 0), 0)
	if cap(w.ms) <= maxPooledMembers {
		walkers.Put(w)
	}
	return ok && skipWS(a, ea) == len(a) && skipWS(b, eb) == len(b)
}

// A walker holds, for objects whose keys are not in the same order on both sides, their
// members while they are sorted and matched. One walker serves a whole Equal, its members
// stacked by depth, and is pooled so that a call on equal values allocates nothing.
type walker struct {
	ms []member
}

// member is an object's member: its key between the quotes, as written, and its value's bytes.
type member struct {
	key, val []byte
}

// maxPooledMembers keeps an object with a million keys from staying in memory through the pool.
const maxPooledMembers = 1 << 12

var walkers = sync.Pool{New: func() any { return new(walker) }}

// equal compares the value at a[i] with the value at b[j], at the given nesting depth, and
// returns the indexes just past both. When they differ the indexes are meaningless.
func (w *walker) equal(a []byte, i int, b []byte, j int, depth int) (int, int, bool) {
	if i >= len(a) || j >= len(b) {
		return i, j, false
	}
	switch a[i] {
	case '{':
		if b[j] != '{' || depth >= maxDepth {
			return i, j, false
		}
		return w.objects(a, i, b, j, depth+1)
	case '[':
		if b[j] != '[' || depth >= maxDepth {
			return i, j, false
		}
		return w.arrays(a, i, b, j, depth+1)
	case '"':
		ea, oka := scanString(a, i)
		eb, okb := scanString(b, j)
		return ea, eb, oka && okb && sameText(a[i+1:ea-1], b[j+1:eb-1])
	case 't':
		return literal(a, i, b, j, "true")
	case 'f':
		return literal(a, i, b, j, "false")
	case 'n':
		return literal(a, i, b, j, "null")
	}
	x, ea, oka := scanNumber(a, i)
	y, eb, okb := scanNumber(b, j)
	if !oka || !okb {
		return ea, eb, false
	}
	return ea, eb, bytes.Equal(a[i:ea], b[j:eb]) || sameNumber(&x, &y)
}

func literal(a []byte, i int, b []byte, j int, lit string) (int, int, bool) {
	ok := bytes.HasPrefix(a[i:], []byte(lit)) && bytes.HasPrefix(b[j:], []byte(lit))
	return i + len(lit), j + len(lit), ok
}

func (w *walker) arrays(a []byte, i int, b []byte, j int, depth int) (int, int, bool) {
	i, j = skipWS(a, i+1), skipWS(b, j+1)
	if at(a, i) == ']' || at(b, j) == ']' {
		return i + 1, j + 1, at(a, i) == at(b, j)
	}
	for {
		var ok bool
		if i, j, ok = w.equal(a, i, b, j, depth); !ok {
			return i, j, false
		}
		i, j = skipWS(a, i), skipWS(b, j)
		switch c := at(a, i); {
		case c != at(b, j):
			return i, j, false
		case c == ']':
			return i + 1, j + 1, true
		case c == ',':
			i, j = skipWS(a, i+1), skipWS(b, j+1)
		default:
			return i, j, false
		}
	}
}

// objects compares members in the order written while both sides have the same keys in the
// same order, the common case, and sorts what is left only from the first key that differs.
func (w *walker) objects(a []byte, i int, b []byte, j int, depth int) (int, int, bool) {
	i, j = skipWS(a, i+1), skipWS(b, j+1)
	if at(a, i) == '}' || at(b, j) == '}' {
		return i + 1, j + 1, at(a, i) == at(b, j)
	}
	for {
		ka, va, oka := memberStart(a, i)
		kb, vb, okb := memberStart(b, j)
		if !oka || !okb {
			return i, j, false
		}
		if !sameText(ka, kb) {
			return w.unordered(a, i, b, j, depth)
		}
		var ok bool
		if i, j, ok = w.equal(a, va, b, vb, depth); !ok {
			return i, j, false
		}
		i, j = skipWS(a, i), skipWS(b, j)
		switch c := at(a, i); {
		case c != at(b, j): // one side has more members, or is not JSON
			return i, j, false
		case c == '}':
			return i + 1, j + 1, true
		case c == ',':
			i, j = skipWS(a, i+1), skipWS(b, j+1)
		default:
			return i, j, false
		}
	}
}

// memberStart reads the key of the member at b[i]: it returns the key between its quotes and
// the index of the value.
func memberStart(b []byte, i int) (key []byte, val int, ok bool) {
	e, ok := scanString(b, i)
	if !ok {
		return nil, e, false
	}
	c := skipWS(b, e)
	if at(b, c) != ':' {
		return nil, c, false
	}
	return b[i+1 : e-1], skipWS(b, c+1), true
}

// unordered compares the rest of two objects, from the members at a[i] and b[j], as sets of
// members.
func (w *walker) unordered(a []byte, i int, b []byte, j int, depth int) (int, int, bool) {
	base := len(w.ms)
	ea, oka := w.collect(a, i)
	mid := len(w.ms)
	eb, okb := w.collect(b, j)
	top := len(w.ms)
	ok := oka && okb && mid-base == top-mid
	if ok {
		// Full slice expressions: the comparisons below push members past top, perhaps into
		// a new array; these stay as they are.
		ma, mb := w.ms[base:mid:mid], w.ms[mid:top:top]
		slices.SortStableFunc(ma, byKey)
		slices.SortStableFunc(mb, byKey)
		for k := range ma {
			x, y := ma[k].val, mb[k].val
			if !sameText(ma[k].key, mb[k].key) {
				ok = false
				break
			}
			ex, ey, same := w.equal(x, 0, y, 0, depth)
			if !same || ex != len(x) || ey != len(y) {
				ok = false
				break
			}
		}
	}
	clear(w.ms[base:]) // a pooled walker keeps no caller's bytes alive
	w.ms = w.ms[:base]
	return ea, eb, ok
}

// collect pushes the members of an object from the one at b[i] to the end, and returns the
// index just past the object.
func (w *walker) collect(b []byte, i int) (int, bool) {
	for {
		k, vs, ok := memberStart(b, i)
		if !ok {
			return i, false
		}
		ve, ok := skipValue(b, vs)
		if !ok {
			return ve, false
		}
		w.ms = append(w.ms, member{key: k, val: b[vs:ve]})
		i = skipWS(b, ve)
		switch at(b, i) {
		case '}':
			return i + 1, true
		case ',':
			i = skipWS(b, i+1)
		default:
			return i, false
		}
	}
}

func byKey(x, y member) int { return compareText(x.key, y.key) }
