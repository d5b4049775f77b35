package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault       Fault
		status      int // 0: the client sees no answer
		contentType string
		trace       bool   // a Clerk-Trace-Id header
		retry       string // Retry-After
		code        string // Clerk error code, for JSON answers
		applied     bool
	}{
		{Fault500, 500, "application/json", true, "", "internal_clerk_error", false},
		{Fault502HTML, 502, "text/html; charset=utf-8", false, "", "", false},
		{Fault503, 503, "text/plain; charset=utf-8", false, "1", "", false},
		{Fault429, 429, "application/json", true, "1", "too_many_requests", false},
		{Fault429Text, 429, "text/plain; charset=utf-8", false, "1", "", false},
		{FaultApplyThen500, 500, "application/json", true, "", "internal_clerk_error", true},
		{FaultDrop, 0, "", false, "", "", false},
		{FaultHang, 0, "", false, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Config{})
			f.s.AddUser("user_f", json.RawMessage(`{"old":1}`), nil, nil)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f.s.SetFault(func(*http.Request) Fault {
				if tt.fault == FaultHang {
					cancel() // the client gives up while the request hangs
				}
				return tt.fault
			})
			r, err := f.send(ctx, "PUT", "/v1/users/user_f/metadata", `{"public_metadata":{"new":1}}`)
			switch {
			case tt.status == 0 && err == nil:
				t.Fatalf("got an answer %d %s, want none", r.status, r.body)
			case tt.fault == FaultHang && !errors.Is(err, context.Canceled):
				t.Fatalf("err = %v, want context.Canceled", err)
			case tt.status != 0 && err != nil:
				t.Fatal(err)
			case tt.status != 0 && r.status != tt.status:
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != 0 {
				if got := r.header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type %q, want %q", got, tt.contentType)
				}
				if got := r.header.Get("Clerk-Trace-Id") != ""; got != tt.trace {
					t.Errorf("Clerk-Trace-Id present: %v, want %v", got, tt.trace)
				}
				if got := r.header.Get("Retry-After"); got != tt.retry {
					t.Errorf("Retry-After %q, want %q", got, tt.retry)
				}
				if tt.code != "" {
					checkError(t, r, tt.status, tt.code, "")
				} else if strings.HasPrefix(string(r.body), "{") {
					t.Errorf("a proxy's answer looks like JSON: %s", r.body)
				}
			}
			u, _ := f.s.User("user_f")
			if applied := string(u.Public) == `{"new":1}`; applied != tt.applied {
				t.Errorf("stored %s: applied %v, want %v", u.Public, applied, tt.applied)
			}
			f.s.SetFault(nil)
			f.do(t, "GET", "/v1/users/user_f", "") // the server still answers
			f.s.Close()
			f.ts.Close() // waits for the faulted handler to finish counting
			st := f.s.Stats()
			if st.Faults[tt.fault] != 1 || len(st.Faults) != 1 || st.RateLimited != 0 || st.ByStatus[tt.status] != 1 {
				t.Errorf("stats: %+v, want one %v answered %d", st, tt.fault, tt.status)
			}
			if want := int64(btoi(tt.applied)); st.WritesApplied != want {
				t.Errorf("%d writes applied, want %d", st.WritesApplied, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestApplyThen500OnlyOnSuccess checks that FaultApplyThen500 leaves error answers alone.
func TestApplyThen500OnlyOnSuccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Faults: map[Fault]float64{FaultApplyThen500: 1}})
	checkError(t, f.do(t, "PUT", "/v1/users/user_none/metadata", `{}`), 404, "resource_not_found", "")
	checkError(t, f.do(t, "GET", "/v1/users", ""), 500, "internal_clerk_error", "")
	if st := f.s.Stats(); st.Faults[FaultApplyThen500] != 1 || st.WritesApplied != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestWaitsEndWhenClientGivesUp checks that latency and hangs end when the client hangs up:
// without that, httptest's Close would wait for the handler for an hour.
func TestWaitsEndWhenClientGivesUp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"latency", Config{Latency: time.Hour}},
		{"hang", Config{Faults: map[Fault]float64{FaultHang: 1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(tt.cfg)
			arrived := make(chan struct{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				s.ServeHTTP(w, r)
			}))
			f := &fixture{s: s, ts: ts, client: ts.Client()}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := f.send(ctx, "PUT", "/v1/users/user_1/metadata", `{"public_metadata":{}}`)
				errc <- err
			}()
			<-arrived
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			ts.Close() // not s.Close: the handler must end on its own
			if st := s.Stats(); st.Requests != 1 || st.ByStatus[0] != 1 || st.InFlight != 0 {
				t.Errorf("stats: %+v, want one request answered with nothing", st)
			}
		})
	}
}

