package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// supportedVersions are the Clerk API versions whose spec has the metadata endpoints.
var supportedVersions = map[string]bool{
	"2021-02-05": true, "2024-10-01": true, "2025-04-10": true, "2025-11-10": true, "2026-05-12": true,
}

// authorize checks the Bearer secret key.
func (s *Server) authorize(c *call) bool {
	h := c.r.Header["Authorization"]
	var key string
	if len(h) == 1 {
		scheme, tok, ok := strings.Cut(h[0], " ")
		if ok && strings.EqualFold(scheme, "Bearer") && tok != "" && !strings.ContainsAny(tok, " \t") {
			key = tok
		}
	}
	switch {
	case key == "":
		c.fail(http.StatusUnauthorized, errHeaderFormat)
	case s.forbidden[key]:
		c.fail(http.StatusForbidden, errForbidden)
	case len(s.keys) > 0 && !s.keys[key],
		len(s.keys) == 0 && !looksLikeKey(key):
		c.fail(http.StatusUnauthorized, errKeyInvalid)
	default:
		return true
	}
	return false
}

func looksLikeKey(k string) bool {
	rest, ok := strings.CutPrefix(k, "sk_test_")
	if !ok {
		rest, ok = strings.CutPrefix(k, "sk_live_")
	}
	return ok && rest != ""
}

// checkVersion checks the API version, given by header or query but not both.
func (s *Server) checkVersion(c *call) bool {
	hv, inHeader := c.r.Header["Clerk-Api-Version"]
	var qv []string
	if strings.Contains(c.r.URL.RawQuery, "__clerk_api_version") {
		qv = c.r.URL.Query()["__clerk_api_version"]
	}
	vals := hv
	switch {
	case inHeader && qv != nil:
		c.fail(http.StatusBadRequest, errVersion("set by both the Clerk-API-Version header and the __clerk_api_version query parameter; use one"))
		return false
	case !inHeader && qv == nil:
		return true
	case qv != nil:
		vals = qv
	}
	if len(vals) != 1 || !supportedVersions[vals[0]] {
		c.fail(http.StatusBadRequest, errVersion(strconv.Quote(strings.Join(vals, ","))+" is not a supported version"))
		return false
	}
	return true
}

// takeInstance counts the request against the instance-wide limit, after the background
// load's requests that came before it.
func (s *Server) takeInstance(c *call) bool {
	if s.instRule.limit == 0 {
		return true
	}
	now := s.now()
	s.instMu.Lock()
	s.catchUp(now)
	ok, wait := s.inst.admit(now, s.instRule)
	s.instMu.Unlock()
	if !ok {
		s.st.instanceLimited.Add(1)
		c.failRetry(wait)
	}
	return ok
}

type routeKind int

const (
	routeNone     routeKind = iota
	routeUsers              // /v1/users
	routeCount              // /v1/users/count
	routeUser               // /v1/users/{id}
	routeMetadata           // /v1/users/{id}/metadata
)

type route struct {
	kind routeKind
	id   string
}

// parseRoute matches an escaped path; the user id is exactly one path segment, unescaped.
func parseRoute(path string) route {
	const users = "/v1/users"
	rest, ok := strings.CutPrefix(path, users)
	if !ok {
		return route{}
	}
	if rest == "" {
		return route{kind: routeUsers}
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return route{}
	}
	seg, tail, more := strings.Cut(rest, "/")
	kind := routeUser
	if more {
		if tail != "metadata" {
			return route{}
		}
		kind = routeMetadata
	}
	if strings.IndexByte(seg, '%') >= 0 {
		var err error
		if seg, err = url.PathUnescape(seg); err != nil {
			return route{}
		}
	}
	if seg == "" || seg == "." || seg == ".." {
		return route{}
	}
	if kind == routeUser && seg == "count" {
		return route{kind: routeCount} // matched before /users/{user_id}, as Clerk does
	}
	return route{kind: kind, id: seg}
}

func (s *Server) dispatch(c *call) {
	m := c.r.Method
	switch c.route.kind {
	case routeUsers:
		if m == http.MethodGet {
			s.listUsers(c)
			return
		}
		c.w.Header()["Allow"] = []string{"GET"}
	case routeCount:
		if m == http.MethodGet {
			s.countUsers(c)
			return
		}
		c.w.Header()["Allow"] = []string{"GET"}
	case routeUser:
		if m == http.MethodGet {
			s.getUser(c)
			return
		}
		c.w.Header()["Allow"] = []string{"GET"}
	case routeMetadata:
		if m == http.MethodPut || m == http.MethodPatch {
			s.write(c, m == http.MethodPatch)
			return
		}
		c.w.Header()["Allow"] = []string{"PATCH, PUT"}
	default:
		c.fail(http.StatusNotFound, errRouteNotFound)
		return
	}
	c.fail(http.StatusMethodNotAllowed, errMethod(m))
}

// metadataFields are the body's allowed keys, in the order records hold them.
var metadataFields = [3]string{"public_metadata", "private_metadata", "unsafe_metadata"}

// span is where one metadata field's value sits in a body.
type span struct {
	set    bool
	vs, ve int
}

