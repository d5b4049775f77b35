package emulator

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxFilterValues is how many values each list filter accepts (GetUserList: "Accepts up to
// 100").
const maxFilterValues = 100

// listQuery is what GET /v1/users and GET /v1/users/count select: users that pass every
// filter given (AND between filters), each filter passing a user that has any of its values
// (OR within one).
type listQuery struct {
	ids, externals signedFilter
	emails         map[string]bool // by emailKey; nil: no filter
	limit, offset  int
	ascending      bool
}

// signedFilter is a filter whose values may carry a leading + (include, as a bare value does)
// or - (exclude). With no includes, every user passes but the excluded; an exclusion wins over
// an inclusion of the same value.
type signedFilter struct {
	include, exclude map[string]bool // include nil: no includes
}

func newSignedFilter(vals []string) signedFilter {
	var f signedFilter
	for _, v := range vals {
		if rest, ok := strings.CutPrefix(v, "-"); ok {
			if f.exclude == nil {
				f.exclude = map[string]bool{}
			}
			f.exclude[rest] = true
			continue
		}
		if f.include == nil {
			f.include = map[string]bool{}
		}
		f.include[strings.TrimPrefix(v, "+")] = true
	}
	return f
}

// pass reports whether a user whose value is v (has false: the user has none) passes.
func (f signedFilter) pass(v string, has bool) bool {
	if f.include != nil && (!has || !f.include[v]) {
		return false
	}
	return !has || !f.exclude[v]
}

// parseList reads the filters and, for a list, its paging and order. It answers 422 with
// every problem found and reports false if there was one. Query parameters it does not know
// are ignored.
func (s *Server) parseList(c *call, paged bool) (listQuery, bool) {
	q := c.r.URL.Query()
	var errs []apiError
	for _, p := range []string{"user_id", "external_id", "email_address"} {
		if n := len(q[p]); n > maxFilterValues {
			errs = append(errs, errParam(p, p+" accepts up to 100 values, got "+strconv.Itoa(n)+"."))
		}
	}
	lq := listQuery{
		ids:       newSignedFilter(q["user_id"]),
		externals: newSignedFilter(q["external_id"]),
		limit:     10,
	}
	if vals := q["email_address"]; len(vals) > 0 {
		lq.emails = make(map[string]bool, len(vals))
		for _, v := range vals {
			lq.emails[emailKey(v)] = true
		}
	}
	if paged {
		errs = lq.parsePaging(q, errs)
	}
	if len(errs) > 0 {
		c.fail(http.StatusUnprocessableEntity, errs...)
		return lq, false
	}
	return lq, true
}

func (lq *listQuery) parsePaging(q url.Values, errs []apiError) []apiError {
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			errs = append(errs, errParam("limit", "limit must be an integer between 1 and 500."))
		}
		lq.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, errParam("offset", "offset must be an integer greater than or equal to 0."))
		}
		lq.offset = n
	}
	// Clerk keeps the first order_by of several. It orders by other fields too; users in the
	// emulator have only created_at, so the others are refused rather than ignored.
	switch v := q.Get("order_by"); v {
	case "", "-created_at":
	case "+created_at", "created_at":
		lq.ascending = true
	default:
		errs = append(errs, errParam("order_by", "order_by "+strconv.Quote(v)+
			" is not supported by the emulator, which orders by -created_at, +created_at or created_at."))
	}
	return errs
}

// listed is a user that a list selected.
type listed struct {
	seq uint64
	v   userView
}

// selectUsers returns the users lq selects, in no order.
func (s *Server) selectUsers(lq listQuery) []listed {
	var out []listed
	for _, rec := range s.candidates(lq) {
		rec.mu.Lock()
		if lq.match(rec) {
			out = append(out, listed{rec.seq, rec.view()})
		}
		rec.mu.Unlock()
	}
	return out
}

// sortUsers orders users newest first, or oldest first if lq.ascending; users created in the
// same millisecond keep their creation order.
func sortUsers(out []listed, lq listQuery) {
	slices.SortFunc(out, func(a, b listed) int {
		d := cmp.Or(cmp.Compare(a.v.created, b.v.created), cmp.Compare(a.seq, b.seq))
		if lq.ascending {
			return d
		}
		return -d
	})
}

// candidates returns the users that may match, each once: those an include names when there
// is one, else every user.
func (s *Server) candidates(lq listQuery) []*record {
	var keys map[string]bool
	byEmail := false
	switch {
	case lq.ids.include != nil:
		out := make([]*record, 0, len(lq.ids.include))
		for id := range lq.ids.include {
			rec := s.lookup(id)
			if rec == nil && s.cfg.AutoCreate && !lq.ids.exclude[id] {
				rec = s.getOrCreate(id)
			}
			if rec != nil {
				out = append(out, rec)
			}
		}
		return out
	case lq.externals.include != nil:
		keys = lq.externals.include
	case lq.emails != nil:
		keys, byEmail = lq.emails, true
	default:
		return s.all()
	}
	seen := map[*record]struct{}{}
	s.idxMu.RLock()
	byKey := s.idx.byExternal
	if byEmail {
		byKey = s.idx.byEmail
	}
	for k := range keys {
		for rec := range byKey[k] {
			seen[rec] = struct{}{}
		}
	}
	s.idxMu.RUnlock()
	out := make([]*record, 0, len(seen))
	for rec := range seen {
		out = append(out, rec)
	}
	return out
}

// match must be called with rec.mu held.
func (lq listQuery) match(rec *record) bool {
	if !lq.ids.pass(rec.id, true) {
		return false
	}
	ext := rec.ident.externalID
	if !lq.externals.pass(ext, ext != "") {
		return false
	}
	if lq.emails == nil {
		return true
	}
	for _, e := range rec.ident.emails {
		if lq.emails[emailKey(e.addr)] {
			return true
		}
	}
	return false
}

// listUsers answers GET /v1/users: the users selected, paged by limit and offset, as a bare
// JSON array of User objects.
func (s *Server) listUsers(c *call) {
	lq, ok := s.parseList(c, true)
	if !ok {
		return
	}
	if c.mod == FaultApplyThen500 {
		s.fail500(c)
		return
	}
	found := s.selectUsers(lq)
	sortUsers(found, lq)
	found = found[min(lq.offset, len(found)):]
	found = found[:min(lq.limit, len(found))]
	views := make([]userView, len(found))
	for i := range found {
		views[i] = found[i].v
	}
	c.writeUsers(true, views...)
}

// countUsers answers GET /v1/users/count: how many users the filters select. Paging and
// order, which both official SDKs send here too, are ignored.
func (s *Server) countUsers(c *call) {
	lq, ok := s.parseList(c, false)
	if !ok {
		return
	}
	if c.mod == FaultApplyThen500 {
		s.fail500(c)
		return
	}
	n := len(s.selectUsers(lq))
	b := append([]byte(`{"object":"total_count","total_count":`), strconv.Itoa(n)...)
	c.writeJSON(http.StatusOK, append(b, '}'), "")
}
