package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// epoch is aligned to every window the tests use.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is a request at an offset from epoch, and what it must get.
type step struct {
	at     time.Duration
	path   string // default: GET /v1/users/user_1
	status int
	retry  string // Retry-After on a 429
}

func runSteps(t *testing.T, f *fixture, clk *clock, steps []step) {
	t.Helper()
	for i, st := range steps {
		clk.Set(epoch.Add(st.at))
		method, path, body := "GET", "/v1/users/user_1", ""
		if st.path != "" {
			method, path, body = "PUT", st.path, `{"public_metadata":{}}`
		}
		r := f.do(t, method, path, body)
		if r.status != st.status || r.header.Get("Retry-After") != st.retry {
			t.Errorf("step %d (%s %s at +%v): status %d Retry-After %q, want %d %q: %s",
				i, method, path, st.at, r.status, r.header.Get("Retry-After"), st.status, st.retry, r.body)
		}
		if r.status == 429 {
			checkError(t, r, 429, "too_many_requests", "")
		}
	}
}

func TestInstanceLimit(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name    string
		sliding bool
		steps   []step
	}{
		{"fixed", false, []step{
			{at: 2500 * ms, status: 200},
			{at: 3 * time.Second, status: 200},
			{at: 3 * time.Second, status: 429, retry: "7"},        // window ends at +10s
			{at: 9*time.Second + 900*ms, status: 429, retry: "1"}, // 0.1s rounds up to 1
			{at: 10 * time.Second, status: 200},                   // a new window
			{at: 10*time.Second + 1*ms, status: 200},
			{at: 10*time.Second + 2*ms, status: 429, retry: "10"}, // 9.998s rounds up
		}},
		{"sliding", true, []step{
			{at: 0, status: 200},
			{at: 3 * time.Second, status: 200},
			{at: 4 * time.Second, status: 429, retry: "6"}, // the +0 request leaves at +10s
			{at: 9500 * ms, status: 429, retry: "1"},       // 0.5s rounds up to 1
			{at: 10 * time.Second, status: 200},            // +0 has left
			{at: 10500 * ms, status: 429, retry: "3"},      // +3s leaves at +13s: 2.5s rounds up
			{at: 13 * time.Second, status: 200},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			f := newFixture(t, Config{Now: clk.Now, InstanceLimit: 2, InstanceWindow: 10 * time.Second, Sliding: tt.sliding})
			f.s.AddUser("user_1", nil, nil, nil)
			runSteps(t, f, clk, tt.steps)
			if st := f.s.Stats(); st.InstanceLimited != 3 || st.RateLimited != 3 || st.UserLimited != 0 || len(st.Faults) != 0 {
				t.Errorf("stats: %+v, want 3 instance-limited", st)
			}
		})
	}
}

func TestInstanceLimitCountsAuthenticatedRequestsOnly(t *testing.T) {
	t.Parallel()
	clk := &clock{t: epoch}
	f := newFixture(t, Config{Now: clk.Now, InstanceLimit: 1})
	for range 3 {
		checkError(t, f.do(t, "GET", "/v1/users", "", header("Authorization", "Bearer nope")), 401, "clerk_key_invalid", "")
		checkError(t, f.do(t, "GET", "/v1/users", "", header("Clerk-API-Version", "1999-01-01")), 400, "api_version_invalid", "")
		if r := f.do(t, "GET", "/_emulator/stats", ""); r.status != 200 {
			t.Fatalf("stats: %d", r.status)
		}
	}
	checkError(t, f.do(t, "GET", "/v1/nothing", ""), 404, "resource_not_found", "") // routed after the limit: counts
	checkError(t, f.do(t, "GET", "/v1/users", ""), 429, "too_many_requests", "")
}

