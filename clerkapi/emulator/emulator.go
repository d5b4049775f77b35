// Package emulator is an in-process emulator of Clerk's Backend API for the user metadata
// endpoints, served over real HTTP, that the official SDKs (clerk-sdk-go v2.7.0,
// @clerk/backend 3.x) work against unchanged. It answers as Clerk does:
//
//   - PUT (replace) and PATCH (merge) /v1/users/{user_id}/metadata; metadata is stored as the
//     exact bytes a client sent, never re-encoded;
//   - GET /v1/users/{user_id};
//   - GET /v1/users: the users that pass the user_id, external_id and email_address filters
//     (each up to 100 values; AND between filters, OR within one; a leading + or - on a user
//     id or an external id includes or excludes it; email addresses compared without regard
//     to case), newest first (order_by -created_at, or +created_at for oldest first), paged by
//     limit (1 to 500, default 10) and offset, as a bare JSON array of User objects;
//   - GET /v1/users/count, with the same filters: {"object":"total_count","total_count":N}.
//
// It checks Bearer secret keys and Clerk-API-Version, applies instance and per-user rate
// limits with Retry-After, and answers errors with Clerk's JSON bodies and a Clerk-Trace-Id.
// A user has an external id
// and email addresses besides its metadata (see User); the emulator does not make either
// unique, so that a test can have two users share an address. Other list filters and query
// parameters are ignored.
//
// Every authenticated request, read or write, counts against the instance limit; metadata
// writes count against the per-user limit too. A limit counts in fixed windows, sliding
// windows or a token bucket (see LimitShape), with any window length. Another client sharing
// the instance can be emulated with Config.BackgroundLoad or ConsumeInstance.
//
// On top of that it can add latency and inject the faults a real network and a struggling
// Clerk show (see Fault): proxy error pages, dropped connections, hangs, a write applied and
// answered with a 500, a write stored as something else than was sent, a write applied late
// after the client gave up. It counts what clients do: requests by status, writes applied,
// and overlapping writes to one user.
//
// Randomness (jitter, fault rolls, trace ids) is derived from Config.Seed and the request's
// arrival number, so a seeded server that receives requests in the same order answers them
// the same way.
//
// Admin endpoints under /_emulator/ need no key, are not rate limited, faulted or counted;
// they are how a test changes things behind a client's back when the emulator runs out of
// process (in process, call the methods named):
//
//	GET    /_emulator/stats               Stats, as JSON
//	POST   /_emulator/reset               Reset: 204
//	GET    /_emulator/users               every user as a users-file line (NDJSON; see LoadUsers)
//	POST   /_emulator/users               UpsertUsers from NDJSON lines: {"upserted":N}, or 400 naming the line
//	DELETE /_emulator/users/{id}          DeleteUser: 204, or 404
//	POST   /_emulator/consume?n=N         ConsumeInstance(N): {"taken":K}
//	GET    /_emulator/requests            Requests (NDJSON), with Config.RecordRequests
//	GET    /_emulator/history?user_id=…   History (a JSON array), with Config.RecordHistory
package emulator

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets how the emulator behaves. The zero value is an unlimited, fault-free server that
// accepts any sk_test_/sk_live_ key.
type Config struct {
	// Keys are the accepted secret keys (Bearer tokens). Empty accepts any token that starts
	// with sk_test_ or sk_live_.
	Keys []string
	// ForbiddenKeys authenticate but every request made with them gets 403 authorization_invalid.
	ForbiddenKeys []string

	// InstanceLimit is the number of requests allowed per InstanceWindow across the instance;
	// every authenticated request counts, reads as well as writes. 0 means unlimited.
	InstanceLimit int
	// InstanceWindow defaults to 10s. Any length works; Clerk's is 10s.
	InstanceWindow time.Duration
	// InstanceShape is how the instance limit counts (see LimitShape).
	InstanceShape LimitShape
	// InstanceBurst is the token bucket's size, from one second's worth of InstanceLimit
	// (rounded up) to one window's worth, InstanceLimit, which is the default. Only with
	// LimitTokenBucket.
	InstanceBurst int
	// BackgroundLoad is another client sharing the instance: this many requests per second,
	// evenly spaced from the first request the instance limit counts, each taking from the
	// instance limit as a request would (and dropped when refused). They are not HTTP requests
	// and are counted apart (Stats.Background). It needs an InstanceLimit.
	BackgroundLoad float64

	// UserLimit is the number of metadata writes (PUT and PATCH metadata) allowed per user per
	// UserWindow; 0 means unlimited. Only writes that pass validation count.
	UserLimit int
	// UserWindow defaults to 10s.
	UserWindow time.Duration
	// UserShape is how the per-user limit counts (see LimitShape).
	UserShape LimitShape
	// UserBurst is as InstanceBurst, for UserLimit.
	UserBurst int

	// Sliding makes the limits whose shape is LimitDefault sliding windows. It predates the
	// shapes; prefer InstanceShape and UserShape set to LimitSliding.
	Sliding bool

	// Latency, plus a uniform draw from [0, Jitter), is waited at the start of every request.
	Latency, Jitter time.Duration
	// Faults maps each fault to its probability per request; the probabilities sum to at most 1.
	Faults map[Fault]float64
	// Seed seeds the jitter, the fault rolls and the trace ids.
	Seed int64

	// LateDelay is how long after its arrival a write that FaultApplyLate picked is applied;
	// it defaults to 500ms. To have it land after the client's next write to the same user,
	// make it longer than the client's timeout and retry delay.
	LateDelay time.Duration

	// AutoCreate makes a valid write to an unknown user create it instead of answering 404,
	// and a list of users by user_id create the unknown ids it includes (with no metadata),
	// so a run that reads before writing finds every user: for tests and a sandbox fed from
	// standard input. Clerk does neither.
	AutoCreate bool
	// MaxFieldBytes limits each metadata field's compact JSON size; 0 means unlimited. Over it:
	// 422 form_param_exceeds_allowed_size.
	MaxFieldBytes int
	// MaxBodyBytes limits request bodies; it defaults to 1 MiB. Over it: 413 request_body_too_large.
	MaxBodyBytes int64

	// RecordHistory keeps, per user, every applied PUT body, in apply order (see History).
	RecordHistory bool
	// RecordRequests keeps a log of every request (see Requests). Counters are always kept.
	RecordRequests bool

	// Now is the clock the rate limits and timestamps use; nil means time.Now. Latency and
	// hangs always use real time.
	Now func() time.Time
}

