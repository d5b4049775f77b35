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
