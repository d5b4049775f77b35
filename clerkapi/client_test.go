package clerkapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/input"
)

// captured is one request as it arrived on the wire.
type captured struct {
	method, path string
	query        string
	header       http.Header
	body         string
	chunked      bool
}

// recordingServer answers every request with answer and keeps what came.
func recordingServer(t *testing.T, answer http.HandlerFunc) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(b), len(r.TransferEncoding) > 0})
		mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

func okUser(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Clerk-Trace-Id", "trace_ok")
	io.WriteString(w, `{"id":"user_1","object":"user","public_metadata":{}}`)
}

const testKey = "sk_test_0123456789abcdefghij"

// rowOf reads one NDJSON input line: the id and fields a run would send.
func rowOf(t testing.TB, line string) (string, Metadata) {
	t.Helper()
	r, err := input.NewNDJSON(strings.NewReader(line), "t.ndjson").Next()
	if err != nil || r.Err != nil {
		t.Fatalf("row %s: %v %v", line, err, r.Err)
	}
	return r.UserID, Metadata{r.Public, r.Private, r.Unsafe}
}

// public is the id user_1 and a public_metadata of {}.
func public() (string, Metadata) { return "user_1", Metadata{Public: []byte("{}")} }

// TestWireFormat checks the bytes on the wire against what the official
// SDKs send for the same fields (CLERK.md), and the headers.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	srv, requests := recordingServer(t, okUser)
	c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey, UserAgent: "replace-metadata/v9.9.9 clerk-sdk-go/v2.7.0"})
	tests := []struct{ line, body string }{
		{`{"user_id":"user_1","public_metadata":{"plan":"pro","nestedKey":{"innerCamel":1}}}`,
			`{"public_metadata":{"plan":"pro","nestedKey":{"innerCamel":1}}}`},
		{`{"user_id":"user_1","public_metadata":null}`, `{"public_metadata":null}`},
		{`{"user_id":"user_1","private_metadata":{}}`, `{"private_metadata":{}}`},
		{`{"user_id":"user_1","public_metadata":{"a":1},"private_metadata":{"b":[1,2]},"unsafe_metadata":{"c":"x"}}`,
			`{"public_metadata":{"a":1},"private_metadata":{"b":[1,2]},"unsafe_metadata":{"c":"x"}}`},
		// Field order in the input does not change the body's order.
		{`{"unsafe_metadata":{"c":"x"},"user_id":"user_1","public_metadata":{"a":1}}`,
			`{"public_metadata":{"a":1},"unsafe_metadata":{"c":"x"}}`},
		// Whitespace goes, key order and big integers stay.
		{`{"user_id":"user_1","public_metadata": { "z" : 9007199254740993 , "a" : 1.0e2 } }`,
			`{"public_metadata":{"z":9007199254740993,"a":1.0e2}}`},
	}
	for _, tt := range tests {
		id, md := rowOf(t, tt.line)
		resp := c.ReplaceMetadata(context.Background(), id, md)
		if !resp.OK() {
			t.Fatalf("%s: %+v", tt.line, resp)
		}
	}
	got := requests()
	if len(got) != len(tests) {
		t.Fatalf("%d requests, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		g := got[i]
		if g.method != http.MethodPut || g.path != "/v1/users/user_1/metadata" {
			t.Errorf("request %d: %s %s", i, g.method, g.path)
		}
		if g.body != tt.body {
			t.Errorf("request %d body\n got %s\nwant %s", i, g.body, tt.body)
		}
		for k, want := range map[string]string{
			"Authorization":     "Bearer " + testKey,
			"Content-Type":      "application/json",
			"Clerk-Api-Version": "2026-05-12",
			"User-Agent":        "replace-metadata/v9.9.9 clerk-sdk-go/v2.7.0",
			"Content-Length":    "",
		} {
			if v := g.header.Get(k); (want != "" && v != want) || (want == "" && g.chunked) {
				t.Errorf("request %d %s = %q (chunked %v), want %q", i, k, v, g.chunked, want)
			}
		}
	}
}

