package job

import (
	"bytes"
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
	"sync/atomic"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/replace-metadata/replace-metadata/input"
)

// APIVersion is the Clerk API version whose docs define replace semantics;
// the SDK sends it as Clerk-API-Version.
const APIVersion = "2026-05-12"

// SDKVersion is the clerk-sdk-go release the client is built on.
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

// Client sends metadata replacements to Clerk through the official Go SDK
// (user.Client.ReplaceMetadata), so the wire format is the SDK's own. It
// closes the SDK's gaps around it rather than inside it: the status and
// Retry-After of an error whose body is not Clerk's JSON, the redirect that
// must not be followed with the key, and the chunked body.
type Client struct {
	users    *user.Client
	key      string // only to scrub it from messages
	requests atomic.Int64
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
	// HTTP is the client to send with; its Transport is wrapped, and it
	// must not follow redirects. Nil means NewHTTPClient(16).
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
	wrapped := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	wrapped.Transport = &transport{base: base, userAgent: o.UserAgent}
	apiURL := strings.TrimRight(o.BaseURL, "/") + "/v1"
	key := o.Key
	cfg := &clerk.ClientConfig{}
	cfg.HTTPClient = &wrapped
	cfg.URL = &apiURL
	cfg.Key = &key
	return &Client{users: user.NewClient(cfg), key: key}
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
}

// OK reports whether the write was applied.
func (r *Response) OK() bool {
	return r.Err == nil && r.Code == "" && r.Status >= 200 && r.Status < 300
}

// ReplaceMetadata replaces the metadata fields the row sets, and only
// those, on the row's user. The row must be valid: its user id is checked,
// so it cannot change the request path.
func (c *Client) ReplaceMetadata(ctx context.Context, row *input.Row) Response {
	p := &probe{}
	ctx = context.WithValue(ctx, probeKey{}, p)
	c.requests.Add(1)
	_, err := c.users.ReplaceMetadata(ctx, row.UserID, &user.ReplaceMetadataParams{
		PublicMetadata:  present(row.Public),
		PrivateMetadata: present(row.Private),
		UnsafeMetadata:  present(row.Unsafe),
	})
	return c.response(ctx, err, p)
}

// present keeps absent apart from null: a nil pointer is left out of the
// body, while a pointer to a nil RawMessage would be sent as null.
func present(b json.RawMessage) *json.RawMessage {
	if b == nil {
		return nil
	}
	return &b
}

func (c *Client) response(ctx context.Context, err error, p *probe) Response {
	r := Response{Status: p.status}
	if p.header != nil {
		// The trace id and the code go to reports, which no writer
		// scrubs: a proxy or server that echoes the request must not
		// put the key there.
		r.TraceID = c.clean(p.header.Get("Clerk-Trace-Id"), 200)
		r.RetryAfter = retryAfter(p.header.Get("Retry-After"), time.Now())
	}
	var apiErr *clerk.APIErrorResponse
	switch {
	case err == nil && r.Status >= 200 && r.Status < 300:
		return r
	case err == nil: // a 3xx the SDK took for success
		r.Code = CodeRedirect
		r.Message = fmt.Sprintf("Clerk answered %d %s; redirects are not followed", r.Status, http.StatusText(r.Status))
		if loc := p.header.Get("Location"); loc != "" {
			r.Message += " (Location: " + c.clean(loc, 200) + ")"
		}
	case errors.As(err, &apiErr):
		r.Status = apiErr.HTTPStatusCode
		if apiErr.TraceID != "" {
			r.TraceID = c.clean(apiErr.TraceID, 200)
		}
		if len(apiErr.Errors) > 0 {
			e := apiErr.Errors[0]
			r.Code = c.clean(e.Code, 100)
			r.Message = c.clean(firstNonEmpty(e.LongMessage, e.Message), 500)
		}
		if r.Code == "" {
			r.Code = "http_" + strconv.Itoa(r.Status)
		}
	case p.transportErr != nil || r.Status == 0 || p.bodyErr != nil:
		r.Status = 0
		r.Err = err
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
	case r.Status >= 200 && r.Status < 300:
		// The SDK could not read a success body as a user. The write may
		// well have been applied; a retry is safe.
		r.Code = CodeInvalidResponse
		r.Message = fmt.Sprintf("Clerk answered %d with a body that is not a user", r.Status)
	default:
		// An error body that is not Clerk's JSON: a proxy's page, a bare
		// text 429. The SDK returns the body as the error's text and loses
		// the status; the probe kept it.
		r.Code = "http_" + strconv.Itoa(r.Status)
		r.Message = c.clean(describeBody(err.Error(), r.Status), 300)
	}
	return r
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
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

// describeBody turns a non-Clerk error body into a short message: an HTML
// page's title, or the text itself.
func describeBody(body string, status int) string {
	text := body
	if m := titleRE.FindStringSubmatch(body); m != nil {
		text = m[1]
	} else if strings.Contains(body, "<") {
		text = tagRE.ReplaceAllString(body, " ")
	}
	text = strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(text), " "))
	if text == "" {
		text = http.StatusText(status)
	}
	return fmt.Sprintf("%d %s", status, text)
}

// clean makes a message safe to log and report: the key and anything
// shaped like a key are gone, it is one line, and it is at most n bytes.
func (c *Client) clean(s string, n int) string {
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

// probe is where the transport leaves what the SDK does not pass on.
type probe struct {
	status       int
	header       http.Header
	transportErr error
	bodyErr      error
}

type probeKey struct{}

// transport sits under the SDK: it names the tool in User-Agent, sends the
// body with a Content-Length instead of chunked, bounds the response, and
// notes status and headers in the request's probe.
type transport struct {
	base      http.RoundTripper
	userAgent string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := *req
	out.Header = req.Header.Clone()
	if t.userAgent != "" {
		out.Header.Set("User-Agent", t.userAgent)
	}
	if req.Body != nil && req.ContentLength == 0 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		out.Body = io.NopCloser(bytes.NewReader(b))
		out.ContentLength = int64(len(b))
	}
	resp, err := t.base.RoundTrip(&out)
	p, _ := req.Context().Value(probeKey{}).(*probe)
	if err != nil {
		if p != nil {
			p.transportErr = err
		}
		return nil, err
	}
	if p != nil {
		p.status = resp.StatusCode
		p.header = resp.Header
		resp.Body = &limitedBody{rc: resp.Body, n: maxResponseBytes, p: p}
	}
	return resp, nil
}

// limitedBody bounds a response body and notes a failure to read it, which
// is a network error, not a bad body.
type limitedBody struct {
	rc io.ReadCloser
	n  int64
	p  *probe
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.rc.Read(p)
	b.n -= int64(n)
	if err != nil && err != io.EOF {
		b.p.bodyErr = err
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

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
