package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// TestBackedUp: the set of backed-up fields through many growths of its
// tables: every user keeps its fields, fields added later join them, a
// user never added has none, and after free the set is empty but counted.
func TestBackedUp(t *testing.T) {
	t.Parallel()
	s := newBackedUp()
	const n = 200_000 // 781 a table: each grows from 256 slots to 2048
	want := func(i int) (f [clerkapi.NumFields]bool) {
		f[i%3] = true
		f[(i/3)%3] = true
		return f
	}
	for i := range n {
		s.add(fmt.Sprintf("user_%d", i), want(i))
	}
	for i := 0; i < n; i += 7 {
		s.add(fmt.Sprintf("user_%d", i), [clerkapi.NumFields]bool{clerkapi.Unsafe: true})
	}
	if s.n != n {
		t.Fatalf("n = %d, want %d", s.n, n)
	}
	for i := range n {
		w := want(i)
		if i%7 == 0 {
			w[clerkapi.Unsafe] = true
		}
		if got := s.fields(fmt.Sprintf("user_%d", i)); got != w {
			t.Fatalf("user_%d: %v, want %v", i, got, w)
		}
	}
	for i := n; i < n+1000; i++ {
		if got := s.fields(fmt.Sprintf("user_%d", i)); got != ([clerkapi.NumFields]bool{}) {
			t.Fatalf("user_%d, never added: %v", i, got)
		}
	}
	s.free()
	if got := s.fields("user_1"); got != ([clerkapi.NumFields]bool{}) || s.n != n {
		t.Errorf("after free: user_1 %v, n %d", got, s.n)
	}
}

// TestBackupLine: a backup line is what json.Marshal of the id and
// json.Compact of each value (or the value as read, when it is not JSON)
// make, in the fields' order.
func TestBackupLine(t *testing.T) {
	t.Parallel()
	values := []string{`{"a":1}`, "{ \"a\" : [1, 2],\n\"b\":\"x y\\\" z\" }", `null`, `{}`, `{"k":"<&>"}`, "{\"s\":\"tab\\tin\"}", `{"a":`, "not json at all", `{"u":"é\u2028"}`}
	ids := []string{"user_2xhFjEI5X2qWRvtV13BzSj8H6Dk", `user_"q"`, "user_<b>", "user_é", "user_\n"}
	for _, id := range ids {
		for i, v := range values {
			prior := clerkapi.Metadata{clerkapi.Private: []byte(v)}
			if i%2 == 0 {
				prior[clerkapi.Public] = []byte(values[(i+1)%len(values)])
			}
			want := referenceBackupLine(id, prior)
			if got := BackupLine(id, prior); string(got) != string(want) {
				t.Errorf("BackupLine(%q, %q):\n got %s\nwant %s", id, v, got, want)
			}
		}
	}
	if BackupLine("user_1", clerkapi.Metadata{}) != nil {
		t.Error("a line for no field")
	}
}

// referenceBackupLine is BackupLine as first written, through encoding/json.
func referenceBackupLine(userID string, prior clerkapi.Metadata) []byte {
	id, _ := json.Marshal(userID)
	b := append([]byte(`{"user_id":`), id...)
	for f, v := range prior {
		if v == nil {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, clerkapi.FieldNames[f]...)
		b = append(b, '"', ':')
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			b = append(b, buf.Bytes()...)
		} else {
			b = append(b, v...)
		}
	}
	return append(b, '}', '\n')
}