func TestResponses(t *testing.T) {
	t.Parallel()
	redirectTarget, targetRequests := recordingServer(t, okUser)
	tests := []struct {
		name       string
		answer     http.HandlerFunc
		status     int
		code       string
		message    string
		retryAfter time.Duration
		ok         bool
	}{
		{"success", okUser, 200, "", "", 0, true},
		{"clerk 404", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Clerk-Trace-Id", "trace_404")
			w.WriteHeader(404)
			io.WriteString(w, `{"errors":[{"message":"not found","long_message":"No user was found with id user_1","code":"resource_not_found"}],"clerk_trace_id":"trace_404"}`)
		}, 404, "resource_not_found", "No user was found with id user_1", 0, false},
		{"clerk 429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			io.WriteString(w, `{"errors":[{"message":"Too many requests","long_message":"Too many requests, retry later","code":"too_many_requests"}]}`)
		}, 429, "too_many_requests", "Too many requests, retry later", 7 * time.Second, false},
		{"proxy 502 html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")
		}, 502, "http_502", "502 Bad Gateway", 0, false},
		{"bare text 429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
			io.WriteString(w, "Too Many Requests\n")
		}, 429, "http_429", "429 Too Many Requests", 3 * time.Second, false},
		{"text that starts with its status", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			io.WriteString(w, "503 Service Unavailable\n")
		}, 503, "http_503", "503 Service Unavailable", 0, false},
		{"text that starts with another number", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			io.WriteString(w, "5030 backends down")
		}, 503, "http_503", "503 5030 backends down", 0, false},
		{"empty 503 with a date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
		}, 503, "http_503", "503 Service Unavailable", 59 * time.Minute, false},
		{"errors null", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, `{"errors":null}`)
		}, 500, "http_500", `500 {"errors":null}`, 0, false},
		{"success with a broken body", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `<html>maintenance</html>`)
		}, 200, CodeInvalidResponse, "not a user", 0, false},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, redirectTarget.URL+"/v1/users/user_1/metadata", http.StatusTemporaryRedirect)
		}, 307, CodeRedirect, "redirects are not followed", 0, false},
		{"dropped", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, 0, CodeNetwork, "EOF", 0, false},
		{"key echoed back", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, "bad request from "+r.Header.Get("Authorization")+" and sk_live_other123456")
		}, 400, "http_400", "[REDACTED]", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := recordingServer(t, tt.answer)
			c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey, HTTP: NewHTTPClient(2)})
			id, md := public()
			resp := c.ReplaceMetadata(context.Background(), id, md)
			if resp.Status != tt.status || resp.Code != tt.code || resp.OK() != tt.ok {
				t.Errorf("got %d %q ok=%v (%s), want %d %q ok=%v", resp.Status, resp.Code, resp.OK(), resp.Message, tt.status, tt.code, tt.ok)
			}
			if !strings.Contains(resp.Message, tt.message) {
				t.Errorf("message %q does not contain %q", resp.Message, tt.message)
			}
			if strings.Contains(resp.Message, testKey) || strings.Contains(resp.Message, "sk_live_other") {
				t.Errorf("message leaks a key: %q", resp.Message)
			}
			if d := resp.RetryAfter - tt.retryAfter; d < -time.Minute || d > time.Minute || (tt.retryAfter == 0) != (resp.RetryAfter == 0) {
				t.Errorf("RetryAfter = %v, want %v", resp.RetryAfter, tt.retryAfter)
			}
		})
	}
	if n := len(targetRequests()); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached its target", n)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := NewClient(ClientOptions{BaseURL: srv.URL, Key: testKey})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	id, md := public()
	resp := c.ReplaceMetadata(ctx, id, md)
	if resp.Code != CodeTimeout || resp.Status != 0 || resp.Err == nil {
		t.Errorf("got %+v, want a timeout", resp)
	}
	if resp.Verdict() != Retryable {
		t.Error("a timeout is not retryable")
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]Verdict{
		200: Done, 204: Done, 400: Permanent, 401: KeyRefused, 403: KeyRefused, 404: Permanent,
		408: Retryable, 413: Permanent, 422: Permanent, 429: Retryable,
		500: Retryable, 501: Permanent, 502: Retryable, 503: Retryable, 504: Retryable,
	} {
		resp := Response{Status: status}
		if got := resp.Verdict(); got != want {
			t.Errorf("Verdict(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestCheckBaseURL(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://api.clerk.com":         true,
		"https://proxy.internal/clerk":  true,
		"http://127.0.0.1:8080":         true,
		"http://localhost:1234":         true,
		"http://[::1]:99":               true,
		"http://api.clerk.com":          false,
		"http://10.0.0.3":               false,
		"ftp://api.clerk.com":           false,
		"https://user:pw@api.clerk.com": false,
		"https://api.clerk.com?x=1":     false,
		"api.clerk.com":                 false,
	} {
		_, err := CheckBaseURL(raw, false)
		if (err == nil) != ok {
			t.Errorf("CheckBaseURL(%q) error %v, want ok=%v", raw, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the URL's password: %v", err)
		}
	}
	if _, err := CheckBaseURL("http://10.0.0.3", true); err != nil {
		t.Errorf("allowed insecure URL refused: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "2": 2 * time.Second, "1.5": 1500 * time.Millisecond, "junk": 0,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
