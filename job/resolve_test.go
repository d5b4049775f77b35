package job

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestResolveExternalID: rows keyed by external_id resolve to their users
// through the batched read (at most 100 values, limit set to their
// number), are written under the user's id, and a key no user has fails
// with no write.
func TestResolveExternalID(t *testing.T) {
	t.Parallel()
	srv, base := startEmulator(t, emulator.Config{RecordRequests: true})
	var lines []string
	for i := range 250 {
		srv.SetUser(emulator.User{ID: fmt.Sprintf("user_x%d", i), ExternalID: fmt.Sprintf("crm-%d", i), Public: []byte(`{"old":1}`)})
		lines = append(lines, fmt.Sprintf(`{"external_id":"crm-%d","public_metadata":{"i":%d}}`, i, i))
	}
	lines = append(lines, `{"external_id":"crm-nobody","public_metadata":{"i":1}}`)
	rec := newMemRecorder()
	mustRun(t, newJob(base, Options{Workers: 8}), ndjson(t, lines...), rec)
	for n := 1; n <= 250; n++ {
		r := rec.results[n]
		if r.Status != reports.Succeeded || r.UserID != fmt.Sprintf("user_x%d", n-1) || r.Key != fmt.Sprintf("crm-%d", n-1) {
			t.Fatalf("row %d: %+v", n, r)
		}
	}
	if r := rec.results[251]; r.Status != reports.Failed || r.ErrorCode != CodeNotFound || r.UserID != "" || r.Attempts != 0 {
		t.Errorf("unknown external id: %+v", r)
	}
	if u, _ := srv.User("user_x7"); string(u.Public) != `{"i":7}` {
		t.Errorf("user_x7 = %s", u.Public)
	}
	reads, puts := 0, 0
	for _, req := range srv.Requests() {
		switch req.Method {
		case http.MethodPut:
			puts++
		case http.MethodGet:
			reads++
			q, _ := url.ParseQuery(req.RawQuery)
			vals := q["external_id"]
			if len(vals) == 0 || len(vals) > 100 || q.Get("limit") != strconv.Itoa(len(vals)) || len(q) != 2 {
				t.Errorf("read %q", req.RawQuery)
			}
		}
	}
	// Batched: a partial batch goes early only when the pool would idle,
	// which a loaded machine makes more of; the bench measures the ratio.
	if puts != 250 || reads > 251/10 {
		t.Errorf("%d writes, %d reads for 251 rows", puts, reads)
	}
}

// TestResolveEmail: emails match a user's addresses without regard to
// case; one that two users share is ambiguous_user, with no write; two
// addresses of one user are one user: its rows apply in input order and
// never at once.
func TestResolveEmail(t *testing.T) {
	t.Parallel()
	srv, base := startEmulator(t, emulator.Config{RecordHistory: true, Latency: 2e6})
	srv.SetUser(emulator.User{ID: "user_jane", Emails: []string{"Jane@Example.com", "jane.doe@work.example"}, Public: []byte(`{}`)})
	srv.SetUser(emulator.User{ID: "user_one", Emails: []string{"shared@example.com"}, Public: []byte(`{}`)})
	srv.SetUser(emulator.User{ID: "user_two", Emails: []string{"SHARED@example.com"}, Public: []byte(`{}`)})
	var lines []string
	for i := range 12 {
		email := "jane@example.com"
		if i%2 == 1 {
			email = "JANE.DOE@work.example"
		}
		lines = append(lines, fmt.Sprintf(`{"email_address":%q,"public_metadata":{"n":%d}}`, email, i))
	}
	lines = append(lines, `{"email_address":"shared@example.com","public_metadata":{"n":1}}`,
		`{"email_address":"nobody@example.com","public_metadata":{"n":1}}`)
	rec := newMemRecorder()
	// A short per-user window: twelve writes to one user need not wait
	// Clerk's ten seconds here.
	mustRun(t, newJob(base, Options{Workers: 8, UserWindow: 100 * time.Millisecond}), ndjson(t, lines...), rec)
	for n := 1; n <= 12; n++ {
		if r := rec.results[n]; r.Status != reports.Succeeded || r.UserID != "user_jane" {
			t.Errorf("row %d: %+v", n, r)
		}
	}
	if r := rec.results[13]; r.ErrorCode != CodeAmbiguousUser || !strings.Contains(r.ErrorMessage, "2 users") {
		t.Errorf("shared email: %+v", r)
	}
	if r := rec.results[14]; r.ErrorCode != CodeNotFound {
		t.Errorf("unknown email: %+v", r)
	}
	var order []string
	for _, b := range srv.History("user_jane") {
		order = append(order, string(b))
	}
	want := make([]string, 12)
	for i := range want {
		want[i] = fmt.Sprintf(`{"public_metadata":{"n":%d}}`, i)
	}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("user_jane's writes in this order:\n%v\nwant input order", order)
	}
	if st := srv.Stats(); st.UserOverlaps != 0 {
		t.Errorf("%d writes to user_jane overlapped", st.UserOverlaps)
	}
	for _, id := range []string{"user_one", "user_two"} {
		if u, _ := srv.User(id); string(u.Public) != `{}` {
			t.Errorf("%s written through an address it shares: %s", id, u.Public)
		}
	}
}
