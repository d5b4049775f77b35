package job

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestReadsBatched: every user is read once, before its first write, in
// batches of at most 100 ids whose limit is their number; the reads cost
// about one request per hundred users.
func TestReadsBatched(t *testing.T) {
	t.Parallel()
	srv, base := startEmulator(t, emulator.Config{RecordRequests: true})
	const users = 1000
	var lines []string
	for i := range users {
		id := fmt.Sprintf("user_b%d", i)
		srv.AddUser(id, []byte(`{"old":1}`), nil, nil)
		lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":{"new":%d}}`, id, i))
		if i%10 == 0 { // a later row of the same user: compared with its write, not read again
			lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":{"new":%d,"again":true}}`, id, i))
		}
	}
	rec := newMemRecorder()
	st := mustRun(t, newJob(base, Options{Workers: 16}), ndjson(t, lines...), rec)
	if got := rec.count(reports.Succeeded); got != len(lines) {
		t.Fatalf("%d of %d rows succeeded", got, len(lines))
	}
	seen := map[string]int{}
	reads := 0
	for _, req := range srv.Requests() {
		if req.Method != http.MethodGet {
			continue
		}
		reads++
		q, err := url.ParseQuery(req.RawQuery)
		if err != nil {
			t.Fatal(err)
		}
		ids := q["user_id"]
		if len(ids) == 0 || len(ids) > 100 || q.Get("limit") != strconv.Itoa(len(ids)) || len(q) != 2 {
			t.Errorf("read %q: %d ids, limit %q", req.RawQuery, len(ids), q.Get("limit"))
		}
		for _, id := range ids {
			seen[id]++
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s read %d times", id, n)
		}
	}
	if len(seen) != users {
		t.Errorf("%d users read, want %d", len(seen), users)
	}
	// A batch goes early only when workers would idle (at the start, at
	// the end, and more on a loaded machine); the bench measures the ratio
	// (BENCHMARKS.md: reads per distinct user).
	if reads > users/10 || st.Reads != int64(reads) {
		t.Errorf("%d reads (stats %d) for %d users, want about %d", reads, st.Reads, users, users/100)
	}
	if u, _ := srv.User("user_b10"); string(u.Public) != `{"new":10,"again":true}` {
		t.Errorf("user_b10 = %s", u.Public)
	}
}

// TestUnchangedAndMissing: a row whose every field already holds its value
// is unchanged and sends no write (unless WriteUnchanged), equal as JSON
// values; a row whose user the read did not return fails with
// resource_not_found and no write.
func TestUnchangedAndMissing(t *testing.T) {
	t.Parallel()
	for _, writeUnchanged := range []bool{false, true} {
		t.Run(fmt.Sprintf("write-unchanged=%v", writeUnchanged), func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, emulator.Config{})
			srv.AddUser("user_same", []byte(`{"a":1,"b":[1,2],"n":9007199254740993}`), []byte(`null`), nil)
			srv.AddUser("user_diff", []byte(`{"a":1}`), nil, nil)
			lines := []string{
				`{"user_id":"user_same","public_metadata":{"n":9007199254740993,"b":[1,2.0],"a":1e0},"private_metadata":null}`,
				`{"user_id":"user_diff","public_metadata":{"a":2}}`,
				`{"user_id":"user_gone","public_metadata":{"a":2}}`,
				`{"user_id":"user_same","unsafe_metadata":{}}`, // a never-set field reads as {}
			}
			rec := newMemRecorder()
			mustRun(t, newJob(url, Options{Workers: 4, WriteUnchanged: writeUnchanged}), ndjson(t, lines...), rec)
			want := map[int]reports.Status{1: reports.Unchanged, 2: reports.Succeeded, 3: reports.Failed, 4: reports.Unchanged}
			wantWrites := int64(1)
			if writeUnchanged {
				want[1], want[4], wantWrites = reports.Succeeded, reports.Succeeded, 3
			}
			for n, s := range want {
				if got := rec.results[n]; got.Status != s {
					t.Errorf("row %d: %s (%s), want %s", n, got.Status, got.ErrorCode, s)
				}
			}
			if r := rec.results[3]; r.ErrorCode != CodeNotFound || r.HTTPStatus != 404 || r.Attempts != 0 {
				t.Errorf("missing user: %+v", r)
			}
			if r := rec.results[1]; !writeUnchanged && r.Attempts != 0 {
				t.Errorf("unchanged row made %d attempts", r.Attempts)
			}
			if got := srv.Stats().ByMethod["PUT"]; got != wantWrites {
				t.Errorf("%d writes sent, want %d", got, wantWrites)
			}
		})
	}
}

