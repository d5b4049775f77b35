package jsondiff

import (
	"math/big"
)

// Hash returns a 64-bit hash of the JSON value b such that Equal(a, b)
// implies Hash(a) == Hash(b): key order, number spellings and string
// escapes do not change it. It lets a run remember what a field held (a
// plan's reading, the last value a run wrote) in 8 bytes instead of the
// value. A nil b (absent) hashes to 0; invalid JSON to a value no valid
// JSON has.
func Hash(b []byte) uint64 {
	if b == nil {
		return 0
	}
	i := skipWS(b, 0)
	h, j, ok := hashValue(b, i, 0)
	if !ok || skipWS(b, j) != len(b) {
		return invalidHash
	}
	return h | 1 // never 0, which is absent
}

const invalidHash = 0x9e3779b97f4a7c14

// Kinds seed their hashes, so a string never hashes like a number.
const (
	seedNull   uint64 = 0x6a09e667f3bcc908
	seedTrue   uint64 = 0xbb67ae8584caa73b
	seedFalse  uint64 = 0x3c6ef372fe94f82b
	seedNumber uint64 = 0xa54ff53a5f1d36f1
	seedString uint64 = 0x510e527fade682d1
	seedArray  uint64 = 0x9b05688c2b3e6c1f
	seedObject uint64 = 0x1f83d9abfb41bd6b
	seedMember uint64 = 0x5be0cd19137e2179
)

func mix(h, x uint64) uint64 {
	h ^= x + 0x9e3779b97f4a7c15 + h<<6 + h>>2
	// splitmix64's finaliser
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

func hashValue(b []byte, i, depth int) (uint64, int, bool) {
	if depth > maxDepth {
		return 0, i, false
	}
	switch c := at(b, i); {
	case c == 'n':
		return seedNull, i + 4, len(b) >= i+4 && string(b[i:i+4]) == "null"
	case c == 't':
		return seedTrue, i + 4, len(b) >= i+4 && string(b[i:i+4]) == "true"
	case c == 'f':
		return seedFalse, i + 5, len(b) >= i+5 && string(b[i:i+5]) == "false"
	case c == '"':
		end, ok := scanString(b, i)
		return hashText(seedString, b[i+1:max(end-1, i+1)]), end, ok
	case c == '[':
		return hashArray(b, i, depth)
	case c == '{':
		return hashObject(b, i, depth)
	default:
		n, end, ok := scanNumber(b, i)
		if !ok {
			return 0, end, false
		}
		return hashNumber(&n), end, true
	}
}

// hashText hashes a string's decoded text (between its quotes).
func hashText(seed uint64, s []byte) uint64 {
	h := seed
	for p := 0; p < len(s); {
		r, next := nextRune(s, p)
		h = mix(h, uint64(r))
		p = next
	}
	return h
}

// hashNumber hashes a number as ±0.d1…dn × 10^e, as sameNumber compares.
func hashNumber(n *number) uint64 {
	lo, hi := n.significant()
	if lo == hi {
		return mix(seedNumber, 0) // every zero, -0 too
	}
	h := seedNumber
	if n.neg {
		h = mix(h, 1)
	}
	for k := lo; k < hi; k++ {
		h = mix(h, uint64(n.digit(k)))
	}
	d := int64(len(n.int) - lo)
	if e, ok := n.smallExp(); ok {
		return mix(h, uint64(e+d))
	}
	e := n.bigExp()
	e.Add(e, big.NewInt(d))
	for _, w := range e.Bits() {
		h = mix(h, uint64(w))
	}
	return mix(h, uint64(e.Sign()+2))
}

func hashArray(b []byte, i, depth int) (uint64, int, bool) {
	h := seedArray
	i = skipWS(b, i+1)
	if at(b, i) == ']' {
		return h, i + 1, true
	}
	for {
		v, end, ok := hashValue(b, i, depth+1)
		if !ok {
			return 0, end, false
		}
		h = mix(h, v)
		i = skipWS(b, end)
		switch at(b, i) {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return h, i + 1, true
		default:
			return 0, i, false
		}
	}
}

// hashObject sums its members' hashes: the sum does not depend on their
// order. Of a repeated key, both count (inputs have none).
func hashObject(b []byte, i, depth int) (uint64, int, bool) {
	var sum uint64
	n := uint64(0)
	i = skipWS(b, i+1)
	if at(b, i) == '}' {
		return mix(seedObject, 0), i + 1, true
	}
	for {
		ke, ok := scanString(b, i)
		if !ok {
			return 0, ke, false
		}
		k := hashText(seedMember, b[i+1:ke-1])
		i = skipWS(b, ke)
		if at(b, i) != ':' {
			return 0, i, false
		}
		v, end, ok := hashValue(b, skipWS(b, i+1), depth+1)
		if !ok {
			return 0, end, false
		}
		sum += mix(k, v)
		n++
		i = skipWS(b, end)
		switch at(b, i) {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return mix(mix(seedObject, n), sum), i + 1, true
		default:
			return 0, i, false
		}
	}
}
