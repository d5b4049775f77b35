package emulator

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f", "é😀\u2028", "bad\xffutf8", "<&>"} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("appendString(%q) = %s: %v", s, b, err)
			continue
		}
		if want := string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD"))); back != want {
			t.Errorf("appendString(%q) reads back as %q", s, back)
		}
	}
}

func TestCompactLen(t *testing.T) {
	t.Parallel()
	for _, v := range []string{`{}`, "{ \"a\" : [ 1 , 2 ] ,\n\t\"b\":\"x y \\\" z\" }", `{"s":"\\","t":" "}`, `null`} {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got := compactLen([]byte(v)); got != buf.Len() {
			t.Errorf("compactLen(%s) = %d, want %d", v, got, buf.Len())
		}
	}
}

func TestMergePatch(t *testing.T) {
	t.Parallel()
	// The examples of RFC 7396, appendix A, where the target is an object.
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{` { "k\u00e9" : 1 } `, `{"kÃ©":2,"k\u00e9":3}`, `{"k\u00e9":3,"kÃ©":2}`},
	}
	for _, tt := range tests {
		if got := mergePatch([]byte(tt.target), []byte(tt.patch)); string(got) != tt.want {
			t.Errorf("mergePatch(%s, %s) = %s, want %s", tt.target, tt.patch, got, tt.want)
		}
	}
}

func TestParseMetadataSpans(t *testing.T) {
	t.Parallel()
	body := []byte(` {"unsafe_metadata" :{"a":[{"}":"]"}]} , "private_metadata":null,"public_metadata":{}} `)
	fields, errs, ok := parseMetadata(body, 0)
	if !ok || errs != nil {
		t.Fatalf("parseMetadata: %v %v", ok, errs)
	}
	want := [3]string{`{}`, `null`, `{"a":[{"}":"]"}]}`}
	for k, f := range fields {
		if got := string(body[f.vs:f.ve]); !f.set || got != want[k] {
			t.Errorf("%s = %q, want %q", metadataFields[k], got, want[k])
		}
	}
}
