package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// seedDirectory adds users with external ids and email addresses, oldest first:
// u1 (ext-1, a@example.com), u2 (ext-2, B@Example.com and shared@example.com),
// u3 (no external id, shared@example.com), u4 (ext-4, no email).
func seedDirectory(s *Server) {
	s.SetUser(User{ID: "user_1", ExternalID: "ext-1", Emails: []string{"a@example.com"}, Public: json.RawMessage(`{"n":1}`)})
	s.SetUser(User{ID: "user_2", ExternalID: "ext-2", Emails: []string{"B@Example.com", "shared@example.com"}})
	s.SetUser(User{ID: "user_3", Emails: []string{"shared@example.com"}})
	s.SetUser(User{ID: "user_4", ExternalID: "ext-4"})
}

func listIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var users []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &users); err != nil {
		t.Fatalf("not an array of users: %v: %s", err, body)
	}
	out := []string{}
	for _, u := range users {
		out = append(out, u.ID)
	}
	return out
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	seedDirectory(f.s)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"user_4", "user_3", "user_2", "user_1"}},
		{"external_id=ext-2&external_id=ext-4&external_id=nope", []string{"user_4", "user_2"}},
		{"external_id=%2Bext-1", []string{"user_1"}},
		{"external_id=-ext-1", []string{"user_4", "user_3", "user_2"}}, // user_3 has none: not excluded
		{"external_id=ext-1&external_id=-ext-1", []string{}},
		{"email_address=shared@example.com", []string{"user_3", "user_2"}},
		{"email_address=b@EXAMPLE.com", []string{"user_2"}}, // case does not matter
		{"email_address=A@example.COM&email_address=nobody@example.com", []string{"user_1"}},
		// AND between filters, OR within one.
		{"email_address=shared@example.com&external_id=ext-2", []string{"user_2"}},
		{"email_address=shared@example.com&user_id=user_3&user_id=user_1", []string{"user_3"}},
		{"email_address=shared@example.com&user_id=-user_3", []string{"user_2"}},
		{"user_id=user_1&user_id=user_4&external_id=-ext-4", []string{"user_1"}},
		{"external_id=ext-1&email_address=shared@example.com", []string{}},
		{"user_id=-user_1&external_id=-ext-2&email_address=shared@example.com", []string{"user_3"}},
		// Order.
		{"order_by=-created_at", []string{"user_4", "user_3", "user_2", "user_1"}},
		{"order_by=%2Bcreated_at", []string{"user_1", "user_2", "user_3", "user_4"}},
		{"order_by=created_at&limit=2&offset=1", []string{"user_2", "user_3"}},
		{"order_by=created_at&order_by=-updated_at", []string{"user_1", "user_2", "user_3", "user_4"}}, // the first is kept
		{"offset=4", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, "GET", "/v1/users?"+tt.query, "")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := listIDs(t, r.body); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("list: got %v, want %v", got, tt.want)
			}
			r = f.do(t, "GET", "/v1/users/count?"+tt.query, "")
			if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("Clerk-Trace-Id") == "" {
				t.Fatalf("count: status %d, headers %v: %s", r.status, r.header, r.body)
			}
			// Count ignores paging: it is what the filters select.
			unpaged := f.do(t, "GET", "/v1/users?limit=500&"+stripPaging(tt.query), "")
			want := fmt.Sprintf(`{"object":"total_count","total_count":%d}`, len(listIDs(t, unpaged.body)))
			if string(r.body) != want {
				t.Errorf("count: got %s, want %s", r.body, want)
			}
		})
	}
}