// Validate reports the first setting New cannot use.
func (c Config) Validate() error {
	if err := checkLimit("instance", c.InstanceShape, c.Sliding, c.InstanceLimit, c.InstanceWindow, c.InstanceBurst); err != nil {
		return err
	}
	if err := checkLimit("user", c.UserShape, c.Sliding, c.UserLimit, c.UserWindow, c.UserBurst); err != nil {
		return err
	}
	switch {
	case c.BackgroundLoad < 0 || math.IsNaN(c.BackgroundLoad) || c.BackgroundLoad > 1e9:
		return fmt.Errorf("background load is %v requests per second, want 0 to 1e9", c.BackgroundLoad)
	case c.BackgroundLoad > 0 && c.InstanceLimit == 0:
		return errors.New("background load needs an instance limit")
	case c.LateDelay < 0:
		return errors.New("late delay is negative")
	case c.Latency < 0 || c.Jitter < 0:
		return errors.New("latency and jitter must not be negative")
	case c.MaxFieldBytes < 0:
		return errors.New("max field bytes is negative")
	case c.MaxBodyBytes < 0:
		return errors.New("max body bytes is negative")
	}
	sum := 0.0
	for f, p := range c.Faults {
		if f <= FaultNone || f >= numFaults {
			return fmt.Errorf("faults: unknown fault %d", int(f))
		}
		if p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("faults: %v has probability %v, want 0..1", f, p)
		}
		sum += p
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("faults: probabilities sum to %v, more than 1", sum)
	}
	return nil
}

