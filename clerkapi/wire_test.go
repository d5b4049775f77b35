package clerkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/replace-metadata/replace-metadata/input"
)

// wireRows are rows whose bodies test every way encoding/json could
// rewrite a field: whitespace, characters it escapes, escapes it keeps.
var wireRows = []string{
	`{"user_id":"user_1","public_metadata":{"plan":"pro","nestedKey":{"innerCamel":1}}}`,
	`{"user_id":"user_1","public_metadata":null}`,
	`{"user_id":"user_1","private_metadata":{}}`,
	`{"user_id":"user_1","public_metadata":{"a":1},"private_metadata":{"b":[1,2]},"unsafe_metadata":{"c":"x"}}`,
	`{"unsafe_metadata":{"c":"x"},"user_id":"user_1","public_metadata":{"a":1}}`,
	`{"user_id":"user_1","public_metadata": { "z" : 9007199254740993 , "a" : [ 1.0e2 , -0.5E-3 ] } }`,
	`{"user_id":"user_1","public_metadata":{"html":"<b>&amp;</b>","s":"a b\tc"}}`,
	"{\"user_id\":\"user_1\",\"public_metadata\":{\"ls\":\"\u2028\u2029\",\"e\":\"\\u00e9\\ud83d\\ude00 😀\"}}",
	`{"user_id":"user_1","public_metadata":{"q":"\" \\ \/ \b\f\n\r\t","k\"ey":1}}`,
	"{\"user_id\":\"user_1\",\"private_metadata\":\t{\t\"a\":\t1 \r}}",
}

// TestSameWireAsSDK sends each row through the official Go SDK
// (user.Client.ReplaceMetadata on its default backend) and through the
// Client, to the same server, and compares what arrived: the same path,
// the same body bytes, the same headers but the User-Agent.
func TestSameWireAsSDK(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t, okUser)
	url := srv.URL + "/v1"
	key := testKey
	sdk := user.NewClient(&clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		HTTPClient: srv.Client(), URL: &url, Key: &key,
	}})
	ours := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey, UserAgent: "replace-metadata/test"})
	for _, line := range wireRows {
		id, m := rowOf(t, line)
		if _, err := sdk.ReplaceMetadata(context.Background(), id, &user.ReplaceMetadataParams{
			PublicMetadata: ptr(m[Public]), PrivateMetadata: ptr(m[Private]), UnsafeMetadata: ptr(m[Unsafe]),
		}); err != nil {
			t.Fatalf("SDK: %v", err)
		}
		if resp := ours.ReplaceMetadata(context.Background(), id, m); !resp.OK() {
			t.Fatalf("Client: %+v", resp)
		}
	}
	got := requests()
	for i := 0; i+1 < len(got); i += 2 {
		s, o := got[i], got[i+1]
		if s.method != o.method || s.path != o.path || s.body != o.body {
			t.Errorf("row %d:\n SDK    %s %s %s\n Client %s %s %s", i/2, s.method, s.path, s.body, o.method, o.path, o.body)
		}
		for _, h := range []string{"Authorization", "Content-Type", "Clerk-Api-Version", "X-Clerk-Sdk"} {
			if s.header.Get(h) != o.header.Get(h) || s.header.Get(h) == "" {
				t.Errorf("row %d: %s: SDK %q, Client %q", i/2, h, s.header.Get(h), o.header.Get(h))
			}
		}
		if !strings.HasPrefix(o.header.Get("User-Agent"), "replace-metadata/") || o.chunked {
			t.Errorf("row %d: User-Agent %q, chunked %v", i/2, o.header.Get("User-Agent"), o.chunked)
		}
	}
}

func ptr(b json.RawMessage) *json.RawMessage {
	if b == nil {
		return nil
	}
	return &b
}

// FuzzReplaceBody: for any valid row, the body is what encoding/json makes
// of the SDK's params, byte for byte.
func FuzzReplaceBody(f *testing.F) {
	for _, line := range wireRows {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		row, err := input.NewNDJSON(strings.NewReader(line), "f.ndjson").Next()
		if err != nil || row.Err != nil {
			return
		}
		want, err := json.Marshal(&user.ReplaceMetadataParams{
			PublicMetadata: ptr(row.Public), PrivateMetadata: ptr(row.Private), UnsafeMetadata: ptr(row.Unsafe),
		})
		if err != nil {
			t.Fatalf("json.Marshal of a valid row: %v", err)
		}
		if got := ReplaceBody(Metadata{row.Public, row.Private, row.Unsafe}); !bytes.Equal(got, want) {
			t.Fatalf("body\n got %s\nwant %s", got, want)
		}
	})
}

// TestPathSafe: a row whose id could change the path never leaves.
func TestPathSafe(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t, okUser)
	c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey})
	for _, id := range []string{"user_1/../x", "user_1?a=1", "..", "user_1%2F", ""} {
		resp := c.ReplaceMetadata(context.Background(), id, Metadata{Public: json.RawMessage("{}")})
		if resp.OK() || resp.Code != CodeInvalidUserID || resp.Verdict() != Permanent {
			t.Errorf("%q: %+v", id, resp)
		}
	}
	if n := len(requests()); n != 0 {
		t.Errorf("%d requests left with unsafe ids", n)
	}
}
