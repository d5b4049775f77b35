package jsondiff

import (
	"encoding/json"
	"strings"
	"testing"
)

// equalCases are pairs with the verdict Equal must give both ways round.
var equalCases = []struct {
	name string
	a, b string
	want bool
}{
	// Objects: keys, order ignored.
	{"empty objects", `{}`, `{}`, true},
	{"key order", `{"a":1,"b":2,"c":3}`, `{"c":3,"a":1,"b":2}`, true},
	{"same prefix then reordered", `{"a":1,"b":2,"c":3,"d":4}`, `{"a":1,"d":4,"c":3,"b":2}`, true},
	{"nested key order", `{"x":{"a":[1,{"p":1,"q":2}],"b":null}}`, `{"x":{"b":null,"a":[1,{"q":2,"p":1}]}}`, true},
	{"missing key", `{"a":1,"b":2}`, `{"a":1}`, false},
	{"missing key reordered", `{"a":1,"b":2}`, `{"b":2}`, false},
	{"extra key", `{"a":1}`, `{"a":1,"b":null}`, false},
	{"other key", `{"a":1}`, `{"b":1}`, false},
	{"other value", `{"a":1,"b":2}`, `{"b":2,"a":2}`, false},
	{"nested value differs", `{"a":{"b":{"c":1}}}`, `{"a":{"b":{"c":2}}}`, false},
	{"key escaped", `{"\u00e9":1,"a\/b":2}`, `{"a/b":2,"é":1}`, true},
	{"key surrogate pair", `{"\ud83d\ude00":1}`, `{"😀":1}`, true},
	{"keys differ by case", `{"a":1}`, `{"A":1}`, false},
	{"deep", `{"a":{"b":{"c":{"d":{"e":[[[{"f":"g"}]]]}}}}}`, `{"a":{"b":{"c":{"d":{"e":[[[{"f":"g"}]]]}}}}}`, true},

	// Arrays: in order.
	{"empty arrays", `[]`, `[ ]`, true},
	{"array order", `[1,2]`, `[2,1]`, false},
	{"array length", `[1,2]`, `[1,2,3]`, false},
	{"array of objects", `[{"a":1,"b":2},{}]`, `[{"b":2,"a":1},{}]`, true},
	{"empty array vs object", `[]`, `{}`, false},

	// Strings: decoded text.
	{"string", `"abc"`, `"abc"`, true},
	{"string differs", `"abc"`, `"abd"`, false},
	{"string prefix", `"ab"`, `"abc"`, false},
	{"escape é", `"\u00e9"`, `"é"`, true},
	{"escape upper hex", `"\u00E9"`, `"é"`, true},
	{"escaped slash", `"\/"`, `"/"`, true},
	{"escapes", `"\"\\\b\f\n\r\t"`, `"\u0022\u005c\u0008\u000c\u000a\u000d\u0009"`, true},
	{"surrogate pair", `"\ud83d\ude00"`, `"😀"`, true},
	{"surrogate pair upper", `"\uD83D\uDE00"`, `"😀"`, true},
	{"other emoji", `"\ud83d\ude01"`, `"😀"`, false},
	{"lone surrogate reads as U+FFFD", `"\ud800"`, `"\ufffd"`, true},
	{"high surrogate then letter", `"\ud800\u0041"`, `"\ufffdA"`, true},
	{"invalid UTF-8 reads as U+FFFD", "\"\xff\"", `"\ufffd"`, true},
	{"combining accent is not é", `"e\u0301"`, `"é"`, false},
	{"string vs number", `"1"`, `1`, false},
	{"empty string", `""`, `""`, true},
	{"empty string vs null", `""`, `null`, false},

	// Numbers: exact decimal value.
	{"1 and 1.0", `1`, `1.0`, true},
	{"1 and 1e0", `1`, `1e0`, true},
	{"1 and 10e-1", `1`, `10e-1`, true},
	{"1 and 0.1e1", `1`, `0.1e1`, true},
	{"1 and 1E+0", `1`, `1E+0`, true},
	{"100 and 1e2", `100`, `1e2`, true},
	{"0.001 and 1e-3", `0.001`, `1e-3`, true},
	{"1.50 and 1.5", `1.50`, `1.5`, true},
	{"12.5 and 125e-1", `12.5`, `125e-1`, true},
	{"1 and 2", `1`, `2`, false},
	{"10 and 1", `10`, `1`, false},
	{"0.1 and 1", `0.1`, `1`, false},
	{"12 and 21", `12`, `21`, false},
	{"sign", `1`, `-1`, false},
	{"-0 and 0", `-0`, `0`, true},
	{"-0.0 and 0e5", `-0.0`, `0e5`, true},
	{"0 and 0.000001", `0`, `0.000001`, false},
	{"2^53+1 and 2^53", `9007199254740993`, `9007199254740992`, false},
	{"2^53+1 and itself respelled", `9007199254740993`, `9007199254740993.000e0`, true},
	{"2^64+1", `18446744073709551617`, `18446744073709551616`, false},
	{"many digits", `0.1000000000000000000000000000000000001`, `0.1`, false},
	{"past float64", `1e400`, `10e399`, true},
	{"past float64 differs", `1e400`, `1e401`, false},
	{"below float64", `1e-400`, `0`, false},
	{"huge exponent", `1e999999999999999999999`, `10e999999999999999999998`, true},
	{"huge exponent differs", `1e999999999999999999999`, `1e999999999999999999998`, false},
	{"huge negative exponent", `1e-999999999999999999999`, `0.1e-999999999999999999998`, true},
	{"huge exponent of zero", `0e999999999999999999999`, `0`, true},
	{"exponent with leading zeros", `1e0000000000000000000000002`, `100`, true},

	// Literals.
	{"true", `true`, `true`, true},
	{"false", `false`, `false`, true},
	{"null", `null`, `null`, true},
	{"true vs false", `true`, `false`, false},
	{"null vs false", `null`, `false`, false},
	{"null vs {}", `null`, `{}`, false},
	{"null vs []", `null`, `[]`, false},
	{"null vs 0", `null`, `0`, false},

	// Formatting.
	{"whitespace", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\":{ } }\n", `{"a":[1,2],"b":{}}`, true},
	{"indented", "{\n  \"b\": {\n    \"c\": true\n  },\n  \"a\": \"x\"\n}", `{"a":"x","b":{"c":true}}`, true},

	// Invalid JSON equals nothing.
	{"trailing data", `{} {}`, `{}`, false},
	{"trailing comma", `{"a":1,}`, `{"a":1}`, false},
	{"leading zero", `01`, `1`, false},
	{"bare point", `1.`, `1`, false},
	{"truncated", `{"a":`, `{"a":1}`, false},
	{"unquoted key", `{a:1}`, `{"a":1}`, false},
	{"bad escape", `"\x"`, `"x"`, false},
	{"control character", "\"\x01\"", `"\u0001"`, false},
	{"empty", ``, ``, false},
	{"only space", ` `, ` `, false},
	{"tru", `tru`, `true`, false},
	{"invalid in an unordered object", `{"b":1,"a":tru}`, `{"a":true,"b":1}`, false},
	{"invalid after the difference is found", `{"a":1,"b":[}`, `{"a":2,"b":[}`, false},
}

