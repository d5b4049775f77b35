package emulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// clerkErrors is Clerk's error body, decoded strictly.
type clerkErrors struct {
	Errors []struct {
		Message     string            `json:"message"`
		LongMessage string            `json:"long_message"`
		Code        string            `json:"code"`
		Meta        map[string]string `json:"meta"`
	} `json:"errors"`
	ClerkTraceID string `json:"clerk_trace_id"`
}

// checkError checks that r is a Clerk error answer with the status, and that its first error
// has the code and, when param is set, meta.param_name.
func checkError(t *testing.T, r reply, status int, code, param string) clerkErrors {
	t.Helper()
	var e clerkErrors
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("status %d, body not Clerk's error shape: %v: %s", r.status, err, r.body)
	}
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if len(e.ClerkTraceID) != 32 || r.header.Get("Clerk-Trace-Id") != e.ClerkTraceID {
		t.Errorf("trace id %q in body, %q in header", e.ClerkTraceID, r.header.Get("Clerk-Trace-Id"))
	}
	if len(e.Errors) == 0 {
		t.Fatalf("no errors in %s", r.body)
	}
	for _, x := range e.Errors {
		if x.Message == "" || x.LongMessage == "" || x.Code == "" || x.Meta == nil {
			t.Errorf("incomplete error %+v in %s", x, r.body)
		}
	}
	if got := e.Errors[0]; got.Code != code || got.Meta["param_name"] != param {
		t.Errorf("code %q param %q, want %q %q: %s", got.Code, got.Meta["param_name"], code, param, r.body)
	}
	return e
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{MaxFieldBytes: 20, MaxBodyBytes: 100})
	f.s.AddUser("user_e", json.RawMessage(`{"keep":1}`), nil, nil)
	const put, path = "PUT", "/v1/users/user_e/metadata"
	tests := []struct {
		name, method, path, body string
		status                   int
		code, param, long        string
		count                    int // errors expected, when more than one
	}{
		{name: "not JSON", body: `{"public_metadata":`, status: 400, code: "request_body_invalid"},
		{name: "empty body", body: "", status: 400, code: "request_body_invalid"},
		{name: "array body", body: `[{"public_metadata":{}}]`, status: 400, code: "request_body_invalid"},
		{name: "null body", body: `null`, status: 400, code: "request_body_invalid"},
		{name: "unknown field", body: `{"public_metadata":{},"publicMetadata":{}}`, status: 422,
			code: "form_param_unknown", param: "publicMetadata", long: "publicMetadata is not a valid parameter for this request."},
		{name: "string value", body: `{"private_metadata":"x"}`, status: 422,
			code: "form_param_value_invalid", param: "private_metadata", long: "private_metadata is invalid. Received string, must be of type object."},
		{name: "array value", body: `{"unsafe_metadata":[]}`, status: 422, code: "form_param_value_invalid", param: "unsafe_metadata"},
		{name: "number value", body: `{"public_metadata":1}`, status: 422, code: "form_param_value_invalid", param: "public_metadata"},
		{name: "invalid UTF-8", body: "{\"public_metadata\":{\"a\":\"\xff\"}}", status: 422,
			code: "form_param_value_invalid", param: "public_metadata", long: "public_metadata contains invalid UTF-8 characters"},
		{name: "two errors", body: `{"x":1,"public_metadata":true}`, status: 422, code: "form_param_unknown", param: "x", count: 2},
		{name: "field too large", body: `{"public_metadata":{"a":"0123456789abcdef"}}`, status: 422,
			code: "form_param_exceeds_allowed_size", param: "public_metadata"},
		{name: "field at limit, spaces not counted", body: `{"public_metadata":{ "a" : "0123456789ab" }}`, status: 200},
		{name: "body too large", body: `{"public_metadata":{"a":"` + strings.Repeat("x", 100) + `"}}`, status: 413,
			code: "request_body_too_large", long: "The request body exceeds the maximum allowed size of 100 bytes."},
		{name: "unknown user", path: "/v1/users/user_missing/metadata", body: `{}`, status: 404,
			code: "resource_not_found", long: "No user was found with id user_missing"},
		{name: "escaped slash stays in the id", path: "/v1/users/user_e%2Fx/metadata", body: `{}`, status: 404,
			code: "resource_not_found", long: "No user was found with id user_e/x"},
		{name: "id of two segments", path: "/v1/users/user_e/x/metadata", body: `{}`, status: 404, code: "resource_not_found"},
		{name: "empty id", path: "/v1/users//metadata", body: `{}`, status: 404, code: "resource_not_found"},
		{name: "dot-dot id", path: "/v1/users/../metadata", body: `{}`, status: 404, code: "resource_not_found"},
		{name: "trailing slash", path: "/v1/users/user_e/metadata/", body: `{}`, status: 404, code: "resource_not_found"},
		{name: "no /v1", path: "/users/user_e/metadata", body: `{}`, status: 404, code: "resource_not_found"},
		{name: "DELETE metadata", method: "DELETE", status: 405, code: "method_not_allowed"},
		{name: "POST users", method: "POST", path: "/v1/users", body: `{}`, status: 405, code: "method_not_allowed"},
		{name: "PUT user", path: "/v1/users/user_e", body: `{}`, status: 405, code: "method_not_allowed"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				method, p := cmp.Or(tt.method, put), cmp.Or(tt.path, path)
				r := f.do(t, method, p, tt.body)
				if tt.status == 200 {
					if r.status != 200 {
						t.Fatalf("status %d, want 200: %s", r.status, r.body)
					}
					return
				}
				e := checkError(t, r, tt.status, tt.code, tt.param)
				if tt.long != "" && e.Errors[0].LongMessage != tt.long {
					t.Errorf("long_message %q, want %q", e.Errors[0].LongMessage, tt.long)
				}
				if tt.count > 0 && len(e.Errors) != tt.count {
					t.Errorf("%d errors, want %d: %s", len(e.Errors), tt.count, r.body)
				}
				if tt.status == 405 && r.header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			})
		}
	})
	if u, _ := f.s.User("user_e"); string(u.Public) != `{ "a" : "0123456789ab" }` {
		t.Errorf("user_e public = %s, want only the valid write applied", u.Public)
	}
	if st := f.s.Stats(); st.WritesApplied != 1 {
		t.Errorf("%d writes applied, want 1", st.WritesApplied)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	withKeys := newFixture(t, Config{Keys: []string{testKey, "opaque-key"}, ForbiddenKeys: []string{"sk_test_forbidden"}})
	anyKey := newFixture(t, Config{ForbiddenKeys: []string{"sk_live_forbidden"}})
	tests := []struct {
		name   string
		f      *fixture
		auth   string
		status int
		code   string
	}{
		{"configured key", withKeys, "Bearer " + testKey, 200, ""},
		{"configured key of any form", withKeys, "Bearer opaque-key", 200, ""},
		{"scheme is case-insensitive", withKeys, "bearer " + testKey, 200, ""},
		{"no header", withKeys, "", 401, "authorization_header_format_invalid"},
		{"not Bearer", withKeys, "Basic " + testKey, 401, "authorization_header_format_invalid"},
		{"bare key", withKeys, testKey, 401, "authorization_header_format_invalid"},
		{"Bearer alone", withKeys, "Bearer", 401, "authorization_header_format_invalid"},
		{"two tokens", withKeys, "Bearer a b", 401, "authorization_header_format_invalid"},
		{"unknown key", withKeys, "Bearer sk_test_other", 401, "clerk_key_invalid"},
		{"forbidden key", withKeys, "Bearer sk_test_forbidden", 403, "authorization_invalid"},
		{"any test key", anyKey, "Bearer sk_test_anything", 200, ""},
		{"any live key", anyKey, "Bearer sk_live_anything", 200, ""},
		{"publishable key", anyKey, "Bearer pk_test_anything", 401, "clerk_key_invalid"},
		{"prefix only", anyKey, "Bearer sk_test_", 401, "clerk_key_invalid"},
		{"forbidden any-key", anyKey, "Bearer sk_live_forbidden", 403, "authorization_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.f.do(t, "GET", "/v1/users?limit=1", "", header("Authorization", tt.auth))
			if tt.status == 200 {
				if r.status != 200 {
					t.Errorf("status %d, want 200: %s", r.status, r.body)
				}
				return
			}
			checkError(t, r, tt.status, tt.code, "")
		})
	}
}

func TestAPIVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	tests := []struct {
		name, header, query string
		status              int
	}{
		{"none", "", "", 200},
		{"2021-02-05", "2021-02-05", "", 200},
		{"2024-10-01", "2024-10-01", "", 200},
		{"2025-04-10", "2025-04-10", "", 200},
		{"2025-11-10", "2025-11-10", "", 200},
		{"2026-05-12", "2026-05-12", "", 200},
		{"no PUT in 2025-03-12", "2025-03-12", "", 400},
		{"garbage", "latest", "", 400},
		{"query", "", "2026-05-12", 200},
		{"bad query", "", "2020-01-01", 400},
		{"header and query", "2026-05-12", "2026-05-12", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := "/v1/users?limit=1"
			if tt.query != "" {
				path += "&__clerk_api_version=" + tt.query
			}
			r := f.do(t, "GET", path, "", header("Clerk-API-Version", tt.header))
			if tt.status == 200 {
				if r.status != 200 {
					t.Errorf("status %d, want 200: %s", r.status, r.body)
				}
				return
			}
			checkError(t, r, tt.status, "api_version_invalid", "")
		})
	}
	// An empty header is a header that is present.
	r := f.do(t, "GET", "/v1/users", "", func(r *http.Request) { r.Header["Clerk-Api-Version"] = []string{""} })
	checkError(t, r, 400, "api_version_invalid", "")
}

// TestMaxFieldBytesCountsObjectsOnly checks that a limit below 4 bytes still lets null through.
func TestMaxFieldBytesCountsObjectsOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{MaxFieldBytes: 2, AutoCreate: true})
	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"public_metadata":null}`, 200},
		{`{"public_metadata":{ }}`, 200},
		{`{"public_metadata":{"a":1}}`, 422},
	} {
		if r := f.do(t, "PUT", "/v1/users/user_1/metadata", tt.body); r.status != tt.status {
			t.Errorf("PUT %s: %d, want %d: %s", tt.body, r.status, tt.status, r.body)
		}
	}
}