// TestReadFails: a read that fails after every attempt fails its rows
// with read_failed, and nothing is written for them.
func TestReadFails(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	var lines []string
	for i := range 30 {
		id := fmt.Sprintf("user_r%d", i)
		srv.AddUser(id, []byte(`{}`), nil, nil)
		lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":{"i":%d}}`, id, i))
	}
	srv.SetFault(func(r *http.Request) emulator.Fault {
		if r.Method == http.MethodGet {
			return emulator.Fault503
		}
		return emulator.FaultNone
	})
	rec := newMemRecorder()
	mustRun(t, newJob(url, Options{Workers: 4, MaxAttempts: 3}), ndjson(t, lines...), rec)
	for n := 1; n <= len(lines); n++ {
		if r := rec.results[n]; r.Status != reports.Failed || r.ErrorCode != CodeReadFailed || r.HTTPStatus != 503 {
			t.Errorf("row %d: %+v", n, r)
		}
	}
	if got := srv.Stats().ByMethod["PUT"]; got != 0 {
		t.Errorf("%d writes sent for users that could not be read", got)
	}
	if len(rec.backups) != 0 {
		t.Errorf("backups of users never read: %v", rec.backups)
	}
}

// TestBackupBeforeWrite: every field a write replaces is backed up, with
// its value as read, before the write; a user's later rows back up only
// fields not backed up yet.
func TestBackupBeforeWrite(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	srv.AddUser("user_1", []byte(`{"keep":"me","n":9007199254740993}`), []byte(`null`), []byte(`{"u":{"v":[]}}`))
	var backedBeforeWrite atomic.Bool
	backedBeforeWrite.Store(true)
	rec := newMemRecorder()
	srv.SetFault(func(r *http.Request) emulator.Fault {
		if r.Method == http.MethodPut {
			rec.mu.Lock()
			if rec.backups["user_1"][clerkapi.Public] == nil {
				backedBeforeWrite.Store(false)
			}
			rec.mu.Unlock()
		}
		return emulator.FaultNone
	})
	lines := []string{
		`{"user_id":"user_1","public_metadata":{"new":1}}`,
		`{"user_id":"user_1","public_metadata":{"new":2},"private_metadata":{}}`,
		`{"user_id":"user_1","unsafe_metadata":null}`,
	}
	mustRun(t, newJob(url, Options{Workers: 2}), ndjson(t, lines...), rec)
	b := rec.backups["user_1"]
	if string(b[clerkapi.Public]) != `{"keep":"me","n":9007199254740993}` || string(b[clerkapi.Private]) != "null" ||
		string(b[clerkapi.Unsafe]) != `{"u":{"v":[]}}` {
		t.Errorf("backed up %s / %s / %s", b[clerkapi.Public], b[clerkapi.Private], b[clerkapi.Unsafe])
	}
	if !backedBeforeWrite.Load() {
		t.Error("a write was sent before its backup")
	}
	if r := rec.results[1]; r.RemovedKeys != 2 || r.AddedKeys != 1 {
		t.Errorf("row 1 removed %d, added %d keys, want 2 and 1", r.RemovedKeys, r.AddedKeys)
	}
	if r := rec.results[2]; r.ChangedKeys != 1 || r.RemovedKeys != 0 {
		t.Errorf("row 2 (compared with row 1's write) changed %d, removed %d, want 1 and 0", r.ChangedKeys, r.RemovedKeys)
	}
}

// TestMaxRemovedKeys: the run stops before the write that would take the
// removed paths over the limit, and a resume with a higher limit finishes
// every row once.
func TestMaxRemovedKeys(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	var lines []string
	for i := range 20 {
		id := fmt.Sprintf("user_m%d", i)
		srv.AddUser(id, []byte(`{"a":1,"b":2}`), nil, nil)
		lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":{"c":3}}`, id)) // removes a and b
	}
	rec := newMemRecorder()
	st, err := newJob(url, Options{Workers: 1, LimitRemoved: true, MaxRemovedKeys: 9}).Run(t.Context(), ndjson(t, lines...), rec)
	if err == nil || !strings.Contains(err.Error(), "max-removed-keys") || st.Complete() {
		t.Fatalf("Run: %v, %+v: want a stop at the guard", err, st)
	}
	if n := srv.Stats().ByMethod["PUT"]; n != 4 {
		t.Errorf("%d writes sent, want 4 (8 keys removed; a fifth would make 10 > 9)", n)
	}
	next := rec.resume()
	mustRun(t, newJob(url, Options{Workers: 4, LimitRemoved: true, MaxRemovedKeys: 100, RemovedBefore: 8}), ndjson(t, lines...), next)
	if len(next.results) != 20 || len(next.twice) > 0 || srv.Stats().ByMethod["PUT"] != 20 {
		t.Errorf("after resume: %d results, twice %v, %d writes", len(next.results), next.twice, srv.Stats().ByMethod["PUT"])
	}
}