// Server is the emulator. It is an http.Handler; Start also serves it on a listener of its own.
type Server struct {
	cfg       Config
	keys      map[string]bool
	forbidden map[string]bool
	faults    []faultEdge
	now       func() time.Time
	hook      atomic.Pointer[func(*http.Request) Fault]
	admin     *http.ServeMux

	users    [numShards]userShard
	flights  [numShards]flightShard
	hashSeed maphash.Seed
	userSeq  atomic.Uint64
	// idxMu guards idx and every record's identity; it is taken before a shard's or a
	// record's lock.
	idxMu sync.RWMutex
	idx   index

	instRule, userRule rule
	instMu             sync.Mutex // guards inst and bg
	inst               window
	bg                 background

	late lateWrites

	seq atomic.Uint64
	st  counters

	logMu  sync.Mutex
	log    []Request
	logGen uint64

	done      chan struct{}
	closeOnce sync.Once
	srvMu     sync.Mutex
	srv       *http.Server
	closed    bool
}

// faultEdge is one step of the cumulative fault table: a roll below p picks f.
type faultEdge struct {
	p float64
	f Fault
}

const numShards = 64

type userShard struct {
	mu sync.RWMutex
	m  map[string]*record
}

type flightShard struct {
	mu sync.Mutex
	m  map[string]int
}

// New returns an emulator with no users. It panics if cfg.Validate fails; check configuration
// that comes from users with Validate first.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic("emulator: " + err.Error())
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.LateDelay == 0 {
		cfg.LateDelay = 500 * time.Millisecond
	}
	s := &Server{
		cfg:       cfg,
		instRule:  newRule(cfg.InstanceShape, cfg.Sliding, cfg.InstanceLimit, cfg.InstanceWindow, cfg.InstanceBurst),
		userRule:  newRule(cfg.UserShape, cfg.Sliding, cfg.UserLimit, cfg.UserWindow, cfg.UserBurst),
		bg:        newBackground(cfg.BackgroundLoad),
		keys:      make(map[string]bool, len(cfg.Keys)),
		forbidden: make(map[string]bool, len(cfg.ForbiddenKeys)),
		now:       cfg.Now,
		hashSeed:  maphash.MakeSeed(),
		done:      make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.late.init()
	s.admin = s.newAdmin()
	for _, k := range cfg.Keys {
		s.keys[k] = true
	}
	for _, k := range cfg.ForbiddenKeys {
		s.forbidden[k] = true
	}
	// Fault order is fixed so that a seed picks the same faults whatever the map's order.
	cum := 0.0
	for f := Fault500; f < numFaults; f++ {
		if p := cfg.Faults[f]; p > 0 {
			cum += p
			s.faults = append(s.faults, faultEdge{cum, f})
		}
	}
	s.cfg.Faults = nil
	for i := range s.users {
		s.users[i].m = make(map[string]*record)
		s.flights[i].m = make(map[string]int)
	}
	return s
}

