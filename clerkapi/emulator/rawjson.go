package emulator

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The functions here walk JSON that json.Valid has accepted, so that metadata can be sliced
// out of a request body and stored as the exact bytes the client sent: no decoding into
// map[string]any, no reordered keys, no integers turned into floats.

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

// skipString returns the index just past the string that opens at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// eachMember calls fn, in document order, with the raw key (between its quotes) and the
// value's span of every member of the object that opens at b[i].
func eachMember(b []byte, i int, fn func(rawKey []byte, vs, ve int)) {
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != '}' {
		ke := skipString(b, i)
		rawKey := b[i+1 : ke-1]
		vs := skipWS(b, skipWS(b, ke)+1) // past the ':'
		ve := skipValue(b, vs)
		fn(rawKey, vs, ve)
		i = skipWS(b, ve)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
}

// keyBytes returns a raw object key with its escapes resolved, as encoding/json would see it.
func keyBytes(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return raw
	}
	return []byte(s)
}

// compactLen is len(json.Compact(v)) without building it.
func compactLen(v []byte) int {
	n := 0
	inString, escaped := false, false
	for _, c := range v {
		if inString {
			n++
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		}
		n++
	}
	return n
}

// kind names the JSON type of a value by its first byte, for error messages.
func kind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// member is one member of an object being merged.
type member struct {
	rawKey, key, val []byte
}

// mergePatch merges patch into target as RFC 7396 describes, which is what Clerk's PATCH
// metadata documents: objects merge at every depth, null removes a key, anything else
// replaces. Keys keep target's order, new keys follow in patch order, and values that are not
// merged keep their raw bytes. The result never aliases patch or target.
func mergePatch(target, patch []byte) []byte {
	patch = bytes.TrimSpace(patch)
	if len(patch) == 0 || patch[0] != '{' {
		return bytes.Clone(patch)
	}
	var ms []member
	if target = bytes.TrimSpace(target); len(target) > 0 && target[0] == '{' {
		eachMember(target, 0, func(rk []byte, vs, ve int) {
			ms = append(ms, member{rk, keyBytes(rk), target[vs:ve]})
		})
	}
	eachMember(patch, 0, func(rk []byte, vs, ve int) {
		k, v := keyBytes(rk), patch[vs:ve]
		j := -1
		for i := range ms {
			if bytes.Equal(ms[i].key, k) {
				j = i
				break
			}
		}
		switch {
		case v[0] == 'n':
			if j >= 0 {
				ms = append(ms[:j], ms[j+1:]...)
			}
			return
		case v[0] == '{':
			var base []byte
			if j >= 0 {
				base = ms[j].val
			}
			v = mergePatch(base, v)
		}
		if j >= 0 {
			ms[j].val = v
		} else {
			ms = append(ms, member{rk, k, v})
		}
	})
	out := []byte{'{'}
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, m.rawKey...)
		out = append(out, '"', ':')
		out = append(out, m.val...)
	}
	return append(out, '}')
}

// appendOneLine appends raw JSON as stored, compacted only if it holds a line break, which
// would split an NDJSON line.
func appendOneLine(b []byte, raw []byte) []byte {
	if bytes.ContainsAny(raw, "\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return append(b, buf.Bytes()...)
		}
	}
	return append(b, raw...)
}