// TestPlanWritesNothing: a plan reads, backs up what it would replace and
// records every row's action, and sends no write.
func TestPlanWritesNothing(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	srv.AddUser("user_p1", []byte(`{"a":1}`), nil, nil)
	srv.AddUser("user_p2", []byte(`{"a":1}`), nil, nil)
	lines := []string{
		`{"user_id":"user_p1","public_metadata":{"b":1}}`,
		`{"user_id":"user_p2","public_metadata":{"a":1}}`,
		`{"user_id":"user_p3","public_metadata":{"a":1}}`,
		`{"user_id":"user_p1","public_metadata":{"b":1}}`, // unchanged after the first row would apply
		`{"user_id":"bad id","public_metadata":{}}`,
	}
	rec := newMemRecorder()
	mustRun(t, newJob(url, Options{Workers: 2, Plan: true}), ndjson(t, lines...), rec)
	want := []reports.Action{reports.ActionChange, reports.ActionUnchanged, reports.ActionNotFound, reports.ActionUnchanged}
	for i, a := range want {
		if got := rec.results[i+1].Action; got != a {
			t.Errorf("row %d: %s, want %s", i+1, got, a)
		}
	}
	if n := srv.Stats().ByMethod["PUT"]; n != 0 {
		t.Errorf("a plan sent %d writes", n)
	}
	if b := rec.backups["user_p1"]; string(b[clerkapi.Public]) != `{"a":1}` {
		t.Errorf("before of user_p1: %s", b[clerkapi.Public])
	}
}

// TestReadsInFlightFollowTheRate: a sync (every row unchanged, so nearly
// every request is a read) at a finite rate keeps enough reads in flight
// to use the rate at the reads' latency, never more than the pool's
// workers (nor maxReads); an unlimited rate keeps minReads.
func TestReadsInFlightFollowTheRate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		rate     float64
		min, max int
	}{
		{"rate 400", 400, minReads + 1, 8}, // 25 wanted, 16 at most, 8 workers
		{"unlimited", 0, 1, minReads},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := emulator.New(emulator.Config{Keys: []string{testKey}, Latency: 40 * time.Millisecond})
			var now, peak atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					n := now.Add(1)
					defer now.Add(-1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
				}
				srv.ServeHTTP(w, r)
			}))
			t.Cleanup(ts.Close)
			var lines []string
			for i := range 3000 {
				id := fmt.Sprintf("user_s%d", i)
				srv.AddUser(id, []byte(`{"same":1}`), nil, nil)
				lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":{"same":1}}`, id))
			}
			rec := newMemRecorder()
			mustRun(t, newJob(ts.URL, Options{Rate: c.rate, Workers: 8}), ndjson(t, lines...), rec)
			if got := rec.count(reports.Unchanged); got != len(lines) {
				t.Fatalf("%d of %d rows unchanged", got, len(lines))
			}
			if p := int(peak.Load()); p < c.min || p > c.max {
				t.Errorf("at most %d reads in flight, want %d to %d", p, c.min, c.max)
			}
		})
	}
}

func TestReadsInFlight(t *testing.T) {
	for _, c := range []struct {
		rate    float64
		latency time.Duration
		want    int
	}{
		{100, 0, minReads},                       // nothing measured yet
		{100, 100 * time.Millisecond, 16},        // Clerk's production limit, a slow answer
		{10, 200 * time.Millisecond, 4},          // a development instance
		{1000, 5 * time.Millisecond, 9},          // the bench's sync
		{1, 50 * time.Millisecond, minReads},     // the floor
		{5000, time.Second, maxReads},            // the ceiling
		{math.Inf(1), time.Second, minReads},     // unlimited
		{math.MaxFloat64, time.Second, minReads}, // rate.Inf
	} {
		if got := readsInFlight(c.rate, c.latency); got != c.want {
			t.Errorf("readsInFlight(%g, %v) = %d, want %d", c.rate, c.latency, got, c.want)
		}
	}
}
