package emulator

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// call is one request on its way through the emulator, and how it was answered.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	seq    uint64
	route  route
	logIdx int
	logGen uint64

	flightID string // the user whose writes in flight this request counts towards

	bufp     *[]byte // pooled buffer holding body
	body     []byte
	tooLarge bool
	bodyErr  error

	start time.Time // arrival, by the real clock, which FaultApplyLate's delay runs on
	mod   Fault     // a fault that changes how the request is handled (Fault.modifies)
	ended bool

	status  int
	fault   Fault
	applied bool
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled keeps the odd huge body from pinning its buffer in the pool.
const maxPooled = 64 << 10

// readBody reads the body into a pooled buffer, stopping once it is over max.
func (c *call) readBody(max int64) {
	if c.r.ContentLength > max {
		c.tooLarge = true
		return
	}
	c.bufp = bufPool.Get().(*[]byte)
	b := (*c.bufp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):min(int64(cap(b)), max+1)]
		n, err := c.r.Body.Read(room)
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			c.tooLarge = true
			break
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			c.bodyErr = err
			break
		}
	}
	*c.bufp = b
	c.body = b
}

func (c *call) releaseBody() {
	if c.bufp != nil && cap(*c.bufp) <= maxPooled {
		bufPool.Put(c.bufp)
	}
	c.bufp, c.body = nil, nil
}

// wait waits d, and reports false, after aborting the connection, if the client went away or
// the server closed first.
func (c *call) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	select {
	case <-t.C:
		return true
	case <-c.r.Context().Done():
	case <-c.s.done:
	}
	t.Stop()
	c.abort()
	return false
}