// parseMetadata validates a metadata write body and finds its fields. A nil error list with
// ok false means the body is not a JSON object.
func parseMetadata(b []byte, maxField int) (fields [3]span, errs []apiError, ok bool) {
	if !json.Valid(b) {
		return fields, nil, false
	}
	i := skipWS(b, 0)
	if b[i] != '{' {
		return fields, nil, false
	}
	eachMember(b, i, func(rawKey []byte, vs, ve int) {
		if !utf8.Valid(rawKey) {
			errs = append(errs, errEncoding(string(keyBytes(rawKey))))
			return
		}
		key := keyBytes(rawKey)
		for k, name := range metadataFields {
			if string(key) == name {
				fields[k] = span{true, vs, ve} // a repeated key: the last one wins
				return
			}
		}
		errs = append(errs, errUnknownParam(string(key)))
	})
	for k, f := range fields {
		if !f.set {
			continue
		}
		v, name := b[f.vs:f.ve], metadataFields[k]
		switch {
		case v[0] != '{' && v[0] != 'n':
			errs = append(errs, errNotObject(name, kind(v)))
		case !utf8.Valid(v):
			errs = append(errs, errEncoding(name))
		case maxField > 0 && v[0] == '{' && len(v) > maxField && compactLen(v) > maxField:
			errs = append(errs, errFieldTooLarge(name, maxField))
		}
	}
	return fields, errs, true
}

// write answers PUT (replace) or PATCH (merge) /v1/users/{id}/metadata.
func (s *Server) write(c *call, merge bool) {
	id := c.route.id
	rec := s.lookup(id)
	switch {
	case rec == nil && !s.cfg.AutoCreate:
		c.fail(http.StatusNotFound, errUserNotFound(id))
		return
	case c.tooLarge:
		c.fail(http.StatusRequestEntityTooLarge, errBodyTooLarge(s.cfg.MaxBodyBytes))
		return
	case c.bodyErr != nil:
		c.fail(http.StatusBadRequest, errBodyInvalid)
		return
	}
	fields, errs, ok := parseMetadata(c.body, s.cfg.MaxFieldBytes)
	switch {
	case !ok:
		c.fail(http.StatusBadRequest, errBodyInvalid)
		return
	case len(errs) > 0:
		c.fail(http.StatusUnprocessableEntity, errs...)
		return
	}
	if rec == nil {
		rec = s.getOrCreate(id)
	}
	now := s.now()

	rec.mu.Lock()
	if s.userRule.limit > 0 {
		if ok, wait := rec.limit.admit(now, s.userRule); !ok {
			rec.mu.Unlock()
			s.st.userLimited.Add(1)
			c.failRetry(wait)
			return
		}
	}
	if c.mod == FaultApplyLate {
		rec.mu.Unlock()
		s.applyLate(c, rec, fields, merge)
		return
	}
	v := s.store(rec, c.body, fields, merge, c.mod == FaultStoreDifferent, now)
	rec.mu.Unlock()

	s.st.applied.Add(1)
	c.applied = true
	switch c.mod {
	case FaultStoreDifferent:
		if fields[0].set || fields[1].set || fields[2].set { // {} sets nothing to mangle
			c.fault = FaultStoreDifferent
			s.st.faults[FaultStoreDifferent].Add(1)
		}
	case FaultApplyThen500:
		s.fail500(c)
		return
	}
	c.writeUsers(false, v)
}

// store applies a valid write to rec, whose lock the caller holds, and returns the user as it
// now is: PUT replaces each field the body has with the bytes sent, PATCH merges them in.
// mangle stores other values instead (see FaultStoreDifferent).
func (s *Server) store(rec *record, body []byte, fields [3]span, merge, mangle bool, now time.Time) userView {
	var stored []byte
	if !merge {
		stored = bytes.Clone(body) // body goes back to the pool
	}
	for k, f := range fields {
		if !f.set {
			continue
		}
		var v json.RawMessage
		switch {
		case !merge:
			v = stored[f.vs:f.ve:f.ve]
		case body[f.vs] == 'n':
			v = nil
		default:
			v = mergePatch(rec.meta[k], body[f.vs:f.ve])
		}
		if mangle {
			v = mangled(v)
		}
		rec.meta[k] = v
	}
	if !merge && s.cfg.RecordHistory {
		rec.history = append(rec.history, stored)
	}
	rec.updated = now.UnixMilli()
	return rec.view()
}

// mangled is what FaultStoreDifferent stores in place of v.
func mangled(v []byte) json.RawMessage {
	var ends []int
	if len(v) > 0 && v[0] == '{' {
		eachMember(v, 0, func(_ []byte, _, ve int) { ends = append(ends, ve) })
	}
	switch len(ends) {
	case 0:
		return json.RawMessage(`{"mangled":true}`)
	case 1:
		return json.RawMessage(`{}`)
	}
	return append(bytes.Clone(v[:ends[len(ends)-2]]), '}')
}

// getUser answers GET /v1/users/{id}.
func (s *Server) getUser(c *call) {
	rec := s.lookup(c.route.id)
	if rec == nil {
		c.fail(http.StatusNotFound, errUserNotFound(c.route.id))
		return
	}
	if c.mod == FaultApplyThen500 {
		s.fail500(c)
		return
	}
	rec.mu.Lock()
	v := rec.view()
	rec.mu.Unlock()
	c.writeUsers(false, v)
}

// fail500 answers FaultApplyThen500 on a request that writes nothing.
func (s *Server) fail500(c *call) {
	c.fault = FaultApplyThen500
	s.st.faults[FaultApplyThen500].Add(1)
	c.fail(http.StatusInternalServerError, errInternal)
}

// writeUsers answers 200 with one User, or with a JSON array of them.
func (c *call) writeUsers(array bool, vs ...userView) {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if array {
		b = append(b, '[')
	}
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = vs[i].appendJSON(b)
	}
	if array {
		b = append(b, ']')
	}
	c.writeJSON(http.StatusOK, b, "")
	*bp = b
	if cap(b) <= maxPooled {
		bufPool.Put(bp)
	}
}
