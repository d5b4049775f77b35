// Package clerkapi speaks Clerk's Backend API for the user metadata a
// replace-metadata run touches: PUT /v1/users/{user_id}/metadata, byte for
// byte as the official Go SDK sends it, though built with net/http rather
// than sent through the SDK. It reads every answer into a Response whose
// Verdict says what a caller should do next: done, retry, fail the row, or
// abort the run. It knows nothing of input rows or reports.
package clerkapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
)

// APIVersion is the Clerk API version whose docs define replace semantics;
// requests carry it as Clerk-API-Version, as the SDK's do.
const APIVersion = "2026-05-12"

// SDKVersion is the clerk-sdk-go release whose wire format the client
// speaks (and whose error type it reads Clerk's errors with).
const SDKVersion = "v2.7.0"

// Tool error codes for requests that got no Clerk error body.
const (
	CodeTimeout         = "timeout"
	CodeNetwork         = "network_error"
	CodeCanceled        = "canceled"
	CodeRedirect        = "unexpected_redirect"
	CodeInvalidResponse = "invalid_response"
)

// maxResponseBytes bounds what is read of one response.
const maxResponseBytes = 16 << 20

// Client sends metadata replacements to Clerk, byte for byte as the
// official Go SDK (clerk-sdk-go v2.7.0, user.Client.ReplaceMetadata) sends
// them: the same body for the same fields, the same headers but the
// User-Agent. TestSameWireAsSDK holds it to that, request by request.
//
// It does not go through the SDK's default backend, whose gaps cost
// correctness and half the tool's CPU: the status (and Retry-After) of an
// error body that is not Clerk's JSON is lost; a 3xx is taken for success;
// the body goes out chunked; each request runs a regexp over its URL twice,
// re-validates JSON the input already checked, and decodes a user the job
// never reads. The SDK's own error type, clerk.APIErrorResponse, still
// reads Clerk's error bodies.
type Client struct {
	http      *http.Client
	users     string // BaseURL/v1/users/
	auth      string // "Bearer <key>"
	key       string // only to scrub it from messages
	userAgent string
	requests  atomic.Int64
}

// ClientOptions configures a Client.
type ClientOptions struct {
	// BaseURL is Clerk's API origin, e.g. https://api.clerk.com; requests
	// go to BaseURL/v1/users/{id}/metadata.
	BaseURL string
	// Key is the secret key. It is sent in Authorization and scrubbed from
	// every message the client produces.
	Key string
	// UserAgent names the tool and its version.
	UserAgent string
	// HTTP is the client to send with; it must not follow redirects (see
	// NewHTTPClient). Nil means NewHTTPClient(16).
	HTTP *http.Client
}

// NewHTTPClient returns an HTTP client for Clerk: no redirects followed
// (they would carry the key elsewhere), no overall timeout (each request
// gets its own deadline from its context), connections kept for workers.
func NewHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(conns, 100)
	t.MaxIdleConnsPerHost = max(conns, 2)
	t.ResponseHeaderTimeout = 0
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// NewClient returns a Client for the options.
func NewClient(o ClientOptions) *Client {
	hc := o.HTTP
	if hc == nil {
		hc = NewHTTPClient(16)
	}
	return &Client{
		http:      hc,
		users:     strings.TrimRight(o.BaseURL, "/") + "/v1/users/",
		auth:      "Bearer " + o.Key,
		key:       o.Key,
		userAgent: o.UserAgent,
	}
}

// Requests returns how many requests the client has sent.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Response is what came of one request.
type Response struct {
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Code is Clerk's error code, or one of the tool's (Code*, http_NNN).
	Code    string
	Message string
	TraceID string
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Err is set when no usable response arrived (network, timeout).
	Err error
	// User is the user Clerk stored, on a metadata write that succeeded.
	User *User
}

// OK reports whether the write was applied.
func (r *Response) OK() bool {
	return r.Err == nil && r.Code == "" && r.Status >= 200 && r.Status < 300
}

