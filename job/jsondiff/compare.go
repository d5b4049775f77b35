package jsondiff

import (
	"slices"
	"unicode/utf8"
)

// Changes lists the paths a replace changes, from the field's value before to its value after.
type Changes struct {
	Removed, Added, Changed []string
}

// Count is the number of paths in each of c's lists.
func (c Changes) Count() (removed, added, changed int) {
	return len(c.Removed), len(c.Added), len(c.Changed)
}

// Compare returns the changes from before to after under the field name (e.g. "public_metadata").
//
// Where both sides hold an object it goes down key by key: a key only in before is removed at
// its path, a key only in after is added, and a key on both sides whose values differ (by
// Equal) is changed, unless both of those values are objects, which it goes down into instead.
// Arrays and scalars are values, never gone into. A non-object (null, a scalar, an array)
// replacing an object removes each key at the top of that object, listed once without the keys
// nested inside them; an object replacing a non-object adds each of its keys; a non-object
// replacing a different non-object at a key is changed at that key. So {} replacing an object
// removes its keys as null does; an empty object at a key, replaced by a non-object or
// replacing one, has no key to remove or add, so the key is changed.
//
// The field itself is not a key: before null and after {} (or the reverse), or any two
// non-objects, give empty Changes; callers use Equal to know the value differs. A nil before
// or after (absent) has no keys.
//
// Paths are dotted from the field: public_metadata.onboarding.step. A key that is not a plain
// identifier ([A-Za-z_][A-Za-z0-9_]*) is written quoted in brackets with JSON string escaping:
// public_metadata["a.b"], public_metadata["with space"]["x"], public_metadata[""]. Keys are
// compared, and written, by their decoded text. Each list is sorted in byte order; an empty one
// is nil.
//
// Objects nested deeper than 512 keys on both sides (deeper than input accepts) are compared
// whole at that depth: one changed path if they differ.
//
// Inputs are expected to be valid JSON without duplicate keys. Of duplicate keys, the last
// counts, as with encoding/json; other invalid input gives a best effort, never a panic.
func Compare(field string, before, after []byte) Changes {
	d := differ{path: make([]byte, 0, 128), ms: make([]member, 0, 64)}
	d.values(append(d.path, field...), before, after, 0)
	slices.Sort(d.c.Removed)
	slices.Sort(d.c.Added)
	slices.Sort(d.c.Changed)
	return d.c
}

// differ holds one Compare's results and its members, stacked by depth as in walker.
type differ struct {
	c    Changes
	ms   []member
	path []byte
}

// maxCompareDepth is how deep Compare goes down into objects both sides hold; below it, two
// objects that differ are one changed path. Each level reads both sides' members to the end,
// so Compare's work is the values' size times this depth at most. It is input's nesting limit,
// so a row's metadata never reaches it.
const maxCompareDepth = 512

// values records the changes from before to after at path, which is depth keys below the
// field.
func (d *differ) values(path, before, after []byte, depth int) {
	base := len(d.ms)
	bm, bobj := d.members(before)
	am, aobj := d.members(after)
	switch {
	case bobj && aobj && depth < maxCompareDepth:
		d.objects(path, bm, am, depth+1)
	case bobj && aobj:
		if !Equal(before, after) {
			d.c.Changed = append(d.c.Changed, string(path))
		}
	case bobj && len(bm) == 0 && depth > 0, aobj && len(am) == 0 && depth > 0:
		// {} at a key replaced by a non-object, or the reverse: no key
		// goes or comes, but the key's value changed.
		d.c.Changed = append(d.c.Changed, string(path))
	case bobj:
		d.c.Removed = keys(d.c.Removed, path, bm)
	case aobj:
		d.c.Added = keys(d.c.Added, path, am)
	case depth > 0 && !Equal(before, after):
		d.c.Changed = append(d.c.Changed, string(path))
	}
	clear(d.ms[base:])
	d.ms = d.ms[:base]
}

// objects merges two objects' members, each sorted by key.
func (d *differ) objects(path []byte, bm, am []member, depth int) {
	for len(bm) > 0 || len(am) > 0 {
		c := 1
		switch {
		case len(am) == 0:
			c = -1
		case len(bm) > 0:
			c = compareText(bm[0].key, am[0].key)
		}
		switch {
		case c < 0:
			d.c.Removed = append(d.c.Removed, string(appendKey(path, bm[0].key)))
			bm = bm[1:]
		case c > 0:
			d.c.Added = append(d.c.Added, string(appendKey(path, am[0].key)))
			am = am[1:]
		default:
			d.values(appendKey(path, bm[0].key), bm[0].val, am[0].val, depth)
			bm, am = bm[1:], am[1:]
		}
	}
}

// members pushes the members of v, if it is an object, sorted by key with only the last of
// duplicate keys, and returns them. Of an object that is not JSON it returns the members read
// before the error.
func (d *differ) members(v []byte) ([]member, bool) {
	i := skipWS(v, 0)
	if at(v, i) != '{' {
		return nil, false
	}
	base := len(d.ms)
	if i = skipWS(v, i+1); at(v, i) != '}' {
		w := walker{ms: d.ms}
		w.collect(v, i)
		d.ms = w.ms
	}
	ms := d.ms[base:len(d.ms):len(d.ms)]
	slices.SortStableFunc(ms, byKey)
	out := ms[:0]
	for k, m := range ms {
		if k+1 < len(ms) && compareText(m.key, ms[k+1].key) == 0 {
			continue
		}
		out = append(out, m)
	}
	return out, true
}

func keys(list []string, path []byte, ms []member) []string {
	for _, m := range ms {
		list = append(list, string(appendKey(path, m.key)))
	}
	return list
}

// appendKey appends the path step of a key, given between its quotes as written.
func appendKey(path, raw []byte) []byte {
	if identifier(raw) {
		path = append(path, '.')
		for p := 0; p < len(raw); {
			var r rune
			r, p = nextRune(raw, p)
			path = append(path, byte(r))
		}
		return path
	}
	path = append(path, '[', '"')
	for p := 0; p < len(raw); {
		var r rune
		r, p = nextRune(raw, p)
		path = appendQuoted(path, r)
	}
	return append(path, '"', ']')
}

// identifier reports whether a key's decoded text is [A-Za-z_][A-Za-z0-9_]*.
func identifier(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	for p, first := 0, true; p < len(raw); first = false {
		var r rune
		r, p = nextRune(raw, p)
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case !first && '0' <= r && r <= '9':
		default:
			return false
		}
	}
	return true
}

// appendQuoted appends r as it would be written inside a JSON string: quote, backslash and
// control characters escaped, everything else as UTF-8.
func appendQuoted(b []byte, r rune) []byte {
	switch r {
	case '"', '\\':
		return append(b, '\\', byte(r))
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	if r < 0x20 {
		const hex = "0123456789abcdef"
		return append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
	}
	return utf8.AppendRune(b, r)
}