func stripPaging(query string) string {
	q, _ := url.ParseQuery(query)
	q.Del("limit")
	q.Del("offset")
	q.Del("order_by")
	return q.Encode()
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	values := func(p string, n int) string {
		var q []string
		for i := range n {
			q = append(q, fmt.Sprintf("%s=v%d", p, i))
		}
		return strings.Join(q, "&")
	}
	tests := []struct {
		query, param string
		count        bool // also refused by /v1/users/count
	}{
		{values("user_id", 101), "user_id", true},
		{values("external_id", 101), "external_id", true},
		{values("email_address", 101), "email_address", true},
		{"order_by=-updated_at", "order_by", false},
		{"order_by=created", "order_by", false},
		{"limit=0", "limit", false},
		{"limit=501", "limit", false},
		{"offset=x", "offset", false},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 30)], func(t *testing.T) {
			t.Parallel()
			checkError(t, f.do(t, "GET", "/v1/users?"+tt.query, ""), 422, "form_param_value_invalid", tt.param)
			r := f.do(t, "GET", "/v1/users/count?"+tt.query, "")
			if tt.count {
				checkError(t, r, 422, "form_param_value_invalid", tt.param)
			} else if r.status != 200 {
				t.Errorf("count: status %d, want 200 (paging is ignored): %s", r.status, r.body)
			}
		})
	}
	// 100 values of each is the most, not too many.
	q := values("user_id", 100) + "&" + values("external_id", 100) + "&" + values("email_address", 100)
	if r := f.do(t, "GET", "/v1/users?"+q, ""); r.status != 200 {
		t.Errorf("100 values each: status %d: %s", r.status, r.body)
	}
	// Every problem is reported, in one answer.
	e := checkError(t, f.do(t, "GET", "/v1/users?limit=0&offset=-1&order_by=x", ""), 422, "form_param_value_invalid", "limit")
	if len(e.Errors) != 3 {
		t.Errorf("%d errors, want 3: %+v", len(e.Errors), e.Errors)
	}
	// /v1/users/count answers GET only; it is not a user named count.
	checkError(t, f.do(t, "PUT", "/v1/users/count", "{}"), 405, "method_not_allowed", "")
	f.s.AddUser("count", nil, nil, nil)
	if r := f.do(t, "GET", "/v1/users/count", ""); string(r.body) != `{"object":"total_count","total_count":1}` {
		t.Errorf("count with a user named count: %d %s", r.status, r.body)
	}
}

// TestListCountsAgainstInstanceLimit checks that reads, list and count alike, take from the
// instance limit.
func TestListCountsAgainstInstanceLimit(t *testing.T) {
	t.Parallel()
	clk := &clock{t: epoch}
	f := newFixture(t, Config{Now: clk.Now, InstanceLimit: 2})
	f.do(t, "GET", "/v1/users?user_id=user_1", "")
	f.do(t, "GET", "/v1/users/count?user_id=user_1", "")
	r := f.do(t, "GET", "/v1/users?user_id=user_1", "")
	checkError(t, r, 429, "too_many_requests", "")
	if got := r.header.Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After %q, want 10", got)
	}
}