// sdkHeader is the X-Clerk-SDK header clerk-sdk-go v2.7.0 sends (its
// internal version string).
const sdkHeader = "go/v2.0.0"

// ReplaceMetadata replaces the fields of m that are set (not nil), and
// only those, on user userID. An id that could change the request path is
// refused without a request (CodeInvalidUserID). On success the Response
// carries the user as Clerk stored it.
func (c *Client) ReplaceMetadata(ctx context.Context, userID string, m Metadata) Response {
	if !SafeUserID(userID) {
		return Response{Code: CodeInvalidUserID, Message: fmt.Sprintf("user id %q could change the request path: not sent", userID),
			Err: errUnsafeID}
	}
	var stored *User
	r := c.do(ctx, http.MethodPut, c.users+userID+"/metadata", ReplaceBody(m), "a user", func(b []byte) error {
		u, err := ParseUser(b)
		stored = &u
		return err
	})
	if r.OK() {
		r.User = stored
	}
	return r
}

// do makes one request and reads its answer into a Response; a success's
// body goes to ok, whose error (the body is not want) makes the answer invalid (a proxy's page
// with a 200, say: retrying is safe, every request here is idempotent).
func (c *Client) do(ctx context.Context, method, url string, body []byte, want string, ok func([]byte) error) Response {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return Response{Code: CodeNetwork, Message: c.clean(err.Error(), 300), Err: err}
	}
	req.Header = http.Header{
		"Authorization":     {c.auth},
		"User-Agent":        {c.userAgent},
		"Clerk-Api-Version": {APIVersion},
		"X-Clerk-Sdk":       {sdkHeader},
	}
	if body != nil {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.failure(ctx, err)
	}
	defer resp.Body.Close()
	r := Response{
		Status:     resp.StatusCode,
		TraceID:    c.clean(resp.Header.Get("Clerk-Trace-Id"), 200),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(buf)
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes))
	b := buf.Bytes() // read whole, so the connection is reused; valid until return
	if err != nil {
		// The answer was cut: whether a write happened is unknown, and
		// sending it again is safe.
		return c.failure(ctx, err)
	}
	switch {
	case r.Status >= 200 && r.Status < 300:
		if err := ok(b); err != nil {
			r.Code = CodeInvalidResponse
			r.Message = fmt.Sprintf("Clerk answered %d with a body that is not %s (%v)", r.Status, want, err)
		}
	case r.Status >= 300 && r.Status < 400:
		r.Code = CodeRedirect
		r.Message = fmt.Sprintf("Clerk answered %d %s; redirects are not followed", r.Status, http.StatusText(r.Status))
		if loc := resp.Header.Get("Location"); loc != "" {
			r.Message += " (Location: " + c.clean(loc, 200) + ")"
		}
	default:
		c.errorBody(&r, b)
	}
	return r
}

// errorBody reads an error answer: Clerk's JSON through the SDK's own
// error type, anything else (a proxy's page, a bare-text 429) as text
// that keeps the status.
func (c *Client) errorBody(r *Response, b []byte) {
	var apiErr clerk.APIErrorResponse
	if json.Unmarshal(b, &apiErr) == nil && len(apiErr.Errors) > 0 {
		e := apiErr.Errors[0]
		r.Code = c.clean(e.Code, 100)
		r.Message = c.clean(cmp.Or(e.LongMessage, e.Message), 500)
		if apiErr.TraceID != "" {
			r.TraceID = c.clean(apiErr.TraceID, 200)
		}
	}
	if r.Code == "" {
		r.Code = "http_" + strconv.Itoa(r.Status)
		if r.Message == "" {
			r.Message = c.clean(describeBody(string(b), r.Status), 300)
		}
	}
}

// failure is a request that got no usable answer.
func (c *Client) failure(ctx context.Context, err error) Response {
	r := Response{Err: err}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		r.Code = CodeTimeout
		r.Message = "no response before the request timeout"
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		r.Code = CodeCanceled
		r.Message = "request canceled"
	default:
		r.Code = CodeNetwork
		r.Message = c.clean(err.Error(), 300)
	}
	return r
}

