package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "sk_test_emulator"

// fixture is an emulator served over real HTTP by httptest.
type fixture struct {
	s      *Server
	ts     *httptest.Server
	client *http.Client
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close() // first: it releases hanging handlers, which ts.Close waits for
		ts.Close()
	})
	client := ts.Client()
	client.Timeout = 10 * time.Second
	return &fixture{s: s, ts: ts, client: client}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the headers the official SDKs send; edit may change it.
func (f *fixture) do(t *testing.T, method, path, body string, edit ...func(*http.Request)) reply {
	t.Helper()
	r, err := f.send(context.Background(), method, path, body, edit...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (f *fixture) send(ctx context.Context, method, path, body string, edit ...func(*http.Request)) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.ts.URL+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Clerk-API-Version", "2026-05-12")
	for _, e := range edit {
		e(req)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{resp.StatusCode, resp.Header, b}, nil
}

func header(k, v string) func(*http.Request) {
	return func(r *http.Request) {
		if v == "" {
			r.Header.Del(k)
			return
		}
		r.Header.Set(k, v)
	}
}

// metadataOf decodes the three metadata fields of a User object as raw bytes.
func metadataOf(t *testing.T, body []byte) [3]string {
	t.Helper()
	var u map[string]json.RawMessage
	if err := json.Unmarshal(body, &u); err != nil {
		t.Fatalf("decode user: %v\n%s", err, body)
	}
	var out [3]string
	for k, name := range metadataFields {
		raw, ok := u[name]
		if !ok {
			t.Fatalf("user has no %s: %s", name, body)
		}
		out[k] = string(raw)
	}
	return out
}

func stored(u User) [3]string {
	return [3]string{string(u.Public), string(u.Private), string(u.Unsafe)}
}

func TestPutReplaceSemantics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	old := [3]string{`{"old":1,"nested":{"keep":true}}`, `{"p":1}`, `{"u":{"deep":[1,2]}}`}
	values := map[string]string{
		"absent": "",
		"null":   "null",
		"empty":  "{}",
		"nested": `{"nested":{"new":2}}`,
	}
	names := []string{"absent", "null", "empty", "nested"}
	for _, pub := range names {
		for _, priv := range names {
			for _, uns := range names {
				choice := [3]string{pub, priv, uns}
				name := strings.Join(choice[:], "/")
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					id := "user_" + strings.ReplaceAll(name, "/", "_")
					f.s.AddUser(id, json.RawMessage(old[0]), json.RawMessage(old[1]), json.RawMessage(old[2]))
					var parts []string
					want := old
					for k, c := range choice {
						if v := values[c]; v != "" {
							parts = append(parts, fmt.Sprintf("%q:%s", metadataFields[k], v))
							want[k] = v
						}
					}
					body := "{" + strings.Join(parts, ",") + "}"
					r := f.do(t, "PUT", "/v1/users/"+id+"/metadata", body)
					if r.status != 200 {
						t.Fatalf("PUT %s: status %d, want 200: %s", body, r.status, r.body)
					}
					if got := metadataOf(t, r.body); got != want {
						t.Errorf("PUT %s answered\n%q, want\n%q", body, got, want)
					}
					u, _ := f.s.User(id)
					if got := stored(u); got != want {
						t.Errorf("PUT %s stored\n%q, want\n%q", body, got, want)
					}
					r = f.do(t, "GET", "/v1/users/"+id, "")
					if got := metadataOf(t, r.body); got != want {
						t.Errorf("GET after PUT %s:\n%q, want\n%q", body, got, want)
					}
				})
			}
		}
	}
}