func TestUserObjectIdentity(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 12, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: now}
	f := newFixture(t, Config{Now: clk.Now})
	f.s.SetUser(User{ID: "user_1", ExternalID: "crm-\"1\"", Emails: []string{"Ann@Example.com", "ann@work.example"}})
	r := f.do(t, "GET", "/v1/users/user_1", "")
	var u struct {
		ExternalID     *string `json:"external_id"`
		PrimaryEmailID *string `json:"primary_email_address_id"`
		EmailAddresses []struct {
			ID           string `json:"id"`
			Object       string `json:"object"`
			EmailAddress string `json:"email_address"`
			Reserved     bool   `json:"reserved"`
			Verification struct {
				Status   string          `json:"status"`
				Strategy string          `json:"strategy"`
				Attempts json.RawMessage `json:"attempts"`
				ExpireAt json.RawMessage `json:"expire_at"`
			} `json:"verification"`
			LinkedTo  []any `json:"linked_to"`
			CreatedAt int64 `json:"created_at"`
			UpdatedAt int64 `json:"updated_at"`
		} `json:"email_addresses"`
	}
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if u.ExternalID == nil || *u.ExternalID != `crm-"1"` {
		t.Errorf("external_id %v", u.ExternalID)
	}
	if len(u.EmailAddresses) != 2 {
		t.Fatalf("email_addresses: %s", r.body)
	}
	ids := map[string]bool{}
	for i, e := range u.EmailAddresses {
		v := e.Verification
		if len(e.ID) != 31 || !strings.HasPrefix(e.ID, "idn_") || e.Object != "email_address" || e.Reserved ||
			v.Status != "verified" || v.Strategy != "admin" || string(v.Attempts) != "null" || string(v.ExpireAt) != "null" ||
			e.LinkedTo == nil || len(e.LinkedTo) != 0 || e.CreatedAt != now.UnixMilli() || e.UpdatedAt != now.UnixMilli() {
			t.Errorf("email %d: %+v", i, e)
		}
		ids[e.ID] = true
	}
	if len(ids) != 2 || u.PrimaryEmailID == nil || *u.PrimaryEmailID != u.EmailAddresses[0].ID ||
		u.EmailAddresses[0].EmailAddress != "Ann@Example.com" {
		t.Errorf("primary %v, emails %+v: want the first, as given", u.PrimaryEmailID, u.EmailAddresses)
	}

	// An address a user keeps keeps its id and creation time; another user's same address
	// has another id.
	clk.Set(now.Add(time.Hour))
	f.s.SetUser(User{ID: "user_1", Emails: []string{"new@example.com", "Ann@Example.com"}})
	f.s.SetUser(User{ID: "user_2", Emails: []string{"Ann@Example.com"}})
	r = f.do(t, "GET", "/v1/users/user_1", "")
	var again struct {
		ExternalID     *string `json:"external_id"`
		PrimaryEmailID string  `json:"primary_email_address_id"`
		EmailAddresses []struct {
			ID        string `json:"id"`
			CreatedAt int64  `json:"created_at"`
		} `json:"email_addresses"`
		UpdatedAt int64 `json:"updated_at"`
	}
	json.Unmarshal(r.body, &again)
	if again.ExternalID != nil || len(again.EmailAddresses) != 2 || again.EmailAddresses[1].ID != u.EmailAddresses[0].ID ||
		again.EmailAddresses[1].CreatedAt != now.UnixMilli() || again.EmailAddresses[0].CreatedAt != now.Add(time.Hour).UnixMilli() ||
		again.PrimaryEmailID != again.EmailAddresses[0].ID || again.UpdatedAt != now.Add(time.Hour).UnixMilli() {
		t.Errorf("after SetUser: %s", r.body)
	}
	if r := f.do(t, "GET", "/v1/users/user_2", ""); bytes.Contains(r.body, []byte(u.EmailAddresses[0].ID)) {
		t.Errorf("two users share an email address id: %s", r.body)
	}
	// A user with none has nulls and an empty array.
	f.s.AddUser("user_none", nil, nil, nil)
	r = f.do(t, "GET", "/v1/users/user_none", "")
	if !bytes.Contains(r.body, []byte(`"external_id":null,"primary_email_address_id":null,`)) ||
		!bytes.Contains(r.body, []byte(`"email_addresses":[],`)) {
		t.Errorf("user without identifiers: %s", r.body)
	}
}

// TestListWhileUsersChange lists by external id and email while users are set, changed and
// deleted behind the client's back, for the race detector.
func TestListWhileUsersChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				id := fmt.Sprintf("user_%d", i%5)
				switch (i + w) % 3 {
				case 0:
					f.s.SetUser(User{ID: id, ExternalID: fmt.Sprintf("ext-%d", i%3), Emails: []string{"shared@example.com"}})
				case 1:
					f.s.UpsertUsers(strings.NewReader(fmt.Sprintf(`{"id":%q,"email_addresses":["x%d@example.com"]}`, id, i)))
				default:
					f.s.DeleteUser(id)
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				for _, q := range []string{"email_address=SHARED@example.com", "external_id=ext-1", "external_id=-ext-2&user_id=user_1"} {
					if r, err := f.send(t.Context(), "GET", "/v1/users?"+q, ""); err != nil || r.status != 200 {
						t.Errorf("GET %s: %v %d", q, err, r.status)
					}
				}
			}
		})
	}
	wg.Wait()
	// Whatever the interleaving, the index agrees with the users.
	for _, u := range f.s.Users() {
		for _, e := range u.Emails {
			r := f.do(t, "GET", "/v1/users?limit=500&email_address="+url.QueryEscape(e), "")
			if !slices.Contains(listIDs(t, r.body), u.ID) {
				t.Errorf("%s is not found by its address %s", u.ID, e)
			}
		}
	}
	if r := f.do(t, "GET", "/v1/users/count", ""); string(r.body) != fmt.Sprintf(`{"object":"total_count","total_count":%d}`, len(f.s.Users())) {
		t.Errorf("count %s, %d users", r.body, len(f.s.Users()))
	}
}