// SetFault installs a hook that picks a fault per request, after latency and before
// authentication. When it returns something other than FaultNone that fault is used instead of
// the configured probabilities. nil removes the hook. The hook may block, which tests use to
// hold a request in flight.
func (s *Server) SetFault(fn func(r *http.Request) Fault) {
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

// Start serves the emulator on addr (such as "127.0.0.1:0") in the background and returns its
// base URL, such as "http://127.0.0.1:43567", without /v1. Connections are accepted once it
// returns.
func (s *Server) Start(addr string) (baseURL string, err error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.closed || s.srv != nil {
		return "", errors.New("emulator: already started or closed")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute}
	go s.srv.Serve(ln) //nolint:errcheck // Serve only ends with ErrServerClosed, from Close.
	return "http://" + ln.Addr().String(), nil
}

// Close releases requests waiting on latency or hanging (their connections are closed without
// an answer) and stops the server Start started. When serving through httptest, call Close
// before the httptest server's Close, which waits for every handler to return.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	s.closed = true
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// counters are the always-on statistics.
type counters struct {
	requests        atomic.Int64
	status          [600]atomic.Int64
	methods         [len(countedMethods) + 1]atomic.Int64
	faults          [numFaults]atomic.Int64
	instanceLimited atomic.Int64
	userLimited     atomic.Int64
	applied         atomic.Int64
	inFlight        atomic.Int64
	maxInFlight     atomic.Int64
	maxUserInFlight atomic.Int64
	overlaps        atomic.Int64

	background, backgroundLimited atomic.Int64
}

var countedMethods = [...]string{"GET", "PUT", "PATCH", "POST", "DELETE"}

// Stats are the emulator's counters. Admin requests are not counted.
type Stats struct {
	Requests int64            `json:"requests"`
	ByStatus map[int]int64    `json:"by_status"` // status 0: no answer (dropped, hung, client gone)
	ByMethod map[string]int64 `json:"by_method"` // methods other than GET, PUT, PATCH, POST, DELETE count as OTHER
	// RateLimited counts 429s from the real limiters (InstanceLimited + UserLimited); injected
	// 429s count under Faults.
	RateLimited     int64 `json:"rate_limited"`
	InstanceLimited int64 `json:"instance_limited"`
	UserLimited     int64 `json:"user_limited"`
	// Faults counts injected faults by kind. FaultApplyThen500 counts only when it turned a
	// success into a 500, FaultStoreDifferent only when it changed what a write stored, and
	// FaultApplyLate when it held a request (its write, if any, counts in WritesApplied once
	// applied).
	Faults        map[Fault]int64 `json:"faults"`
	WritesApplied int64           `json:"writes_applied"` // PUT and PATCH metadata writes applied
	Unauthorized  int64           `json:"unauthorized"`   // 401s
	Forbidden     int64           `json:"forbidden"`      // 403s
	InFlight      int64           `json:"in_flight"`      // requests being handled now
	MaxInFlight   int64           `json:"max_in_flight"`
	// MaxUserInFlight is the most metadata writes (PUT or PATCH) in flight at once for any one
	// user, counted from arrival to answer, latency included.
	MaxUserInFlight int64 `json:"max_user_in_flight"`
	// UserOverlaps counts metadata writes that arrived while another write for the same user
	// was still being handled.
	UserOverlaps int64 `json:"user_overlaps"`
	// Background counts the requests of Config.BackgroundLoad and ConsumeInstance that the
	// instance limit let through, BackgroundLimited those it refused. They are not in Requests.
	Background        int64 `json:"background"`
	BackgroundLimited int64 `json:"background_limited"`
	// LateWritesPending counts writes FaultApplyLate has yet to apply.
	LateWritesPending int64 `json:"late_writes_pending"`
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.st
	st := Stats{
		Requests:        c.requests.Load(),
		ByStatus:        map[int]int64{},
		ByMethod:        map[string]int64{},
		InstanceLimited: c.instanceLimited.Load(),
		UserLimited:     c.userLimited.Load(),
		Faults:          map[Fault]int64{},
		WritesApplied:   c.applied.Load(),
		InFlight:        c.inFlight.Load(),
		MaxInFlight:     c.maxInFlight.Load(),
		MaxUserInFlight: c.maxUserInFlight.Load(),
		UserOverlaps:    c.overlaps.Load(),
	}
	st.RateLimited = st.InstanceLimited + st.UserLimited
	st.Background, st.BackgroundLimited = s.backgroundCounts()
	st.LateWritesPending = s.late.pendingCount()
	for code := range c.status {
		if n := c.status[code].Load(); n > 0 {
			st.ByStatus[code] = n
		}
	}
	for i := range c.methods {
		if n := c.methods[i].Load(); n > 0 {
			name := "OTHER"
			if i < len(countedMethods) {
				name = countedMethods[i]
			}
			st.ByMethod[name] = n
		}
	}
	for f := Fault500; f < numFaults; f++ {
		if n := c.faults[f].Load(); n > 0 {
			st.Faults[f] = n
		}
	}
	st.Unauthorized = st.ByStatus[401]
	st.Forbidden = st.ByStatus[403]
	return st
}

// Request is one request as the emulator received and answered it.
type Request struct {
	Method   string `json:"method"`
	Path     string `json:"path"` // as escaped on the wire
	RawQuery string `json:"raw_query,omitempty"`
	// Header holds User-Agent, Content-Type, Content-Length, Transfer-Encoding and
	// Clerk-API-Version as sent.
	Header http.Header `json:"header"`
	// Authorization reports whether an Authorization header was sent; its value is never kept.
	Authorization bool      `json:"authorization"`
	Status        int       `json:"status"` // 0 when nothing was answered
	UserID        string    `json:"user_id,omitempty"`
	Fault         Fault     `json:"fault"`
	Applied       bool      `json:"applied"`
	At            time.Time `json:"at"` // arrival, by Config.Now
}

// Requests returns every request received since New or Reset, in arrival order. It is empty
// unless Config.RecordRequests is set.
func (s *Server) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := slices.Clone(s.log)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
	}
	return out
}

