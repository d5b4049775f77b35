package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestLoadUsersIdentity(t *testing.T) {
	t.Parallel()
	in := `{"id":"user_1","external_id":"crm-1","email_addresses":["a@example.com","A2@example.com"],"public_metadata":{"z":1,"a":12345678901234567890}}
{"id":"user_2","external_id":null,"email_addresses":null,"private_metadata":null}
{"id":"user_3","email_addresses":[]}
`
	s := New(Config{})
	if n, err := s.LoadUsers(strings.NewReader(in)); err != nil || n != 3 {
		t.Fatalf("LoadUsers: %d, %v", n, err)
	}
	want := []User{
		{ID: "user_1", ExternalID: "crm-1", Emails: []string{"a@example.com", "A2@example.com"}, Public: json.RawMessage(`{"z":1,"a":12345678901234567890}`)},
		{ID: "user_2", Private: json.RawMessage(`null`)},
		{ID: "user_3"},
	}
	if got := s.Users(); !reflect.DeepEqual(got, want) {
		t.Errorf("Users()\n%+v\nwant\n%+v", got, want)
	}
	// A line for a user that exists replaces it whole.
	if _, err := s.LoadUsers(strings.NewReader(`{"id":"user_1","unsafe_metadata":{}}`)); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User("user_1"); !reflect.DeepEqual(u, User{ID: "user_1", Unsafe: json.RawMessage(`{}`)}) {
		t.Errorf("reloaded user_1 = %+v", u)
	}
}

func TestLoadUsersIdentityErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"id":"u1","external_id":1}`, "line 1: external_id is number, want a string or null"},
		{`{"id":"u1","email_addresses":"a@example.com"}`, "line 1: email_addresses is not an array of strings"},
		{`{"id":"u1","email_addresses":["a@example.com",2]}`, "line 1: email_addresses is not an array of strings"},
		{`{"id":"u1","email_addresses":["a@example.com",""]}`, "line 1: email_addresses[1] is empty"},
	}
	for _, tt := range tests {
		_, err := New(Config{}).LoadUsers(strings.NewReader(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("LoadUsers(%s) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

// TestAdminUsersUpsertAndDelete changes users behind a client's back over the admin
// endpoints, and reads the result through the API and the dump.
func TestAdminUsersUpsertAndDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Keys: []string{testKey}, InstanceLimit: 1, RecordRequests: true})
	f.s.SetFault(func(*http.Request) Fault { return FaultDrop }) // admin is out of band
	seed := `{"id":"user_1","external_id":"crm-1","email_addresses":["a@example.com"],"public_metadata":{"keep":1},"private_metadata":{"p":1}}
{"id":"user_2","public_metadata":{"b":2}}`
	noAuth := header("Authorization", "")
	if r := f.do(t, "POST", "/_emulator/users", seed, noAuth); r.status != 200 || string(r.body) != `{"upserted":2}`+"\n" {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	// Present fields replace, null clears, absent ones are kept; a new id creates a user.
	change := "\n" + `{"id":"user_1","private_metadata":{"p":2},"email_addresses":["b@example.com","a@example.com"]}` + "\n" +
		`{"id":"user_2","external_id":"crm-2","public_metadata":null}` + "\n" +
		`{"id":"user_3","email_addresses":["a@example.com"]}` + "\n" +
		`{"id":"user_1","external_id":null}` + "\n"
	if r := f.do(t, "POST", "/_emulator/users", change, noAuth); r.status != 200 || string(r.body) != `{"upserted":4}`+"\n" {
		t.Fatalf("upsert: %d %s", r.status, r.body)
	}
	r := f.do(t, "GET", "/_emulator/users", "", noAuth)
	want := `{"id":"user_1","email_addresses":["b@example.com","a@example.com"],"public_metadata":{"keep":1},"private_metadata":{"p":2}}
{"id":"user_2","external_id":"crm-2","public_metadata":null}
{"id":"user_3","email_addresses":["a@example.com"]}
`
	if string(r.body) != want {
		t.Errorf("dump\n%s\nwant\n%s", r.body, want)
	}
	// A bad line changes nothing, and says where it is.
	r = f.do(t, "POST", "/_emulator/users", `{"id":"user_2","public_metadata":{"x":1}}`+"\n"+`{"id":"user_9","nope":1}`, noAuth)
	if r.status != 400 || !strings.HasPrefix(string(r.body), `line 2: json: unknown field "nope"`) {
		t.Errorf("bad upsert: %d %s", r.status, r.body)
	}
	if u, _ := f.s.User("user_2"); string(u.Public) != "null" {
		t.Errorf("a refused upsert changed user_2: %+v", u)
	}

	if r := f.do(t, "DELETE", "/_emulator/users/user_3", "", noAuth); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	if r := f.do(t, "DELETE", "/_emulator/users/user_3", "", noAuth); r.status != 404 {
		t.Errorf("delete again: %d, want 404", r.status)
	}
	if r := f.do(t, "GET", "/_emulator/users/user_1", "", noAuth); r.status != 405 {
		t.Errorf("GET a user on the admin side: %d, want 405", r.status)
	}

	// The API sees the changes; none of the admin requests counted or used the limit.
	f.s.SetFault(nil)
	r = f.do(t, "GET", "/v1/users?email_address=A@example.com", "")
	if got := listIDs(t, r.body); fmt.Sprint(got) != "[user_1]" {
		t.Errorf("list by email after the changes: %v (status %d)", got, r.status)
	}
	if st := f.s.Stats(); st.Requests != 1 || len(f.s.Requests()) != 1 {
		t.Errorf("stats %+v: want only the one API request counted", st)
	}
	checkError(t, f.do(t, "GET", "/v1/users/user_3", ""), 429, "too_many_requests", "") // limit of 1
}

func TestSetAndDeleteUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RecordHistory: true})
	f.s.SetUser(User{ID: "user_1", ExternalID: "x", Emails: []string{"a@example.com"}, Public: json.RawMessage(`{"a":1}`)})
	f.s.AddUser("user_1", json.RawMessage(`{"b":2}`), nil, nil) // metadata only: identifiers kept
	if u, _ := f.s.User("user_1"); u.ExternalID != "x" || len(u.Emails) != 1 || string(u.Public) != `{"b":2}` {
		t.Errorf("after AddUser: %+v", u)
	}
	if r := f.do(t, "PUT", "/v1/users/user_1/metadata", `{"public_metadata":{"c":3}}`); r.status != 200 {
		t.Fatalf("PUT: %d", r.status)
	}
	if !f.s.DeleteUser("user_1") || f.s.DeleteUser("user_1") {
		t.Error("DeleteUser: want true, then false")
	}
	checkError(t, f.do(t, "GET", "/v1/users/user_1", ""), 404, "resource_not_found", "")
	checkError(t, f.do(t, "PUT", "/v1/users/user_1/metadata", `{}`), 404, "resource_not_found", "")
	if r := f.do(t, "GET", "/v1/users?external_id=x", ""); string(r.body) != "[]" {
		t.Errorf("a deleted user is still found by external id: %s", r.body)
	}
	if r := f.do(t, "GET", "/v1/users?email_address=a@example.com", ""); string(r.body) != "[]" {
		t.Errorf("a deleted user is still found by email: %s", r.body)
	}
	if h := f.s.History("user_1"); h != nil {
		t.Errorf("a deleted user has history %s", h)
	}
	// Created again, it is a new user: the newest.
	f.s.AddUser("user_0", nil, nil, nil)
	f.s.SetUser(User{ID: "user_1"})
	if r := f.do(t, "GET", "/v1/users", ""); fmt.Sprint(listIDs(t, r.body)) != "[user_1 user_0]" {
		t.Errorf("list: %s", r.body)
	}
}
