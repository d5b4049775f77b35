package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sdkjsDir holds the node script and its package.json, which pins @clerk/backend.
const sdkjsDir = "testdata/sdkjs"

// jsCall is one call of @clerk/backend's users API, as testdata/sdkjs/sdk.mjs takes it.
type jsCall struct {
	Call string `json:"call"`
	Args []any  `json:"args"`
}

type jsUser struct {
	ID             string          `json:"id"`
	ExternalID     *string         `json:"externalId"`
	Emails         []string        `json:"emails"`
	PrimaryEmail   *string         `json:"primaryEmail"`
	Verification   []string        `json:"verification"`
	PublicMetadata json.RawMessage `json:"publicMetadata"`
}

type jsOut struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Status       int      `json:"status"`
		Codes        []string `json:"codes"`
		ClerkTraceID string   `json:"clerkTraceId"`
		RetryAfter   *int     `json:"retryAfter"`
		Message      string   `json:"message"`
	} `json:"error"`
}

// runJS runs the calls through @clerk/backend with node against the fixture. It skips the
// test when node or the SDK is not installed.
func runJS(t *testing.T, f *fixture, calls []jsCall) []jsOut {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the @clerk/backend test needs Node.js 20.9 or later")
	}
	if _, err := os.Stat(filepath.Join(sdkjsDir, "node_modules", "@clerk", "backend", "package.json")); err != nil {
		t.Skip("@clerk/backend is not installed; install it with: npm ci --prefix clerkapi/emulator/testdata/sdkjs")
	}
	in, _ := json.Marshal(calls)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "sdk.mjs")
	cmd.Dir = sdkjsDir
	cmd.Env = append(os.Environ(), "CLERK_API_URL="+f.ts.URL, "CLERK_SECRET_KEY="+testKey)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node sdk.mjs: %v\n%s", err, stderr.Bytes())
	}
	var outs []jsOut
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o jsOut
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		outs = append(outs, o)
	}
	if len(outs) != len(calls) {
		t.Fatalf("%d results for %d calls:\n%s\n%s", len(outs), len(calls), out, stderr.Bytes())
	}
	return outs
}

func (o jsOut) result(t *testing.T, i int, v any) {
	t.Helper()
	if o.Error != nil {
		t.Fatalf("call %d failed: %+v", i, *o.Error)
	}
	if err := json.Unmarshal(o.Result, v); err != nil {
		t.Fatalf("call %d: %v: %s", i, err, o.Result)
	}
}