func TestEqual(t *testing.T) {
	t.Parallel()
	for _, c := range equalCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := []byte(c.a), []byte(c.b)
			if got := Equal(a, b); got != c.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
			}
			if got := Equal(b, a); got != c.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", c.b, c.a, got, c.want)
			}
			for _, v := range []string{c.a, c.b} {
				if got, want := Equal([]byte(v), []byte(v)), json.Valid([]byte(v)); got != want {
					t.Errorf("Equal(%s, itself) = %v, want %v (json.Valid)", v, got, want)
				}
			}
		})
	}
}

func TestEqualAbsent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b []byte
		want bool
	}{
		{nil, nil, true},
		{nil, []byte(`null`), false},
		{nil, []byte(`{}`), false},
		{nil, []byte{}, false},
		{[]byte{}, []byte{}, false}, // not absent: empty, and not JSON
	} {
		if got := Equal(c.a, c.b); got != c.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := Equal(c.b, c.a); got != c.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}

// TestEqualDepth holds Equal to encoding/json's nesting limit.
func TestEqualDepth(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		for _, open := range []string{"[", `{"k":`} {
			close := map[string]string{"[": "]", `{"k":`: "}"}[open]
			v := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth))
			if got, want := Equal(v, v), json.Valid(v); got != want {
				t.Errorf("Equal at depth %d of %s = %v, want %v (json.Valid)", depth, open, got, want)
			}
		}
	}
	// Unbalanced and far deeper: no stack to grow, no panic.
	v := []byte(strings.Repeat("[", 1<<20))
	if Equal(v, v) {
		t.Error("Equal of a million '[' = true")
	}
}

// awkward values, every prefix of which must not make Equal or Compare panic.
var awkward = []string{
	`{"a":{"b":[1,"x\u00e9\ud83d\ude00",null,true,false,-1.5e-7]},"c":"\\\""}`,
	`{"b":1,"a":{"d":2,"c":3}}`,
	`{"a":1,"a":2,"b":{"a":{},"a":[]}}`,
	`"\ud83d\ude00"`,
	`-0.0e+10`,
}

func TestEqualNoPanic(t *testing.T) {
	t.Parallel()
	for _, v := range awkward {
		for n := range len(v) + 1 {
			p := []byte(v[:n])
			Equal(p, []byte(v))
			Equal([]byte(v), p)
			Equal(p, p)
		}
	}
}

// TestHash: values Equal calls equal hash alike; a few that differ do not.
func TestHash(t *testing.T) {
	t.Parallel()
	for _, tt := range equalCases {
		a, b := []byte(tt.a), []byte(tt.b)
		if tt.want && Hash(a) != Hash(b) {
			t.Errorf("%s: Equal(%s, %s) but hashes differ", tt.name, tt.a, tt.b)
		}
	}
	for _, pair := range [][2]string{
		{`{"a":1}`, `{"a":2}`}, {`{"a":1,"b":2}`, `{"a":2,"b":1}`}, {`[1,2]`, `[2,1]`}, {`"1"`, `1`},
		{`null`, `{}`}, {`{}`, `[]`}, {`1e2`, `1e3`}, {`9007199254740993`, `9007199254740992`}, {`{"a":{}}`, `{"a":[]}`},
	} {
		if Hash([]byte(pair[0])) == Hash([]byte(pair[1])) {
			t.Errorf("%s and %s hash alike", pair[0], pair[1])
		}
	}
	if Hash(nil) != 0 || Hash([]byte("{}")) == 0 || Hash([]byte("{")) == Hash([]byte("{}")) {
		t.Error("absent, valid and invalid values must hash apart")
	}
}