func TestCloseReleasesHangs(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	base, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hung := make(chan struct{})
	s.SetFault(func(*http.Request) Fault { close(hung); return FaultHang })
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/users", nil)
		resp, err := (&http.Client{}).Do(req) // no timeout: only Close can end this
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("got an answer %d", resp.StatusCode)
		}
		errc <- err
	}()
	<-hung
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil || strings.Contains(err.Error(), "got an answer") {
		t.Errorf("client: %v, want a connection error", err)
	}
	if _, err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestFaultRollsAreSeeded(t *testing.T) {
	t.Parallel()
	faults := map[Fault]float64{Fault500: 0.3, Fault503: 0.2, Fault429: 0.1}
	run := func(seed int64) ([]string, Stats) {
		f := newFixture(t, Config{Seed: seed, Faults: faults, Jitter: time.Microsecond})
		var out []string
		for range 60 {
			r := f.do(t, "GET", "/v1/users", "")
			out = append(out, fmt.Sprint(r.status, r.header.Get("Clerk-Trace-Id")))
		}
		return out, f.s.Stats()
	}
	a, st := run(7)
	b, _ := run(7)
	c, _ := run(8)
	if strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("the same seed answered differently:\n%v\n%v", a, b)
	}
	if strings.Join(a, " ") == strings.Join(c, " ") {
		t.Errorf("different seeds answered the same: %v", a)
	}
	if st.Faults[Fault500] != st.ByStatus[500] || st.Faults[Fault503] != st.ByStatus[503] || st.Faults[Fault429] != st.ByStatus[429] {
		t.Errorf("fault counts do not match statuses: %+v", st)
	}
	for _, code := range []int{200, 429, 500, 503} {
		if st.ByStatus[code] == 0 {
			t.Errorf("no %d in 60 requests: %+v", code, st.ByStatus)
		}
	}
}

func TestHookOverridesRolls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Faults: map[Fault]float64{Fault500: 1}})
	f.s.SetFault(func(r *http.Request) Fault {
		if r.Method == "GET" {
			return Fault503
		}
		return FaultNone // falls back to the configured roll
	})
	if r := f.do(t, "GET", "/v1/users", ""); r.status != 503 {
		t.Errorf("GET: %d, want 503", r.status)
	}
	if r := f.do(t, "PUT", "/v1/users/user_1/metadata", "{}"); r.status != 500 {
		t.Errorf("PUT: %d, want 500", r.status)
	}
}