// Reset clears the counters and the request log. Users, their history and the rate limits'
// state are kept.
func (s *Server) Reset() {
	c := &s.st
	c.requests.Store(0)
	for i := range c.status {
		c.status[i].Store(0)
	}
	for i := range c.methods {
		c.methods[i].Store(0)
	}
	for i := range c.faults {
		c.faults[i].Store(0)
	}
	c.instanceLimited.Store(0)
	c.userLimited.Store(0)
	c.applied.Store(0)
	c.maxInFlight.Store(c.inFlight.Load())
	c.maxUserInFlight.Store(0)
	c.overlaps.Store(0)
	c.background.Store(0)
	c.backgroundLimited.Store(0)
	s.logMu.Lock()
	s.log = nil
	s.logGen++
	s.logMu.Unlock()
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// ServeHTTP answers one request as Clerk would, after the configured latency and faults.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.admin.ServeHTTP(w, r)
		return
	}
	c := call{s: s, w: w, r: r, seq: s.seq.Add(1), logIdx: -1, start: time.Now()}
	c.route = parseRoute(r.URL.EscapedPath())
	s.begin(&c)
	defer s.end(&c) // in case nothing was answered
	s.handle(&c)
}

// begin counts the request's arrival and, for a metadata write, the user's writes in flight.
func (s *Server) begin(c *call) {
	st := &s.st
	st.requests.Add(1)
	m := len(countedMethods)
	for i, name := range countedMethods {
		if c.r.Method == name {
			m = i
			break
		}
	}
	st.methods[m].Add(1)
	storeMax(&st.maxInFlight, st.inFlight.Add(1))

	if c.route.kind == routeMetadata && (c.r.Method == http.MethodPut || c.r.Method == http.MethodPatch) {
		c.flightID = c.route.id
		sh := &s.flights[s.shard(c.flightID)]
		sh.mu.Lock()
		n := sh.m[c.flightID] + 1
		sh.m[c.flightID] = n
		sh.mu.Unlock()
		if n > 1 {
			st.overlaps.Add(1)
		}
		storeMax(&st.maxUserInFlight, int64(n))
	}

	if s.cfg.RecordRequests {
		req := Request{
			Method:        c.r.Method,
			Path:          c.r.URL.EscapedPath(),
			RawQuery:      c.r.URL.RawQuery,
			Header:        http.Header{},
			Authorization: len(c.r.Header["Authorization"]) > 0,
			UserID:        c.route.id,
			At:            s.now(),
		}
		for _, k := range []string{"User-Agent", "Content-Type", "Content-Length", "Clerk-Api-Version"} {
			if v, ok := c.r.Header[k]; ok {
				req.Header[k] = slices.Clone(v)
			}
		}
		if len(c.r.TransferEncoding) > 0 {
			req.Header["Transfer-Encoding"] = slices.Clone(c.r.TransferEncoding)
		}
		s.logMu.Lock()
		c.logIdx, c.logGen = len(s.log), s.logGen
		s.log = append(s.log, req)
		s.logMu.Unlock()
	}
}

