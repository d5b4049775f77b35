package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
)

// sdkClient is clerk-sdk-go v2.7.0's user client pointed at the fixture.
func sdkClient(f *fixture) *user.Client {
	base := f.ts.URL + "/v1"
	key := testKey
	return user.NewClient(&clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		HTTPClient: f.client, URL: &base, Key: &key,
	}})
}

// TestGoSDKList lists users through clerk-sdk-go, which sends GET /v1/users and then GET
// /v1/users/count with the same query, and decodes both.
func TestGoSDKList(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 5, 12, 10, 0, 0, 0, time.UTC)}
	f := newFixture(t, Config{Keys: []string{testKey}, RecordRequests: true, Now: clk.Now})
	seedDirectory(f.s)
	sdk := sdkClient(f)
	ctx := t.Context()

	list, err := sdk.List(ctx, &user.ListParams{
		UserIDs:    []string{"user_1", "user_2", "user_3", "user_missing"},
		ListParams: clerk.ListParams{Limit: clerk.Int64(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 3 || len(list.Users) != 2 || list.Users[0].ID != "user_3" || list.Users[1].ID != "user_2" {
		t.Fatalf("List = %d users %v, total %d; want user_3, user_2 of 3", len(list.Users), ids(list.Users), list.TotalCount)
	}
	u2 := list.Users[1]
	if u2.ExternalID == nil || *u2.ExternalID != "ext-2" || len(u2.EmailAddresses) != 2 ||
		u2.EmailAddresses[0].EmailAddress != "B@Example.com" || u2.PrimaryEmailAddressID == nil ||
		*u2.PrimaryEmailAddressID != u2.EmailAddresses[0].ID || u2.EmailAddresses[0].Verification == nil ||
		u2.EmailAddresses[0].Verification.Status != "verified" || u2.CreatedAt != clk.Now().UnixMilli() {
		t.Errorf("user_2 decoded as %+v", u2)
	}
	reqs := f.s.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/v1/users" || reqs[1].Path != "/v1/users/count" ||
		reqs[0].RawQuery != reqs[1].RawQuery || reqs[0].Status != 200 || reqs[1].Status != 200 {
		t.Fatalf("requests: %+v", reqs)
	}
	if q, _ := url.ParseQuery(reqs[0].RawQuery); q.Get("limit") != "2" || len(q["user_id"]) != 4 {
		t.Errorf("query %q", reqs[0].RawQuery)
	}
	if got := reqs[0].Header.Get("Clerk-Api-Version"); got != "2026-05-12" {
		t.Errorf("Clerk-API-Version %q", got)
	}

	list, err = sdk.List(ctx, &user.ListParams{
		EmailAddresses: []string{"SHARED@example.com"},
		ExternalIDs:    []string{"-ext-2"},
		OrderBy:        clerk.String("+created_at"),
	})
	if err != nil || list.TotalCount != 1 || len(list.Users) != 1 || list.Users[0].ID != "user_3" {
		t.Errorf("List by email, not ext-2: %v, %+v", err, list)
	}
	n, err := sdk.Count(ctx, &user.ListParams{EmailAddresses: []string{"shared@example.com"}})
	if err != nil || n.TotalCount != 2 || n.Object != "total_count" {
		t.Errorf("Count = %+v, %v", n, err)
	}
}

func ids(us []*clerk.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

// TestGoSDKWrites replaces and merges metadata through clerk-sdk-go and checks what was
// stored and what the SDK decoded.
func TestGoSDKWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Keys: []string{testKey}, RecordHistory: true})
	f.s.SetUser(User{ID: "user_1", ExternalID: "ext-1", Public: json.RawMessage(`{"old":1,"keep":{"x":1}}`)})
	sdk := sdkClient(f)
	ctx := t.Context()

	pub := json.RawMessage(`{"plan":"pro","n":12345678901234567890,"nestedKey":{"innerCamel":1}}`)
	got, err := sdk.ReplaceMetadata(ctx, "user_1", &user.ReplaceMetadataParams{
		PublicMetadata: &pub, PrivateMetadata: clerk.JSONRawMessage(json.RawMessage(`{}`)),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := f.s.User("user_1")
	if string(u.Public) != string(pub) || string(u.Private) != "{}" || u.Unsafe != nil {
		t.Errorf("stored %+v", u)
	}
	if string(got.PublicMetadata) != string(pub) || got.ExternalID == nil || *got.ExternalID != "ext-1" {
		t.Errorf("SDK decoded public %s, external id %v", got.PublicMetadata, got.ExternalID)
	}
	if h := f.s.History("user_1"); len(h) != 1 || !strings.Contains(string(h[0]), string(pub)) {
		t.Errorf("history %s", h)
	}

	got, err = sdk.UpdateMetadata(ctx, "user_1", &user.UpdateMetadataParams{
		PublicMetadata: clerk.JSONRawMessage(json.RawMessage(`{"plan":null,"nestedKey":{"more":2}}`)),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"n":12345678901234567890,"nestedKey":{"innerCamel":1,"more":2}}`
	if u, _ := f.s.User("user_1"); string(u.Public) != want || string(got.PublicMetadata) != want {
		t.Errorf("after merge: stored %s, decoded %s; want %s", u.Public, got.PublicMetadata, want)
	}

	// Errors come back as Clerk's, with the status and the trace id.
	_, err = sdk.ReplaceMetadata(ctx, "user_missing", &user.ReplaceMetadataParams{PublicMetadata: &pub})
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Errors[0].Code != "resource_not_found" || len(apiErr.TraceID) != 32 {
		t.Errorf("unknown user: %v", err)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("user_%d", i)
	}
	_, err = sdk.List(ctx, &user.ListParams{UserIDs: many})
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 422 || apiErr.Errors[0].Code != "form_param_value_invalid" {
		t.Errorf("101 ids: %v", err)
	}
}

// TestGoSDKRateLimited checks that clerk-sdk-go sees a 429 with its Retry-After.
func TestGoSDKRateLimited(t *testing.T) {
	t.Parallel()
	clk := &clock{t: aligned(10 * time.Second)}
	f := newFixture(t, Config{Keys: []string{testKey}, InstanceLimit: 1, Now: clk.Now})
	sdk := sdkClient(f)
	// List sends two requests; the second, the count, is refused.
	_, err := sdk.List(t.Context(), &user.ListParams{UserIDs: []string{"user_1"}})
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusTooManyRequests ||
		apiErr.Response == nil || apiErr.Response.Header.Get("Retry-After") != "10" {
		t.Errorf("List over the limit: %v", err)
	}
}
