package clerkapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// TestListUsersWire: the read is GET /v1/users with one parameter per
// value, limit set to their number and nothing else, the write's headers,
// and the users' metadata read back as the exact bytes of the answer.
func TestListUsersWire(t *testing.T) {
	t.Parallel()
	body := `[{"id":"user_b","object":"user","external_id":"ext 1","email_addresses":[{"id":"idn_1","email_address":"B@Example.com"}],` +
		`"public_metadata":{"z":9007199254740993,"a":[1.0e2]},"private_metadata":null,"unsafe_metadata":{}},` +
		` {"id":"user_a","external_id":null,"public_metadata":{"k\"q":"\u00e9"},"private_metadata":{},"unsafe_metadata":{"x":{}}}]`
	srv, requests := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey, UserAgent: "replace-metadata/test"})
	users, resp := c.ListUsers(context.Background(), ByUserID, []string{"user_a", "user_b", "user_c"})
	if !resp.OK() || len(users) != 2 {
		t.Fatalf("ListUsers: %+v, %d users", resp, len(users))
	}
	got := requests()[0]
	if got.method != "GET" || got.path != "/v1/users" || got.body != "" {
		t.Errorf("request %s %s body %q", got.method, got.path, got.body)
	}
	if q := got.query; q != "user_id=user_a&user_id=user_b&user_id=user_c&limit=3" {
		t.Errorf("query %q", q)
	}
	for k, want := range map[string]string{"Authorization": "Bearer " + testKey, "Clerk-Api-Version": APIVersion,
		"User-Agent": "replace-metadata/test", "Content-Type": ""} {
		if v := got.header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	b, a := users[0], users[1]
	if b.ID != "user_b" || b.ExternalID != "ext 1" || fmt.Sprint(b.Emails) != "[B@Example.com]" ||
		string(b.Metadata[Public]) != `{"z":9007199254740993,"a":[1.0e2]}` || string(b.Metadata[Private]) != "null" || string(b.Metadata[Unsafe]) != "{}" {
		t.Errorf("user_b read as %+v", b)
	}
	if a.ID != "user_a" || a.ExternalID != "" || a.Emails != nil || string(a.Metadata[Public]) != `{"k\"q":"\u00e9"}` {
		t.Errorf("user_a read as %+v", a)
	}
}

// TestListUsersEscapes: external ids and emails are query-escaped, so a +
// in an address is not read as a space (or an include prefix).
func TestListUsersEscapes(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") })
	c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey})
	if _, resp := c.ListUsers(context.Background(), ByEmail, []string{"a+tag@example.com", "b&c=d@example.com"}); !resp.OK() {
		t.Fatal(resp)
	}
	if q := requests()[0].query; q != "email_address=a%2Btag%40example.com&email_address=b%26c%3Dd%40example.com&limit=2" {
		t.Errorf("query %q", q)
	}
}

func TestListUsersAnswers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not an array", `{"data":[]}`, 200, CodeInvalidResponse},
		{"a proxy page", `<html>ok</html>`, 200, CodeInvalidResponse},
		{"a user without id", `[{"public_metadata":{}}]`, 200, CodeInvalidResponse},
		{"clerk 422", `{"errors":[{"message":"is invalid","long_message":"limit must be an integer between 1 and 500.","code":"form_param_value_invalid"}]}`, 422, "form_param_value_invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey})
			_, resp := c.ListUsers(context.Background(), ByUserID, []string{"user_a"})
			if resp.OK() || resp.Code != tt.code || resp.Status != tt.status {
				t.Errorf("got %+v, want %d %s", resp, tt.status, tt.code)
			}
		})
	}
	c := NewClient(ClientOptions{BaseURL: "http://127.0.0.1:1", Key: testKey})
	if _, resp := c.ListUsers(context.Background(), ByUserID, make([]string, MaxListValues+1)); resp.Code != CodeInvalidRequest || c.Requests() != 0 {
		t.Errorf("101 values: %+v after %d requests", resp, c.Requests())
	}
}

// TestWriteAnswerCarriesUser: a write's success holds the user as stored.
func TestWriteAnswerCarriesUser(t *testing.T) {
	t.Parallel()
	srv, _ := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"user_1","object":"user","public_metadata":{"b":1,"a":2},"private_metadata":{}}`)
	})
	c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey})
	resp := c.ReplaceMetadata(context.Background(), "user_1", Metadata{Public: []byte(`{"b":1,"a":2}`)})
	if !resp.OK() || resp.User == nil || string(resp.User.Metadata[Public]) != `{"b":1,"a":2}` || string(resp.User.Metadata[Unsafe]) != "{}" {
		t.Errorf("got %+v %+v", resp, resp.User)
	}
}