// TestJSSDK runs @clerk/backend's getUserList (which also sends GET /v1/users/count),
// getCount, getUser, replaceUserMetadata (PUT) and updateUserMetadata (PATCH) against the
// emulator.
func TestJSSDK(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Keys: []string{testKey}, RecordRequests: true, RecordHistory: true})
	seedDirectory(f.s)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("user_%d", i)
	}
	outs := runJS(t, f, []jsCall{
		{"getUserList", []any{map[string]any{"userId": []string{"user_1", "user_2", "user_3", "user_missing"}, "limit": 2}}},
		{"getUserList", []any{map[string]any{"emailAddress": []string{"SHARED@example.com"}, "externalId": []string{"-ext-2"}}}},
		{"getCount", []any{map[string]any{"externalId": []string{"ext-1", "ext-4"}}}},
		{"replaceUserMetadata", []any{"user_1", json.RawMessage(`{"publicMetadata":{"plan":"pro","nestedKey":{"innerCamel":1}},"privateMetadata":{}}`)}},
		{"updateUserMetadata", []any{"user_1", map[string]any{"publicMetadata": json.RawMessage(`{"plan":null,"extra":true}`)}}},
		{"getUser", []any{"user_2"}},
		{"getUser", []any{"user_missing"}},
		{"getUserList", []any{map[string]any{"userId": many}}},
	})

	var list struct {
		TotalCount int      `json:"totalCount"`
		Data       []jsUser `json:"data"`
	}
	outs[0].result(t, 0, &list)
	if list.TotalCount != 3 || len(list.Data) != 2 || list.Data[0].ID != "user_3" || list.Data[1].ID != "user_2" {
		t.Errorf("getUserList by id: %+v", list)
	}
	outs[1].result(t, 1, &list)
	if list.TotalCount != 1 || len(list.Data) != 1 || list.Data[0].ID != "user_3" {
		t.Errorf("getUserList by email, not ext-2: %+v", list)
	}
	var count int
	if outs[2].result(t, 2, &count); count != 2 {
		t.Errorf("getCount = %d, want 2", count)
	}
	var u jsUser
	outs[3].result(t, 3, &u)
	if u.ID != "user_1" || string(u.PublicMetadata) != `{"plan":"pro","nestedKey":{"innerCamel":1}}` {
		t.Errorf("replaceUserMetadata returned %+v", u)
	}
	outs[4].result(t, 4, &u)
	if string(u.PublicMetadata) != `{"nestedKey":{"innerCamel":1},"extra":true}` {
		t.Errorf("updateUserMetadata returned public %s", u.PublicMetadata)
	}
	outs[5].result(t, 5, &u)
	if u.ExternalID == nil || *u.ExternalID != "ext-2" || !slices.Equal(u.Emails, []string{"B@Example.com", "shared@example.com"}) ||
		u.PrimaryEmail == nil || *u.PrimaryEmail != "B@Example.com" || !slices.Equal(u.Verification, []string{"verified", "verified"}) {
		t.Errorf("getUser user_2: %+v", u)
	}
	if e := outs[6].Error; e == nil || e.Status != 404 || !slices.Equal(e.Codes, []string{"resource_not_found"}) || len(e.ClerkTraceID) != 32 {
		t.Errorf("getUser of an unknown user: %+v", outs[6])
	}
	if e := outs[7].Error; e == nil || e.Status != 422 || len(e.Codes) == 0 || e.Codes[0] != "form_param_value_invalid" {
		t.Errorf("getUserList of 101 ids: %+v", outs[7])
	}

	// What was stored is what the SDK sent, and the SDK sent what CLERK.md says.
	stored, _ := f.s.User("user_1")
	if string(stored.Public) != `{"nestedKey":{"innerCamel":1},"extra":true}` || string(stored.Private) != "{}" {
		t.Errorf("stored %+v", stored)
	}
	if h := f.s.History("user_1"); len(h) != 1 || string(h[0]) != `{"public_metadata":{"plan":"pro","nestedKey":{"innerCamel":1}},"private_metadata":{}}` {
		t.Errorf("PUT bodies: %s", h)
	}
	var lists, counts int
	for _, r := range f.s.Requests() {
		if r.Header.Get("Clerk-Api-Version") != "2026-05-12" || !strings.HasPrefix(r.Header.Get("User-Agent"), "@clerk/backend@3.25.0") {
			t.Errorf("%s %s: headers %v", r.Method, r.Path, r.Header)
		}
		if r.Method != "GET" {
			continue
		}
		q, _ := url.ParseQuery(r.RawQuery)
		switch {
		case r.Path == "/v1/users" && q.Get("limit") == "2":
			lists++
		case r.Path == "/v1/users/count" && len(q["user_id"]) == 4:
			counts++
			if q.Has("limit") {
				t.Errorf("getUserList sent its limit to count: %s", r.RawQuery)
			}
		}
	}
	if lists != 1 || counts != 1 {
		t.Errorf("the first getUserList sent %d lists and %d counts, want one of each", lists, counts)
	}
}

// TestJSSDKRateLimited checks that @clerk/backend reads a 429's Retry-After.
func TestJSSDKRateLimited(t *testing.T) {
	t.Parallel()
	clk := &clock{t: aligned(10 * time.Second)}
	f := newFixture(t, Config{Keys: []string{testKey}, InstanceLimit: 1, Now: clk.Now})
	f.s.AddUser("user_1", nil, nil, nil)
	outs := runJS(t, f, []jsCall{{"getUser", []any{"user_1"}}, {"getUser", []any{"user_1"}}})
	if e := outs[1].Error; e == nil || e.Status != 429 || e.RetryAfter == nil || *e.RetryAfter != 10 ||
		!slices.Equal(e.Codes, []string{"too_many_requests"}) {
		t.Errorf("second getUser: %+v", outs[1])
	}
}