func TestUserLimit(t *testing.T) {
	t.Parallel()
	const a, b = "/v1/users/user_1/metadata", "/v1/users/user_2/metadata"
	tests := []struct {
		name    string
		sliding bool
		steps   []step
		limited int64
	}{
		{"fixed", false, []step{
			{at: 1 * time.Second, path: a, status: 200},
			{at: 2 * time.Second, path: a, status: 200},
			{at: 2 * time.Second, status: 200}, // reads do not count
			{at: 3 * time.Second, path: a, status: 429, retry: "7"},
			{at: 3 * time.Second, path: b, status: 200}, // per user
			{at: 10 * time.Second, path: a, status: 200},
		}, 1},
		{"sliding", true, []step{
			{at: 1 * time.Second, path: a, status: 200},
			{at: 2 * time.Second, path: a, status: 200},
			{at: 3 * time.Second, path: a, status: 429, retry: "8"}, // +1s leaves at +11s
			{at: 3 * time.Second, path: b, status: 200},
			{at: 10 * time.Second, path: a, status: 429, retry: "1"},
			{at: 11 * time.Second, path: a, status: 200},
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			f := newFixture(t, Config{Now: clk.Now, UserLimit: 2, Sliding: tt.sliding})
			f.s.AddUser("user_1", nil, nil, nil)
			f.s.AddUser("user_2", nil, nil, nil)
			// A write that fails validation does not use up the user's allowance.
			clk.Set(epoch)
			checkError(t, f.do(t, "PUT", a, `{"x":1}`), 422, "form_param_unknown", "x")
			runSteps(t, f, clk, tt.steps)
			if st := f.s.Stats(); st.UserLimited != tt.limited || st.InstanceLimited != 0 {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

// TestUserLimitCountsPatch checks that PATCH metadata shares the per-user allowance.
func TestUserLimitCountsPatch(t *testing.T) {
	t.Parallel()
	clk := &clock{t: epoch}
	f := newFixture(t, Config{Now: clk.Now, UserLimit: 1})
	f.s.AddUser("user_1", nil, nil, nil)
	if r := f.do(t, "PATCH", "/v1/users/user_1/metadata", `{"public_metadata":{"a":1}}`); r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	checkError(t, f.do(t, "PUT", "/v1/users/user_1/metadata", `{}`), 429, "too_many_requests", "")
	if st := f.s.Stats(); st.ByMethod["PATCH"] != 1 || st.WritesApplied != 1 {
		t.Errorf("stats: %+v", st)
	}
}

// TestOverlap holds one PUT in flight and checks that a second PUT for the same user is
// counted as an overlap, while PUTs for other users and sequential PUTs are not.
func TestOverlap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	for _, id := range []string{"user_1", "user_2"} {
		f.s.AddUser(id, nil, nil, nil)
	}
	held, release := make(chan struct{}), make(chan struct{})
	f.s.SetFault(func(r *http.Request) Fault {
		if r.Header.Get("X-Hold") != "" {
			close(held)
			<-release
		}
		return FaultNone
	})
	put := func(id string, edit ...func(*http.Request)) {
		r := f.do(t, "PUT", "/v1/users/"+id+"/metadata", `{"public_metadata":{}}`, edit...)
		if r.status != 200 {
			t.Errorf("PUT %s: %d", id, r.status)
		}
	}
	put("user_1")
	put("user_1")
	if st := f.s.Stats(); st.UserOverlaps != 0 || st.MaxUserInFlight != 1 {
		t.Fatalf("sequential PUTs: %+v", st)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err := f.send(t.Context(), "PUT", "/v1/users/user_1/metadata", `{}`, header("X-Hold", "1"))
		if err != nil || r.status != 200 {
			t.Errorf("held PUT: %v %d", err, r.status)
		}
	}()
	<-held
	put("user_2")
	if st := f.s.Stats(); st.UserOverlaps != 0 {
		t.Fatalf("PUT for another user counted as overlap: %+v", st)
	}
	put("user_1")
	close(release)
	<-done
	st := f.s.Stats()
	if st.UserOverlaps != 1 || st.MaxUserInFlight != 2 || st.MaxInFlight != 2 {
		t.Errorf("stats: %+v, want 1 overlap, 2 in flight for one user", st)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	// Before the zero of Unix time, fixed windows still align to multiples of the window.
	var w window
	at := time.Unix(-15, 0)
	if ok, _ := w.take(at, 1, 10*time.Second, false); !ok {
		t.Fatal("first request refused")
	}
	if ok, wait := w.take(at, 1, 10*time.Second, false); ok || wait != 5*time.Second {
		t.Errorf("second request: %v, wait %v, want refused, 5s", ok, wait)
	}
	for _, tt := range []struct {
		wait time.Duration
		want int64
	}{{0, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {10 * time.Second, 10}} {
		if got := retryAfter(tt.wait); got != tt.want {
			t.Errorf("retryAfter(%v) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}

func ExampleServer() {
	s := New(Config{Keys: []string{"sk_test_example"}})
	defer s.Close()
	s.AddUser("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk", json.RawMessage(`{"plan":"free"}`), nil, nil)
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	req, _ := http.NewRequest("PUT", base+"/v1/users/user_2xhFjEI5X2qWRvtV13BzSj8H6Dk/metadata",
		strings.NewReader(`{"public_metadata":{"plan":"pro"}}`))
	req.Header.Set("Authorization", "Bearer sk_test_example")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	u, _ := s.User("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk")
	fmt.Println(resp.StatusCode, string(u.Public), s.Stats().WritesApplied)
	// Output: 200 {"plan":"pro"} 1
}

// TestSequentialWritesNeverOverlap checks that a request is counted as finished before its
// answer leaves: a client that waits for each answer must never be seen overlapping, and
// Stats read right after an answer must include it.
func TestSequentialWritesNeverOverlap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	// Larger than net/http's response buffer, so the answer leaves before the handler returns.
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", 10<<10) + `"}`)
	f.s.AddUser("user_1", nil, big, nil)
	for i := range 300 {
		if r := f.do(t, "PUT", "/v1/users/user_1/metadata", `{"public_metadata":{}}`); r.status != 200 {
			t.Fatalf("PUT: %d", r.status)
		}
		if st := f.s.Stats(); st.ByStatus[200] != int64(i+1) || st.UserOverlaps != 0 || st.InFlight != 0 {
			t.Fatalf("after %d sequential PUTs: %+v", i+1, st)
		}
	}
}

// aligned returns the first time at or after epoch that is a multiple of d from the Unix
// epoch, where fixed windows of length d start.
func aligned(d time.Duration) time.Time {
	u, n := epoch.UnixNano(), int64(d)
	return time.Unix(0, (u+n-1)/n*n).UTC()
}

// TestLimitShapesOverTime drives each shape with a request every eighth of a window for three
// windows, a limit of 4 per window, for windows of 1s, 7s and 60s, and counts what gets
// through and the first Retry-After.
func TestLimitShapesOverTime(t *testing.T) {
	t.Parallel()
	// admitted lists, by attempt number (0..23), the attempts let through.
	fixed := []int{0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19}
	// The token bucket starts full (4) and refills one token every two attempts.
	bucket4 := []int{0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22}
	bucket1 := []int{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22}
	tests := []struct {
		shape    LimitShape
		sliding  bool // through the old Config.Sliding instead of the shape
		window   time.Duration
		burst    int
		admitted []int
		retry    string // Retry-After of the first refusal
	}{
		{LimitDefault, false, time.Second, 0, fixed, "1"},
		{LimitFixed, false, 7 * time.Second, 0, fixed, "4"}, // attempt 4 at 3.5s: the window ends at 7s
		{LimitFixed, false, 60 * time.Second, 0, fixed, "30"},
		{LimitSliding, false, time.Second, 0, fixed, "1"},
		{LimitDefault, true, 7 * time.Second, 0, fixed, "4"}, // attempt 0 leaves at 7s: 3.5s
		{LimitSliding, false, 60 * time.Second, 0, fixed, "30"},
		{LimitTokenBucket, false, time.Second, 0, bucket4, "1"},
		{LimitTokenBucket, false, 7 * time.Second, 4, bucket4, "1"},  // attempt 7: half a token short, 875ms
		{LimitTokenBucket, false, 60 * time.Second, 0, bucket4, "8"}, // 7.5s
		{LimitTokenBucket, false, 7 * time.Second, 1, bucket1, "1"},  // one second's worth of 4 per 7s
		{LimitTokenBucket, false, 60 * time.Second, 1, bucket1, "8"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%v/burst %d", tt.shape, tt.window, tt.burst), func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			f := newFixture(t, Config{Now: clk.Now, InstanceLimit: 4, InstanceWindow: tt.window,
				InstanceShape: tt.shape, InstanceBurst: tt.burst, Sliding: tt.sliding})
			base := aligned(tt.window)
			var got []int
			retry := ""
			for k := range 24 {
				clk.Set(base.Add(time.Duration(k) * tt.window / 8))
				r := f.do(t, "GET", "/v1/users", "")
				switch r.status {
				case 200:
					got = append(got, k)
				case 429:
					if retry == "" {
						retry = r.header.Get("Retry-After")
					}
				default:
					t.Fatalf("attempt %d: status %d: %s", k, r.status, r.body)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.admitted) || retry != tt.retry {
				t.Errorf("admitted %v, first Retry-After %q; want %v, %q", got, retry, tt.admitted, tt.retry)
			}
			if st := f.s.Stats(); st.InstanceLimited != int64(24-len(tt.admitted)) {
				t.Errorf("%d instance-limited, want %d", st.InstanceLimited, 24-len(tt.admitted))
			}
		})
	}
}

// TestTokenBucketExact checks the bucket's arithmetic where a token is not a whole number of
// nanoseconds: 3 per 10s is one every 3333333333.3ns.
func TestTokenBucketExact(t *testing.T) {
	t.Parallel()
	r := newRule(LimitTokenBucket, false, 3, 10*time.Second, 0)
	var w window
	at := func(ns int64) time.Time { return epoch.Add(time.Duration(ns)) }
	for i := range 3 {
		if ok, _ := w.admit(at(0), r); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	for _, tt := range []struct {
		ns   int64
		ok   bool
		wait time.Duration
	}{
		{0, false, 3333333334},
		{3333333333, false, 1},
		{3333333334, true, 0},
		{3333333334, false, 3333333333}, // 2 units of credit were left over
		{1 << 62, true, 0},              // a long idle spell refills it without overflowing
		{1 << 62, true, 0},
		{1 << 62, true, 0},
		{1 << 62, false, 3333333334},
	} {
		ok, wait := w.admit(at(tt.ns), r)
		if ok != tt.ok || wait != tt.wait {
			t.Errorf("at +%dns: %v, wait %v; want %v, %v", tt.ns, ok, wait, tt.ok, tt.wait)
		}
	}
}

func TestUserLimitTokenBucket(t *testing.T) {
	t.Parallel()
	clk := &clock{t: epoch}
	f := newFixture(t, Config{Now: clk.Now, UserLimit: 10, UserShape: LimitTokenBucket, UserBurst: 2})
	f.s.AddUser("user_1", nil, nil, nil)
	const a = "/v1/users/user_1/metadata"
	runSteps(t, f, clk, []step{
		{at: 0, path: a, status: 200},
		{at: 0, path: a, status: 200},
		{at: 0, path: a, status: 429, retry: "1"}, // a token a second
		{at: 999 * time.Millisecond, path: a, status: 429, retry: "1"},
		{at: time.Second, path: a, status: 200},
		{at: time.Minute, path: a, status: 200}, // refilled to the burst, no more
		{at: time.Minute, path: a, status: 200},
		{at: time.Minute, path: a, status: 429, retry: "1"},
	})
}

func TestLimitConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		want string // "" = valid
	}{
		{Config{InstanceLimit: 100, InstanceShape: LimitTokenBucket, InstanceBurst: 10}, ""},
		{Config{InstanceLimit: 100, InstanceShape: LimitTokenBucket, InstanceBurst: 100}, ""},
		{Config{InstanceLimit: 100, InstanceShape: LimitTokenBucket, InstanceBurst: 9},
			"instance burst is 9, want one second's worth to one window's worth: 10 to 100"},
		{Config{InstanceLimit: 100, InstanceShape: LimitTokenBucket, InstanceBurst: 101},
			"instance burst is 101, want one second's worth to one window's worth: 10 to 100"},
		{Config{UserLimit: 10, UserWindow: time.Minute, UserShape: LimitTokenBucket, UserBurst: 1}, ""},
		{Config{UserLimit: 10, UserShape: LimitFixed, UserBurst: 5}, "user burst is set, but the shape is not token-bucket"},
		{Config{InstanceLimit: 1, InstanceShape: LimitFixed, Sliding: true}, "instance shape is fixed, but Sliding is set"},
		{Config{InstanceLimit: 1, InstanceShape: LimitSliding, Sliding: true}, ""},
		{Config{InstanceShape: 9}, "instance shape: unknown shape 9"},
		{Config{UserWindow: -1}, "user window is negative"},
		{Config{BackgroundLoad: 1}, "background load needs an instance limit"},
		{Config{InstanceLimit: 1, BackgroundLoad: -1}, "background load is -1 requests per second, want 0 to 1e9"},
		{Config{LateDelay: -1}, "late delay is negative"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	for s := LimitDefault; s < numShapes; s++ {
		got, err := ParseLimitShape(strings.ToUpper(s.String()))
		if err != nil || got != s {
			t.Errorf("ParseLimitShape(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseLimitShape("leaky"); err == nil {
		t.Error("ParseLimitShape(leaky) succeeded")
	}
}

// TestBackgroundLoad has another client share the instance and checks that a client that
// asks gets exactly what is left.
func TestBackgroundLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		shape LimitShape
		load  float64
		// The client asks for 10 at each of these offsets from the start; got is what it gets.
		at       []time.Duration
		got      []int
		retry    []string // Retry-After of the refusals
		bg, bgNo int64    // background requests let through and refused, in the end
	}{
		// Fixed: after its first request, the background takes one every 2s: 4 by +9s, so 5
		// are left; the next window starts with the background's own.
		{"fixed", LimitFixed, 0.5, []time.Duration{9 * time.Second, 10 * time.Second}, []int{5, 9}, []string{"1", "10"}, 5, 0},
		// Sliding: at one a second the background alone uses up the budget.
		{"sliding", LimitSliding, 1, []time.Duration{20 * time.Second}, []int{0}, []string{"1"}, 20, 0},
		// Token bucket: the background takes half the refill.
		{"token bucket", LimitTokenBucket, 0.5, []time.Duration{10 * time.Second, 20 * time.Second}, []int{9, 5}, []string{"1", "1"}, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			f := newFixture(t, Config{Now: clk.Now, InstanceLimit: 10, InstanceShape: tt.shape, BackgroundLoad: tt.load})
			base := aligned(10 * time.Second)
			clk.Set(base)
			if r := f.do(t, "GET", "/v1/users", ""); r.status != 200 { // starts the background
				t.Fatalf("first: %d", r.status)
			}
			for i, at := range tt.at {
				clk.Set(base.Add(at))
				n := 0
				for range 10 {
					if r := f.do(t, "GET", "/v1/users", ""); r.status == 200 {
						n++
					} else if r.header.Get("Retry-After") != tt.retry[i] {
						t.Errorf("+%v: Retry-After %q, want %s", at, r.header.Get("Retry-After"), tt.retry[i])
					}
				}
				if n != tt.got[i] {
					t.Errorf("+%v: the client got %d, want %d", at, n, tt.got[i])
				}
			}
			if st := f.s.Stats(); st.Background != tt.bg || st.BackgroundLimited != tt.bgNo || st.Requests != int64(1+10*len(tt.at)) {
				t.Errorf("stats: %d background let through, %d refused, %d requests; want %d, %d", st.Background, st.BackgroundLimited, st.Requests, tt.bg, tt.bgNo)
			}
		})
	}
}

func TestConsumeInstance(t *testing.T) {
	t.Parallel()
	clk := &clock{t: aligned(10 * time.Second)}
	f := newFixture(t, Config{Now: clk.Now, InstanceLimit: 10})
	if n := f.s.ConsumeInstance(6); n != 6 {
		t.Errorf("ConsumeInstance(6) = %d", n)
	}
	noAuth := header("Authorization", "")
	if r := f.do(t, "POST", "/_emulator/consume?n=3", "", noAuth); r.status != 200 || string(r.body) != `{"taken":3}`+"\n" {
		t.Errorf("consume 3: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v1/users", ""); r.status != 200 {
		t.Errorf("the last one: %d", r.status)
	}
	checkError(t, f.do(t, "GET", "/v1/users", ""), 429, "too_many_requests", "")
	if r := f.do(t, "POST", "/_emulator/consume?n=5", "", noAuth); string(r.body) != `{"taken":0}`+"\n" {
		t.Errorf("consume when none is left: %s", r.body)
	}
	for _, q := range []string{"", "?n=0", "?n=x"} {
		if r := f.do(t, "POST", "/_emulator/consume"+q, "", noAuth); r.status != 400 {
			t.Errorf("consume%s: %d, want 400", q, r.status)
		}
	}
	if st := f.s.Stats(); st.Background != 9 || st.BackgroundLimited != 1 || st.Requests != 2 {
		t.Errorf("stats %+v", st)
	}
	if n := New(Config{}).ConsumeInstance(5); n != 5 {
		t.Errorf("unlimited: ConsumeInstance(5) = %d, want 5", n)
	}
}