func TestPutKeepsRawBytes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	tests := []struct {
		name, body string
		want       [3]string // "" = never set
	}{
		{"key order", `{"public_metadata":{"z":1,"a":2,"m":{"y":1,"b":2}}}`,
			[3]string{`{"z":1,"a":2,"m":{"y":1,"b":2}}`}},
		{"big integers", `{"private_metadata":{"id":12345678901234567890,"n":9007199254740993,"f":1.0e+300,"neg":-0.0}}`,
			[3]string{"", `{"id":12345678901234567890,"n":9007199254740993,"f":1.0e+300,"neg":-0.0}`}},
		{"unicode escapes", `{"unsafe_metadata":{"e":"caf\u00e9","emoji":"\ud83d\ude00","raw":"é😀","html":"<a&b>"}}`,
			[3]string{"", "", `{"e":"caf\u00e9","emoji":"\ud83d\ude00","raw":"é😀","html":"<a&b>"}`}},
		{"whitespace inside kept", "{ \"public_metadata\" : {\n  \"a\" : [ 1 , 2 ]\n} }",
			[3]string{"{\n  \"a\" : [ 1 , 2 ]\n}"}},
		{"repeated key, last wins", `{"public_metadata":{"first":1},"public_metadata":{"second":2}}`,
			[3]string{`{"second":2}`}},
		{"escaped key", `{"public\u005fmetadata":{"k":"v"}}`,
			[3]string{`{"k":"v"}`}},
		{"strings with braces", `{"public_metadata":{"s":"}{\"]["},"private_metadata":null}`,
			[3]string{`{"s":"}{\"]["}`, "null"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("user_raw%d", i)
			f.s.AddUser(id, nil, nil, nil)
			r := f.do(t, "PUT", "/v1/users/"+id+"/metadata", tt.body)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			u, _ := f.s.User(id)
			if got := stored(u); got != tt.want {
				t.Errorf("stored %q, want %q", got, tt.want)
			}
			for k, w := range tt.want {
				if w != "" && !bytes.Contains(r.body, []byte(`"`+metadataFields[k]+`":`+w)) {
					t.Errorf("answer does not hold %s as sent: %s", metadataFields[k], r.body)
				}
			}
		})
	}
}

func TestUserObject(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 12, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, Config{Now: func() time.Time { return now }})
	f.s.AddUser("user_never", nil, nil, nil)
	r := f.do(t, "GET", "/v1/users/user_never", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || len(r.header.Get("Clerk-Trace-Id")) != 32 {
		t.Fatalf("status %d, headers %v", r.status, r.header)
	}
	if got, want := metadataOf(t, r.body), [3]string{"{}", "{}", "{}"}; got != want {
		t.Errorf("never-set metadata reads %q, want %q", got, want)
	}
	if u, _ := f.s.User("user_never"); u.Public != nil || u.Private != nil || u.Unsafe != nil {
		t.Errorf("User() of never-set fields = %+v, want nils", u)
	}
	var u map[string]any
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatal(err)
	}
	required := []string{"id", "object", "username", "first_name", "last_name", "has_image",
		"primary_email_address_id", "primary_phone_number_id", "primary_web3_wallet_id",
		"password_enabled", "two_factor_enabled", "totp_enabled", "backup_code_enabled",
		"email_addresses", "phone_numbers", "web3_wallets", "passkeys", "external_accounts",
		"saml_accounts", "enterprise_accounts", "public_metadata", "external_id", "last_sign_in_at",
		"banned", "locked", "lockout_expires_in_seconds", "verification_attempts_remaining",
		"created_at", "updated_at", "delete_self_enabled", "create_organization_enabled",
		"last_active_at", "mfa_enabled_at", "mfa_disabled_at", "legal_accepted_at"}
	for _, k := range required {
		if _, ok := u[k]; !ok {
			t.Errorf("User has no required field %q", k)
		}
	}
	if u["id"] != "user_never" || u["object"] != "user" || u["created_at"] != float64(now.UnixMilli()) {
		t.Errorf("id, object, created_at = %v, %v, %v", u["id"], u["object"], u["created_at"])
	}
}

func TestAutoCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{AutoCreate: true})
	if r := f.do(t, "PUT", "/v1/users/user_new/metadata", `{"public_metadata":1}`); r.status != 422 {
		t.Fatalf("invalid write: status %d, want 422", r.status)
	}
	if _, ok := f.s.User("user_new"); ok {
		t.Fatal("an invalid write created the user")
	}
	if r := f.do(t, "GET", "/v1/users/user_new", ""); r.status != 404 {
		t.Fatalf("GET unknown: status %d, want 404", r.status)
	}
	if r := f.do(t, "PUT", "/v1/users/user_new/metadata", `{"public_metadata":{"a":1}}`); r.status != 200 {
		t.Fatalf("PUT: status %d, want 200: %s", r.status, r.body)
	}
	u, ok := f.s.User("user_new")
	if !ok || string(u.Public) != `{"a":1}` || u.Private != nil {
		t.Errorf("User = %+v, %v", u, ok)
	}
	// A list by user_id creates the ids it includes, not those it excludes.
	r := f.do(t, "GET", "/v1/users?user_id=user_read&user_id=-user_not&user_id=user_not&limit=5", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"id":"user_read"`) || strings.Contains(string(r.body), "user_not") {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if _, ok := f.s.User("user_not"); ok {
		t.Error("an excluded id was created")
	}
	if u, ok := f.s.User("user_read"); !ok || u.Public != nil {
		t.Errorf("listed id: %+v, %v, want created with no metadata", u, ok)
	}
}

func TestPatchMerges(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RecordHistory: true})
	tests := []struct {
		name, old, patch, want string
	}{
		{"deep merge, null deletes", `{"a":1,"n":{"x":1,"y":2}}`, `{"n":{"y":null,"z":{"q":null,"r":1}},"b":2}`,
			`{"a":1,"n":{"x":1,"z":{"r":1}},"b":2}`},
		{"non-object replaces", `{"a":{"x":1}}`, `{"a":[1,2]}`, `{"a":[1,2]}`},
		{"into never set", "", `{"a":12345678901234567890}`, `{"a":12345678901234567890}`},
		{"into null", "null", `{"a":1}`, `{"a":1}`},
		{"field null unsets", `{"a":1}`, `null`, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("user_patch%d", i)
			var old json.RawMessage
			if tt.old != "" {
				old = json.RawMessage(tt.old)
			}
			f.s.AddUser(id, old, json.RawMessage(`{"keep":1}`), nil)
			r := f.do(t, "PATCH", "/v1/users/"+id+"/metadata", `{"public_metadata":`+tt.patch+`}`)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			u, _ := f.s.User(id)
			if string(u.Public) != tt.want || string(u.Private) != `{"keep":1}` {
				t.Errorf("stored public %s private %s, want %s and {\"keep\":1}", u.Public, u.Private, tt.want)
			}
			if h := f.s.History(id); len(h) != 0 {
				t.Errorf("History holds a PATCH: %s", h)
			}
		})
	}
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.s.AddUser("user_a", json.RawMessage(`{"x":1}`), json.RawMessage(`null`), nil)
	r := f.do(t, "GET", "/v1/users/user_a", "")
	if got, want := metadataOf(t, r.body), [3]string{`{"x":1}`, "null", "{}"}; r.status != 200 || got != want {
		t.Errorf("GET: status %d, metadata %q, want 200 %q", r.status, got, want)
	}
	r = f.do(t, "GET", "/v1/users/user_missing", "")
	checkError(t, r, 404, "resource_not_found", "")
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	for i := range 15 {
		f.s.AddUser(fmt.Sprintf("user_%02d", i), json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), nil, nil)
	}
	ids := func(n int, prefix string) string {
		var q []string
		for i := range n {
			q = append(q, fmt.Sprintf("user_id=%s%d", prefix, i))
		}
		return strings.Join(q, "&")
	}
	tests := []struct {
		query string
		want  []string // ids in answer order
	}{
		{"user_id=user_03&user_id=user_missing&user_id=user_01", []string{"user_03", "user_01"}},
		{"user_id=user_01&user_id=user_01", []string{"user_01"}},
		{"user_id=%2Buser_02&user_id=-user_02&user_id=user_04", []string{"user_04"}},
		{"user_id=user_03&user_id=user_01&user_id=user_02&limit=2", []string{"user_03", "user_02"}},
		{"user_id=user_03&user_id=user_01&user_id=user_02&limit=2&offset=2", []string{"user_01"}},
		{"", []string{"user_14", "user_13", "user_12", "user_11", "user_10", "user_09", "user_08", "user_07", "user_06", "user_05"}},
		{"user_id=-user_14&limit=2", []string{"user_13", "user_12"}},
		{"external_id=x", []string{}},
		{ids(100, "user_x"), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			r := f.do(t, "GET", "/v1/users?"+tt.query, "")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var users []struct {
				ID     string          `json:"id"`
				Public json.RawMessage `json:"public_metadata"`
			}
			if err := json.Unmarshal(r.body, &users); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			got := []string{}
			for _, u := range users {
				got = append(got, u.ID)
				i, _ := strconv.Atoi(u.ID[len("user_"):])
				if want := fmt.Sprintf(`{"i":%d}`, i); string(u.Public) != want {
					t.Errorf("%s public_metadata %s, want %s", u.ID, u.Public, want)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	bad := []struct{ query, param string }{
		{ids(101, "user_"), "user_id"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=ten", "limit"},
		{"offset=-1", "offset"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.param, func(t *testing.T) {
			t.Parallel()
			checkError(t, f.do(t, "GET", "/v1/users?"+tt.query, ""), 422, "form_param_value_invalid", tt.param)
		})
	}
}

func TestHistoryAndRequestLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RecordHistory: true, RecordRequests: true})
	f.s.AddUser("user_h", nil, nil, nil)
	bodies := []string{`{"public_metadata":{"n":1}}`, `{"private_metadata":{"n":2}}`, `{"public_metadata":null}`}
	for _, b := range bodies {
		// A body of unknown length goes out chunked, as clerk-sdk-go sends it.
		chunked := func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(b)); r.ContentLength = -1 }
		if r := f.do(t, "PUT", "/v1/users/user_h/metadata", b, chunked, header("User-Agent", "test/1")); r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	f.do(t, "PUT", "/v1/users/user_h/metadata", `{"nope":1}`) // not applied, so not in History
	f.do(t, "GET", "/v1/users/user%20x?x=1", "", header("Authorization", ""))

	h := f.s.History("user_h")
	if len(h) != len(bodies) {
		t.Fatalf("History has %d bodies, want %d: %s", len(h), len(bodies), h)
	}
	for i := range bodies {
		if string(h[i]) != bodies[i] {
			t.Errorf("History[%d] = %s, want %s", i, h[i], bodies[i])
		}
	}

	reqs := f.s.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests logged, want 5", len(reqs))
	}
	first := reqs[0]
	if first.Method != "PUT" || first.Path != "/v1/users/user_h/metadata" || first.UserID != "user_h" ||
		first.Status != 200 || !first.Applied || !first.Authorization || first.At.IsZero() {
		t.Errorf("first request logged as %+v", first)
	}
	if got := first.Header.Get("Transfer-Encoding"); got != "chunked" {
		t.Errorf("Transfer-Encoding logged as %q, want chunked", got)
	}
	if first.Header.Get("User-Agent") != "test/1" || first.Header.Get("Clerk-API-Version") != "2026-05-12" ||
		first.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers logged as %v", first.Header)
	}
	if r := reqs[3]; r.Status != 422 || r.Applied {
		t.Errorf("invalid write logged as %+v", r)
	}
	if r := reqs[4]; r.Path != "/v1/users/user%20x" || r.RawQuery != "x=1" || r.Authorization || r.Status != 401 || r.UserID != "user x" {
		t.Errorf("unauthenticated GET logged as %+v", r)
	}
	all, _ := json.Marshal(reqs)
	if bytes.Contains(all, []byte(testKey)) {
		t.Errorf("request log holds the secret key: %s", all)
	}

	f.s.Reset()
	if n := len(f.s.Requests()); n != 0 {
		t.Errorf("Reset left %d requests", n)
	}
	if st := f.s.Stats(); st.Requests != 0 || st.WritesApplied != 0 || len(st.ByStatus) != 0 {
		t.Errorf("Reset left stats %+v", st)
	}
	if len(f.s.History("user_h")) != len(bodies) {
		t.Error("Reset cleared History")
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Keys: []string{testKey}})
	f.s.SetFault(func(*http.Request) Fault { return FaultDrop }) // admin is out of band: never faulted
	f.s.AddUser("user_b", json.RawMessage("{\n  \"z\": 1,\n  \"big\": 12345678901234567890\n}"), json.RawMessage("null"), nil)
	f.s.AddUser("user_a", json.RawMessage(`{"html":"<&>","u":"\u00e9"}`), nil, json.RawMessage(`{}`))
	noAuth := header("Authorization", "")

	r := f.do(t, "GET", "/_emulator/users", "", noAuth)
	want := `{"id":"user_a","public_metadata":{"html":"<&>","u":"\u00e9"},"unsafe_metadata":{}}` + "\n" +
		`{"id":"user_b","public_metadata":{"z":1,"big":12345678901234567890},"private_metadata":null}` + "\n"
	if r.status != 200 || string(r.body) != want {
		t.Errorf("users: status %d\n%s\nwant\n%s", r.status, r.body, want)
	}
	// The dump seeds another emulator with the same users.
	s2 := New(Config{})
	if n, err := s2.LoadUsers(bytes.NewReader(r.body)); err != nil || n != 2 {
		t.Fatalf("LoadUsers: %d, %v", n, err)
	}
	if u, _ := s2.User("user_a"); string(u.Public) != `{"html":"<&>","u":"\u00e9"}` || u.Private != nil || string(u.Unsafe) != "{}" {
		t.Errorf("reloaded user_a = %+v", u)
	}

	f.s.SetFault(nil)
	f.do(t, "GET", "/v1/users/user_a", "")
	f.do(t, "GET", "/v1/users/user_a", "", noAuth)
	r = f.do(t, "GET", "/_emulator/stats", "", noAuth)
	var st Stats
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("stats: %v: %s", err, r.body)
	}
	if st.Requests != 2 || st.ByStatus[200] != 1 || st.Unauthorized != 1 || st.ByMethod["GET"] != 2 {
		t.Errorf("stats = %+v, want 2 requests: one 200, one 401", st)
	}
	if r := f.do(t, "GET", "/_emulator/reset", "", noAuth); r.status != 405 {
		t.Errorf("GET reset: status %d, want 405", r.status)
	}
	if r := f.do(t, "POST", "/_emulator/reset", "", noAuth); r.status != 204 {
		t.Errorf("POST reset: status %d, want 204", r.status)
	}
	if st := f.s.Stats(); st.Requests != 0 {
		t.Errorf("after reset: %d requests", st.Requests)
	}
	if r := f.do(t, "GET", "/_emulator/nope", "", noAuth); r.status != 404 {
		t.Errorf("unknown admin path: status %d, want 404", r.status)
	}
}

func TestLoadUsersErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"id":"u1"}` + "\n" + `{"id":"u2","public_metadata":[1]}`, "line 2: public_metadata is array, want an object or null"},
		{"\n" + `{"id":"u1","nope":1}`, `line 2: json: unknown field "nope"`},
		{`{"public_metadata":{}}`, "line 1: no id"},
		{`{"id":"u1"} {"id":"u2"}`, "line 1: more than one JSON value"},
		{`{"id":`, "line 1: unexpected EOF"},
	}
	for _, tt := range tests {
		_, err := New(Config{}).LoadUsers(strings.NewReader(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("LoadUsers(%q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

// TestConcurrentWrites hammers a few users from many goroutines, for the race detector and to
// check that every write is applied whole.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RecordHistory: true, RecordRequests: true})
	const users, workers, each = 4, 8, 25
	for u := range users {
		f.s.AddUser(fmt.Sprintf("user_%d", u), nil, nil, nil)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf(`{"public_metadata":{"w":%d,"i":%d}}`, w, i)
				r, err := f.send(context.Background(), "PUT", fmt.Sprintf("/v1/users/user_%d/metadata", i%users), body)
				if err != nil || r.status != 200 {
					t.Errorf("PUT %s: %d, %v", body, r.status, err)
				}
			}
		})
	}
	wg.Wait()
	st := f.s.Stats()
	if st.WritesApplied != workers*each || st.ByStatus[200] != workers*each || st.InFlight != 0 {
		t.Errorf("stats = %+v, want %d writes applied", st, workers*each)
	}
	total := 0
	for u := range users {
		id := fmt.Sprintf("user_%d", u)
		h := f.s.History(id)
		total += len(h)
		got, _ := f.s.User(id)
		if last := h[len(h)-1]; !bytes.Contains(last, got.Public) {
			t.Errorf("%s stored %s, but the last body applied was %s", id, got.Public, last)
		}
	}
	if total != workers*each || len(f.s.Requests()) != workers*each {
		t.Errorf("history holds %d bodies, log %d requests, want %d", total, len(f.s.Requests()), workers*each)
	}
}

func TestAdminRequestsAndHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RecordRequests: true, RecordHistory: true})
	f.s.AddUser("user_1", nil, nil, nil)
	big := `{"public_metadata":{"pad":"` + strings.Repeat("x", 10000) + `"}}` // larger than a pooled buffer
	f.do(t, "PUT", "/v1/users/user_1/metadata", big)
	f.do(t, "PUT", "/v1/users/user_1/metadata", "{\n\"private_metadata\": {}\n}")
	noAuth := header("Authorization", "")

	r := f.do(t, "GET", "/_emulator/history?user_id=user_1", "", noAuth)
	var h []json.RawMessage
	if err := json.Unmarshal(r.body, &h); err != nil || len(h) != 2 || string(h[0]) != big || string(h[1]) != `{"private_metadata":{}}` {
		t.Errorf("history: %v, %d bodies", err, len(h))
	}
	r = f.do(t, "GET", "/_emulator/requests", "", noAuth)
	lines := bytes.Split(bytes.TrimSpace(r.body), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d request lines, want 2: %s", len(lines), r.body)
	}
	var req Request
	if err := json.Unmarshal(lines[0], &req); err != nil || req.Status != 200 || !req.Applied || req.Fault != FaultNone {
		t.Errorf("first request %+v, %v", req, err)
	}
}
