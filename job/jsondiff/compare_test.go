package jsondiff

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// absent stands for a nil value (the field not given) in compareCases.
const absent = "(absent)"

var compareCases = []struct {
	name          string
	before, after string
}{
	{"nested objects",
		`{"onboarding":{"step":2,"done":false,"seen":["intro"]},"plan":"free","theme":"dark"}`,
		`{"onboarding":{"step":3,"done":false,"seen":["intro","billing"],"at":"2024-05-01"},"plan":"free","lang":"fr"}`},
	{"unchanged, reordered and respelled",
		`{"a":{"x":1,"y":[1,2]},"b":"\u00e9","c":9007199254740993}`,
		`{"c":9007199254740993.0,"b":"é","a":{"y":[1,2],"x":1e0}}`},
	{"number spelling only", `{"n":1}`, `{"n":1.0}`},
	{"big integers differ", `{"id":9007199254740993}`, `{"id":9007199254740992}`},
	{"arrays are values", `{"list":[{"a":1},{"b":2}]}`, `{"list":[{"a":1},{"b":3}]}`},
	{"array order", `{"list":[1,2]}`, `{"list":[2,1]}`},
	{"scalar type changes", `{"a":1,"b":null,"c":"x","d":true}`, `{"a":"1","b":false,"c":["x"],"d":null}`},
	{"null replacing an object", `{"a":{"x":1,"y":{"z":1}},"b":1}`, `{"a":null,"b":1}`},
	{"{} replacing an object", `{"a":{"x":1,"y":{"z":1}}}`, `{"a":{}}`},
	{"scalar replacing an object", `{"a":{"x":1}}`, `{"a":"x"}`},
	{"object replacing null", `{"a":null}`, `{"a":{"x":1,"y":{"z":1}}}`},
	{"object replacing an array", `{"a":[1]}`, `{"a":{"b":1}}`},
	{"empty object replaced by null", `{"a":{}}`, `{"a":null}`},
	{"removed object listed once", `{"a":{"x":{"y":1}},"b":2}`, `{"b":2}`},
	{"added object listed once", `{"b":2}`, `{"a":{"x":{"y":1}},"b":2}`},
	{"deep change", `{"a":{"b":{"c":{"d":1,"e":2}}}}`, `{"a":{"b":{"c":{"d":1,"e":3,"f":4}}}}`},
	{"keys that are not identifiers",
		`{"a.b":1,"with space":{"x":1},"quote\"d":1,"back\\slash":1,"日本":1,"":1,"1st":1,"tab\t":1,"nul\u0000":1,"caf\u00e9":1}`,
		`{}`},
	{"keys that are identifiers", `{}`, `{"a":1,"_":1,"A_1":1,"\u0061\u005f2":1,"snake_case":1,"CamelCase":1}`},
	{"nested keys that are not identifiers", `{"with space":{"x":1,"a.b":{"c":1}}}`, `{"with space":{"x":2,"a.b":{"c":2}}}`},
	{"keys compared decoded", `{"caf\u00e9":1,"\ud83d\ude00":{"x":1}}`, `{"café":2,"😀":{"x":1}}`},
	{"sorted in byte order", `{}`, `{"b":1,"a":1,"B":1,"_":1,"a b":1,"a.b":1,"z":{},"Z":1}`},
	{"duplicate keys: the last counts", `{"a":1,"a":2}`, `{"a":2}`},
	{"field null to object", `null`, `{"a":1,"b":{"c":2}}`},
	{"field object to null", `{"a":1,"b":{"c":2}}`, `null`},
	{"field null to {}", `null`, `{}`},
	{"field {} to null", `{}`, `null`},
	{"field absent to object", absent, `{"a":1}`},
	{"field object to absent", `{"a":1}`, absent},
	{"field absent to null", absent, `null`},
	{"field {} to {}", `{}`, `{ }`},
	{"field not an object", `[1]`, `"x"`},
}

func raw(s string) []byte {
	if s == absent {
		return nil
	}
	return []byte(s)
}

func TestCompareGolden(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	for _, c := range compareCases {
		got := Compare("public_metadata", raw(c.before), raw(c.after))
		fmt.Fprintf(&out, "== %s\nbefore: %s\nafter:  %s\n", c.name, c.before, c.after)
		for _, l := range []struct {
			verb  string
			paths []string
		}{{"removed", got.Removed}, {"added", got.Added}, {"changed", got.Changed}} {
			for _, p := range l.paths {
				fmt.Fprintf(&out, "%s %s\n", l.verb, p)
			}
		}
		if r, a, ch := got.Count(); r+a+ch == 0 {
			out.WriteString("(no changes)\n")
		}
		out.WriteString("\n")
	}
	golden(t, "compare.golden", out.Bytes())
}

func TestComparePaths(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ key, want string }{
		{`"step"`, `f.step`},
		{`"_x9"`, `f._x9`},
		{`"9x"`, `f["9x"]`},
		{`"a.b"`, `f["a.b"]`},
		{`"with space"`, `f["with space"]`},
		{`"日本"`, `f["日本"]`},
		{`""`, `f[""]`},
		{`"q\"uote"`, `f["q\"uote"]`},
		{`"\u0071"`, `f.q`},
		{`"a\nb"`, `f["a\nb"]`},
		{`"\u0001"`, `f["\u0001"]`},
		{`"\u00e9"`, `f["é"]`},
		{`"a\/b"`, `f["a/b"]`},
		{`"]"`, `f["]"]`},
	} {
		got := Compare("f", []byte(`{`+c.key+`:1}`), nil)
		if !slices.Equal(got.Removed, []string{c.want}) {
			t.Errorf("key %s: removed %q, want [%s]", c.key, got.Removed, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	c := Compare("f", []byte(`{"a":1,"b":2,"c":{"d":1}}`), []byte(`{"b":3,"c":{"e":1},"x":1}`))
	r, a, ch := c.Count()
	if r != 2 || a != 2 || ch != 1 {
		t.Errorf("Count() = %d, %d, %d, want 2, 2, 1 (%+v)", r, a, ch, c)
	}
	if r, a, ch := (Changes{}).Count(); r != 0 || a != 0 || ch != 0 {
		t.Errorf("Changes{}.Count() = %d, %d, %d, want zeros", r, a, ch)
	}
}

func TestCompareNoPanic(t *testing.T) {
	t.Parallel()
	for _, v := range awkward {
		for n := range len(v) + 1 {
			p := []byte(v[:n])
			Compare("f", p, []byte(v))
			Compare("f", []byte(v), p)
			Compare("f", p, p)
		}
	}
}

// TestCompareDepth goes past the depth at which Compare stops going down.
func TestCompareDepth(t *testing.T) {
	t.Parallel()
	deep := func(leaf string) []byte {
		return []byte(strings.Repeat(`{"k":`, maxCompareDepth+10) + leaf + strings.Repeat("}", maxCompareDepth+10))
	}
	got := Compare("f", deep("1"), deep("2"))
	if r, a, ch := got.Count(); r != 0 || a != 0 || ch != 1 {
		t.Fatalf("Count() = %d, %d, %d, want 0, 0, 1", r, a, ch)
	}
	if want := "f" + strings.Repeat(".k", maxCompareDepth); got.Changed[0] != want {
		t.Errorf("changed %.40s… (%d bytes), want %d bytes", got.Changed[0], len(got.Changed[0]), len(want))
	}
}
