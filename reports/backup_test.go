package reports

import (
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