func TestParseFault(t *testing.T) {
	t.Parallel()
	for f := FaultNone; f < numFaults; f++ {
		got, err := ParseFault(strings.ToUpper(f.String()))
		if err != nil || got != f {
			t.Errorf("ParseFault(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFault("teapot"); err == nil {
		t.Error("ParseFault(teapot) succeeded")
	}
	b, err := json.Marshal(map[Fault]int{FaultDrop: 1, Fault502HTML: 2})
	if err != nil || string(b) != `{"502-html":2,"drop":1}` {
		t.Errorf("JSON %s, %v", b, err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		want string // "" = valid
	}{
		{Config{}, ""},
		{Config{Faults: map[Fault]float64{Fault500: 0.5, FaultDrop: 0.5}}, ""},
		{Config{Faults: map[Fault]float64{Fault500: 0.7, FaultDrop: 0.5}}, "faults: probabilities sum to 1.2, more than 1"},
		{Config{Faults: map[Fault]float64{Fault500: -0.1}}, "faults: 500 has probability -0.1, want 0..1"},
		{Config{Faults: map[Fault]float64{FaultNone: 0.1}}, "faults: unknown fault 0"},
		{Config{InstanceLimit: -1}, "instance limit is negative"},
		{Config{Jitter: -1}, "latency and jitter must not be negative"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestStoreDifferent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RecordHistory: true})
	f.s.SetFault(func(r *http.Request) Fault {
		if r.Header.Get("X-Fault") != "" {
			return FaultStoreDifferent
		}
		return FaultNone
	})
	mangle := header("X-Fault", "1")
	f.s.AddUser("user_1", json.RawMessage(`{"old":1}`), json.RawMessage(`{"p":1}`), json.RawMessage(`{"u":1}`))
	tests := []struct {
		method, body string
		want         [3]string
	}{
		{"PUT", `{"public_metadata":{"a":1, "b":{"c":2}, "d":[3]},"private_metadata":{},"unsafe_metadata":null}`,
			[3]string{`{"a":1, "b":{"c":2}}`, `{"mangled":true}`, `{"mangled":true}`}},
		{"PUT", `{"public_metadata":{"only":12345678901234567890}}`,
			[3]string{`{}`, `{"mangled":true}`, `{"mangled":true}`}},
		// PATCH stores the merge result, mangled.
		{"PATCH", `{"public_metadata":{"x":1,"y":2}}`,
			[3]string{`{"x":1}`, `{"mangled":true}`, `{"mangled":true}`}},
	}
	for _, tt := range tests {
		r := f.do(t, tt.method, "/v1/users/user_1/metadata", tt.body, mangle)
		if r.status != 200 {
			t.Fatalf("%s %s: status %d: %s", tt.method, tt.body, r.status, r.body)
		}
		if got := metadataOf(t, r.body); got != tt.want {
			t.Errorf("%s %s answered\n%q, want the stored\n%q", tt.method, tt.body, got, tt.want)
		}
		if u, _ := f.s.User("user_1"); stored(u) != tt.want {
			t.Errorf("%s %s stored\n%q, want\n%q", tt.method, tt.body, stored(u), tt.want)
		}
	}
	// History keeps the bodies as sent.
	if h := f.s.History("user_1"); len(h) != 2 || string(h[1]) != tests[1].body {
		t.Errorf("History = %s", h)
	}
	// Reads and refused writes are left alone, and not counted.
	if r := f.do(t, "GET", "/v1/users/user_1", "", mangle); r.status != 200 {
		t.Errorf("GET: %d", r.status)
	}
	checkError(t, f.do(t, "PUT", "/v1/users/user_1/metadata", `{"nope":{}}`, mangle), 422, "form_param_unknown", "nope")
	if r := f.do(t, "PUT", "/v1/users/user_1/metadata", `{}`, mangle); r.status != 200 {
		t.Errorf("PUT {}: %d", r.status)
	}
	if st := f.s.Stats(); st.Faults[FaultStoreDifferent] != 3 || st.WritesApplied != 4 {
		t.Errorf("stats: %+v, want 4 writes applied, 3 of them mangled", st)
	}
}

// TestApplyLate has a write time out, the same user's next write succeed, and then the first
// write land on top of it.
func TestApplyLate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{RecordHistory: true, RecordRequests: true, UserLimit: 2})
	f.s.AddUser("user_1", json.RawMessage(`{"v":0}`), nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.s.SetFault(func(r *http.Request) Fault {
		if r.Header.Get("X-Fault") == "" {
			return FaultNone
		}
		cancel() // the client gives up while the write is held
		return FaultApplyLate
	})
	late := `{"public_metadata":{"v":1}}`
	if r, err := f.send(ctx, "PUT", "/v1/users/user_1/metadata", late, header("X-Fault", "1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("late write: %d %s, %v; want no answer", r.status, r.body, err)
	}
	// Until the delay (the default, 500ms) runs out, the write is not applied.
	if u, _ := f.s.User("user_1"); string(u.Public) != `{"v":0}` {
		t.Fatalf("applied before the delay: %s", u.Public)
	}
	next := `{"public_metadata":{"v":2}}`
	if r := f.do(t, "PUT", "/v1/users/user_1/metadata", next); r.status != 200 {
		t.Fatalf("next write: %d %s", r.status, r.body)
	}
	// The late write took its place in the per-user limit when it arrived.
	checkError(t, f.do(t, "PUT", "/v1/users/user_1/metadata", next), 429, "too_many_requests", "")
	if st := f.s.Stats(); st.LateWritesPending != 1 || st.WritesApplied != 1 {
		t.Fatalf("before the late write lands: %+v", st)
	}

	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := f.s.WaitLateWrites(wctx); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.s.User("user_1"); string(u.Public) != `{"v":1}` {
		t.Errorf("after the late write: %s, want it on top of the next one", u.Public)
	}
	if h := f.s.History("user_1"); len(h) != 2 || string(h[0]) != next || string(h[1]) != late {
		t.Errorf("History = %s, want the next write, then the late one", h)
	}
	st := f.s.Stats()
	if st.LateWritesPending != 0 || st.WritesApplied != 2 || st.Faults[FaultApplyLate] != 1 || st.ByStatus[0] != 1 {
		t.Errorf("after: %+v", st)
	}
	if req := f.s.Requests()[0]; req.Status != 0 || !req.Applied || req.Fault != FaultApplyLate {
		t.Errorf("late request logged as %+v", req)
	}
}

// TestApplyLateOtherRequests checks that a read hangs without applying anything, and that a
// write Clerk would refuse is refused as usual.
func TestApplyLateOtherRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{LateDelay: time.Millisecond})
	f.s.AddUser("user_1", json.RawMessage(`{"v":0}`), nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.s.SetFault(func(r *http.Request) Fault {
		if r.Method == "GET" {
			cancel()
		}
		return FaultApplyLate
	})
	if _, err := f.send(ctx, "GET", "/v1/users/user_1", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("GET: %v, want no answer", err)
	}
	checkError(t, f.do(t, "PUT", "/v1/users/user_missing/metadata", `{}`), 404, "resource_not_found", "")
	checkError(t, f.do(t, "PUT", "/v1/users/user_1/metadata", `{"public_metadata":1}`), 422, "form_param_value_invalid", "public_metadata")
	if err := f.s.WaitLateWrites(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.s.Close()
	f.ts.Close()
	if st := f.s.Stats(); st.Faults[FaultApplyLate] != 1 || st.WritesApplied != 0 || st.LateWritesPending != 0 {
		t.Errorf("stats: %+v, want the GET counted, nothing applied", st)
	}
}
