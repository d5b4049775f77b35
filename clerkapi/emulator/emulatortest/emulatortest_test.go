package emulatortest

import "testing"

func TestSameJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{`{"a":1,"b":[true,null]}`, ` { "a" : 1 , "b" : [ true , null ] } `, true},
		{`{"s":"\u00e9<"}`, `{"s":"é\u003c"}`, true},
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`, false},
		{`{"n":9007199254740993}`, `{"n":9007199254740992}`, false},
		{`{"n":1.0e2}`, `{"n":100}`, false},
		{`{}`, `null`, false},
		{`{`, `{`, false},
	} {
		if got := SameJSON([]byte(tt.a), []byte(tt.b)); got != tt.same {
			t.Errorf("SameJSON(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}