// end records how the request was answered, once. It runs just before the answer is written
// (or the connection closed), not when the handler returns: a client that has its answer must
// find it in Stats, and its next write to the same user must not count as an overlap.
func (s *Server) end(c *call) {
	if c.ended {
		return
	}
	c.ended = true
	st := &s.st
	if c.flightID != "" {
		sh := &s.flights[s.shard(c.flightID)]
		sh.mu.Lock()
		if n := sh.m[c.flightID] - 1; n > 0 {
			sh.m[c.flightID] = n
		} else {
			delete(sh.m, c.flightID)
		}
		sh.mu.Unlock()
	}
	st.inFlight.Add(-1)
	if c.status >= 0 && c.status < len(st.status) {
		st.status[c.status].Add(1)
	}
	c.releaseBody()
	if c.logIdx >= 0 {
		s.logMu.Lock()
		if c.logGen == s.logGen {
			e := &s.log[c.logIdx]
			// A late write may have been applied, and marked so, before the client gave up.
			e.Status, e.Fault, e.Applied = c.status, c.fault, c.applied || e.Applied
		}
		s.logMu.Unlock()
	}
}

func (s *Server) shard(id string) int {
	return int(maphash.String(s.hashSeed, id) % numShards)
}

// rand returns the k-th random number of request seq, from the seed alone, so that a seeded
// server is deterministic for a given arrival order without a shared generator.
func (s *Server) rand(seq, k uint64) uint64 {
	return splitmix(uint64(s.cfg.Seed) ^ (seq<<2 | k))
}

// handle runs a request through Clerk's stages in order: latency, injected faults,
// authentication, API version, the instance limit, then the route.
func (s *Server) handle(c *call) {
	if c.r.Body != nil && c.r.Body != http.NoBody {
		// Read first: until the body is consumed, net/http does not notice a client that
		// hangs up, and latency and hangs must end when the client gives up.
		c.readBody(s.cfg.MaxBodyBytes)
	}
	if d := s.cfg.Latency; d > 0 || s.cfg.Jitter > 0 {
		if s.cfg.Jitter > 0 {
			d += time.Duration(s.rand(c.seq, 0) % uint64(s.cfg.Jitter))
		}
		if !c.wait(d) {
			return
		}
	}
	switch f := s.pickFault(c); {
	case f == FaultApplyLate && c.flightID == "":
		// Only a metadata write has something to apply late; anything else just hangs.
		c.fault = f
		s.st.faults[f].Add(1)
		s.hang(c)
		return
	case f.modifies():
		c.mod = f
	case f != FaultNone:
		s.inject(c, f)
		return
	}
	if !s.authorize(c) || !s.checkVersion(c) || !s.takeInstance(c) {
		return
	}
	s.dispatch(c)
}

func (s *Server) pickFault(c *call) Fault {
	if fn := s.hook.Load(); fn != nil {
		if f := (*fn)(c.r); f != FaultNone {
			return f
		}
	}
	if len(s.faults) == 0 {
		return FaultNone
	}
	roll := float64(s.rand(c.seq, 1)>>11) / (1 << 53)
	for _, e := range s.faults {
		if roll < e.p {
			return e.f
		}
	}
	return FaultNone
}
