package jsondiff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzEqual checks properties of Equal on any pair, not only that it does not panic: it is
// reflexive on valid JSON (and only there), symmetric, blind to formatting, and agrees with an
// independent judge built on encoding/json's tokens with numbers read exactly by big.Rat.
// Compare rides along: its lists are sorted and distinct, swapping before and after swaps
// removed and added, and it finds nothing between equal values.
// `go test ./job/jsondiff -run '^$' -fuzz '^FuzzEqual$' -fuzztime 30s` explores further.
func FuzzEqual(f *testing.F) {
	for _, c := range equalCases {
		f.Add([]byte(c.a), []byte(c.b))
	}
	for _, v := range awkward {
		f.Add([]byte(v), []byte(v[:len(v)/2]))
	}
	for _, c := range compareCases {
		f.Add(raw(c.before), raw(c.after))
	}
	f.Add([]byte(`{"a":1,"a":2}`), []byte(`{"a":2,"a":1}`))
	f.Add([]byte(`{"b":{"y":1,"x":[1e2]},"a":"\u00e9"}`), []byte(`{"a":"é","b":{"x":[100],"y":1.0}}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		// Bytes, never absent: TestEqualAbsent covers nil.
		a, b = append([]byte{}, a...), append([]byte{}, b...)
		eq := Equal(a, b)
		if eq != Equal(b, a) {
			t.Fatalf("Equal(%q, %q) = %v but not the other way round", a, b, eq)
		}
		if eq && Hash(a) != Hash(b) && !hasDuplicateKeys(a) && !hasDuplicateKeys(b) {
			t.Fatalf("Equal(%q, %q) but their hashes differ", a, b)
		}
		cab, cba := Compare("f", a, b), Compare("f", b, a)
		for _, l := range [][]string{cab.Removed, cab.Added, cab.Changed} {
			if !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) {
				t.Fatalf("Compare(%q, %q) = %q: a list not sorted or not distinct", a, b, cab)
			}
		}
		if !slices.Equal(cab.Removed, cba.Added) || !slices.Equal(cab.Added, cba.Removed) || !slices.Equal(cab.Changed, cba.Changed) {
			t.Fatalf("Compare(%q, %q) = %q but the other way round %q", a, b, cab, cba)
		}
		if r, ad, ch := cab.Count(); eq && r+ad+ch != 0 {
			t.Fatalf("Compare(%q, %q) = %q, though Equal", a, b, cab)
		}
		va, vb := json.Valid(a), json.Valid(b)
		if got := Equal(a, a); got != va {
			t.Fatalf("Equal(%q, itself) = %v, want json.Valid = %v", a, got, va)
		}
		if eq && (!va || !vb) {
			t.Fatalf("Equal(%q, %q) = true, though not both are valid JSON", a, b)
		}
		if !va {
			return
		}
		var compact, indented bytes.Buffer
		if err := json.Compact(&compact, a); err != nil {
			t.Fatal(err)
		}
		if err := json.Indent(&indented, a, "\t", "  "); err != nil {
			t.Fatal(err)
		}
		if !Equal(a, compact.Bytes()) {
			t.Fatalf("Equal(%q, compacted %q) = false", a, compact.Bytes())
		}
		if !Equal(a, indented.Bytes()) {
			t.Fatalf("Equal(%q, indented %q) = false", a, indented.Bytes())
		}
		if Hash(a) != Hash(compact.Bytes()) || Hash(a) != Hash(indented.Bytes()) {
			t.Fatalf("Hash(%q) changes when compacted or indented", a)
		}
		if c := Compare("f", a, a); c.Removed != nil || c.Added != nil || c.Changed != nil {
			t.Fatalf("Compare(%q, itself) = %q", a, c)
		}
		if c := Compare("f", a, indented.Bytes()); c.Removed != nil || c.Added != nil || c.Changed != nil {
			t.Fatalf("Compare(%q, indented %q) = %q", a, indented.Bytes(), c)
		}
		if !vb {
			return
		}
		ja, erra := judge(a)
		jb, errb := judge(b)
		if erra != nil || errb != nil {
			return // a duplicate key or an exponent too big for big.Rat: the judge abstains
		}
		if eq && Hash(a) != Hash(b) {
			t.Fatalf("Equal(%q, %q) but their hashes differ", a, b)
		}
		if want := reflect.DeepEqual(ja, jb); eq != want {
			t.Fatalf("Equal(%q, %q) = %v, want %v: judged\n%#v\n%#v", a, b, eq, want, ja, jb)
		}
	})
}

// decimal is a number as the judge reads it: big.Rat's exact RatString of it.
type decimal string

// judge reads a valid JSON value through json.Decoder's tokens with UseNumber into
// map[string]any, []any, string, bool, nil and decimal; a test may decode what the package
// must not. It refuses duplicate keys, whose meaning Equal does not promise, and exponents
// past ±10000, which would make big.Rat build numbers of any size.
func judge(v []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	x, err := judgeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("after the value: %v", err)
	}
	return x, nil
}

func judgeValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '[' {
			list := []any{}
			for d.More() {
				x, err := judgeValue(d)
				if err != nil {
					return nil, err
				}
				list = append(list, x)
			}
			_, err := d.Token()
			return list, err
		}
		obj := map[string]any{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return nil, err
			}
			key := k.(string)
			if _, dup := obj[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			if obj[key], err = judgeValue(d); err != nil {
				return nil, err
			}
		}
		_, err := d.Token()
		return obj, err
	case json.Number:
		s := string(tok)
		if e := strings.IndexAny(s, "eE"); e >= 0 {
			if exp, err := strconv.Atoi(s[e+1:]); err != nil || exp > 10000 || exp < -10000 {
				return nil, fmt.Errorf("exponent of %s", s)
			}
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, fmt.Errorf("big.Rat does not read %s", s)
		}
		return decimal(r.RatString()), nil
	default: // string, bool, nil
		return tok, nil
	}
}

// hasDuplicateKeys reports whether an object in b repeats a key: Equal
// keeps the last, Hash counts both (inputs never have them).
func hasDuplicateKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // the next token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].key {
			if k, ok := tok.(string); ok {
				if stack[n-1].keys[k] {
					return true
				}
				stack[n-1].keys[k] = true
				stack[n-1].key = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].key = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{obj: true, keys: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && stack[n-1].obj {
				stack[n-1].key = true
			}
		}
	}
}