// abort closes the connection without an answer; returning from the handler instead would
// send an empty 200. Like every answer, the request is counted first (see end).
func (c *call) abort() {
	c.status = 0
	c.s.end(c)
	if hj, ok := c.w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// inject answers with fault f in place of the real answer.
func (s *Server) inject(c *call, f Fault) {
	c.fault = f
	s.st.faults[f].Add(1)
	switch f {
	case Fault500:
		c.fail(http.StatusInternalServerError, errInternal)
	case Fault502HTML:
		c.writeText(http.StatusBadGateway, ctHTML, page502, false)
	case Fault503:
		c.writeText(http.StatusServiceUnavailable, ctText, "503 Service Unavailable\n", true)
	case Fault429:
		c.w.Header()["Retry-After"] = retryOne
		c.fail(http.StatusTooManyRequests, errTooMany)
	case Fault429Text:
		c.writeText(http.StatusTooManyRequests, ctText, "Too Many Requests\n", true)
	case FaultDrop:
		c.abort()
	case FaultHang:
		s.hang(c)
	}
}

// hang answers nothing until the client gives up or the server closes.
func (s *Server) hang(c *call) {
	select {
	case <-c.r.Context().Done():
	case <-s.done:
	}
	c.abort()
}

const page502 = `<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>cloudflare</center>
</body>
</html>
`

var (
	ctJSON   = []string{"application/json"}
	ctHTML   = []string{"text/html; charset=utf-8"}
	ctText   = []string{"text/plain; charset=utf-8"}
	ctNDJSON = []string{"application/x-ndjson"}
	retryOne = []string{"1"}
	nosniff  = []string{"nosniff"}
)

// writeText answers as a proxy in front of Clerk would: no Clerk JSON, no Clerk-Trace-Id.
func (c *call) writeText(status int, ct []string, body string, retry bool) {
	h := c.w.Header()
	h["Content-Type"] = ct
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if retry {
		h["Retry-After"] = retryOne
	}
	c.status = status
	c.s.end(c)
	c.w.WriteHeader(status)
	io.WriteString(c.w, body)
}

// writeJSON answers with body and a Clerk-Trace-Id header; trace is the id the body carries, if any.
func (c *call) writeJSON(status int, body []byte, trace string) {
	if trace == "" {
		trace = c.traceID()
	}
	h := c.w.Header()
	vals := make([]string, 2)
	vals[0], vals[1] = trace, strconv.Itoa(len(body))
	h["Content-Type"] = ctJSON
	h["Clerk-Trace-Id"] = vals[0:1:1]
	h["Content-Length"] = vals[1:2:2]
	h["X-Content-Type-Options"] = nosniff
	c.status = status
	c.s.end(c)
	c.w.WriteHeader(status)
	c.w.Write(body)
}

// traceID is a 32-hex-digit id, like Clerk's, derived from the seed and arrival number.
func (c *call) traceID() string {
	const hex = "0123456789abcdef"
	var b [32]byte
	for i, x := range [2]uint64{c.s.rand(c.seq, 2), c.s.rand(c.seq, 3)} {
		for j := range 16 {
			b[i*16+j] = hex[(x>>(60-4*j))&0xf]
		}
	}
	return string(b[:])
}

// apiError is one entry of Clerk's error body.
type apiError struct {
	message, longMessage, code string
	param                      string // meta.param_name, when not empty
}

// fail answers with Clerk's error body holding errs.
func (c *call) fail(status int, errs ...apiError) {
	bp := bufPool.Get().(*[]byte)
	trace := c.traceID()
	b := append((*bp)[:0], `{"errors":[`...)
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"message":`...)
		b = appendString(b, e.message)
		b = append(b, `,"long_message":`...)
		b = appendString(b, e.longMessage)
		b = append(b, `,"code":`...)
		b = appendString(b, e.code)
		b = append(b, `,"meta":{`...)
		if e.param != "" {
			b = append(b, `"param_name":`...)
			b = appendString(b, e.param)
		}
		b = append(b, `}}`...)
	}
	b = append(b, `],"clerk_trace_id":`...)
	b = appendString(b, trace)
	b = append(b, '}')
	c.writeJSON(status, b, trace)
	*bp = b
	if cap(b) <= maxPooled {
		bufPool.Put(bp)
	}
}

// failRetry answers 429 from a real limiter.
func (c *call) failRetry(wait time.Duration) {
	c.w.Header()["Retry-After"] = []string{strconv.FormatInt(retryAfter(wait), 10)}
	c.fail(http.StatusTooManyRequests, errTooMany)
}

// The errors the emulator answers with, worded as clerk-errors.json has them.
var (
	errHeaderFormat = apiError{
		message:     "Invalid Authorization header format",
		longMessage: "Invalid Authorization header format. Must be 'Bearer <YOUR_API_KEY>'",
		code:        "authorization_header_format_invalid",
	}
	errKeyInvalid = apiError{
		message:     "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
		longMessage: "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
		code:        "clerk_key_invalid",
	}
	errForbidden = apiError{
		message:     "Unauthorized request",
		longMessage: "You are not authorized to perform this request",
		code:        "authorization_invalid",
	}
	errTooMany = apiError{
		message:     "Too many requests",
		longMessage: "Too many requests, retry later",
		code:        "too_many_requests",
	}
	errInternal = apiError{
		message:     "Oops, an unexpected error occurred",
		longMessage: "There was an internal error on our servers. We've been notified and are working on fixing it.",
		code:        "internal_clerk_error",
	}
	errBodyInvalid = apiError{
		message:     "Request body invalid",
		longMessage: "The request body is invalid. Please consult the API documentation for more information.",
		code:        "request_body_invalid",
	}
	errRouteNotFound = apiError{
		message:     "not found",
		longMessage: "Resource not found",
		code:        "resource_not_found",
	}
)

func errUserNotFound(id string) apiError {
	return apiError{message: "not found", longMessage: "No user was found with id " + id, code: "resource_not_found"}
}

func errMethod(method string) apiError {
	return apiError{
		message:     "method not allowed",
		longMessage: "The " + method + " method is not allowed on this path.",
		code:        "method_not_allowed",
	}
}

func errVersion(reason string) apiError {
	return apiError{message: "invalid API version", longMessage: "Invalid Clerk API version: " + reason, code: "api_version_invalid"}
}

func errBodyTooLarge(max int64) apiError {
	return apiError{
		message:     "Request body too large",
		longMessage: "The request body exceeds the maximum allowed size of " + strconv.FormatInt(max, 10) + " bytes.",
		code:        "request_body_too_large",
	}
}

func errUnknownParam(p string) apiError {
	return apiError{message: "is unknown", longMessage: p + " is not a valid parameter for this request.", code: "form_param_unknown", param: p}
}

func errEncoding(p string) apiError {
	return apiError{message: "invalid character encoding", longMessage: p + " contains invalid UTF-8 characters", code: "form_param_value_invalid", param: p}
}

func errNotObject(p, got string) apiError {
	return apiError{
		message:     "is invalid",
		longMessage: p + " is invalid. Received " + got + ", must be of type object.",
		code:        "form_param_value_invalid",
		param:       p,
	}
}

func errParam(p, long string) apiError {
	return apiError{message: "is invalid", longMessage: long, code: "form_param_value_invalid", param: p}
}

func errFieldTooLarge(p string, max int) apiError {
	return apiError{
		message:     "exceeds allowed size",
		longMessage: p + " exceeds the maximum allowed size of " + strconv.Itoa(max) + " bytes.",
		code:        "form_param_exceeds_allowed_size",
		param:       p,
	}
}