// bodyPool holds the buffers answers are read into.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ReplaceBody returns the request body for the fields of m that are set:
// exactly what encoding/json makes of the SDK's ReplaceMetadataParams, so
// the same bytes the SDK sends. Each field's JSON goes in as written when
// json.Marshal would leave it alone (compact, nothing it escapes); else
// through json.Marshal itself.
func ReplaceBody(m Metadata) []byte {
	size := 2
	for f, raw := range m {
		size += len(bodyKeys[f]) + len(raw) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	first := true
	for f, raw := range m {
		if raw == nil {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, bodyKeys[f]...)
		buf = AppendCompact(buf, raw)
	}
	return append(buf, '}')
}

var bodyKeys = [NumFields]string{`"public_metadata":`, `"private_metadata":`, `"unsafe_metadata":`}

// AppendCompact appends the valid JSON value raw as json.Marshal of a
// json.RawMessage writes it: compact, with <, >, &, U+2028 and U+2029
// escaped. Those are the only changes; key order, number spellings and
// other escapes stay as written.
func AppendCompact(buf []byte, raw json.RawMessage) []byte {
	if marshalKeeps(raw) {
		return append(buf, raw...)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		b = raw // the input checked it; the server will judge
	}
	return append(buf, b...)
}

// marshalKeeps reports whether json.Marshal of a valid JSON value returns
// it unchanged: no whitespace outside strings, and none of what it escapes
// inside them (<, >, &, U+2028, U+2029).
func marshalKeeps(b []byte) bool {
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
			return false
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var (
	titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
	// bearerRE catches a key echoed back by a proxy, whatever the key.
	bearerRE = regexp.MustCompile(`(?i)(bearer\s+)?sk_(live|test)_[A-Za-z0-9_\-]+`)
)

// describeBody turns a non-Clerk error body into a short message: the
// status, then an HTML page's title or the text itself (the status once,
// when the page starts with it).
func describeBody(body string, status int) string {
	text := body
	if m := titleRE.FindStringSubmatch(body); m != nil {
		text = m[1]
	} else if strings.Contains(body, "<") {
		text = tagRE.ReplaceAllString(body, " ")
	}
	text = strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(text), " "))
	code := strconv.Itoa(status)
	if rest, ok := strings.CutPrefix(text, code); ok && (rest == "" || rest[0] == ' ') {
		return text // a proxy's page says its status itself: "503 Service Unavailable"
	}
	return code + " " + cmp.Or(text, http.StatusText(status))
}

// clean makes a message safe to log and report: the key and anything
// shaped like a key are gone, it is one line, and it is at most n bytes.
func (c *Client) clean(s string, n int) string {
	if len(s) <= n && plain(s) {
		return s // the common case: a trace id, a code
	}
	if c.key != "" {
		s = strings.ReplaceAll(s, c.key, "[REDACTED]")
	}
	s = bearerRE.ReplaceAllString(s, "[REDACTED]")
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}

// plain reports whether clean would leave s as it is: no whitespace to
// fold and nothing like "sk_" that could start a key, in any case.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f:
			return false
		case c|0x20 == 's' && i+2 < len(s) && s[i+1]|0x20 == 'k' && s[i+2] == '_':
			return false
		}
	}
	return true
}

// retryAfter reads a Retry-After value: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// CheckBaseURL accepts https URLs, and plain http only for loopback hosts
// unless allowInsecure: the key must not cross a network in clear text.
func CheckBaseURL(raw string, allowInsecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("API URL: %w", err)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("API URL %q has no host", raw)
	case u.User != nil:
		return nil, fmt.Errorf("API URL must not hold credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("API URL %q must not have a query or fragment", u.Redacted())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowInsecure && !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("API URL %q is plain http to a non-loopback host: the secret key would travel in clear text (set allow_insecure_http in the config to allow it)", u.Redacted())
		}
	default:
		return nil, fmt.Errorf("API URL %q: scheme must be https", u.Redacted())
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
