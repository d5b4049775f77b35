package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/clerkapi/emulator/emulatortest"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

const testKey = "sk_test_jobtestkey0123456789"

// startEmulator serves an emulator on loopback that accepts testKey.
func startEmulator(t testing.TB, cfg emulator.Config) (*emulator.Server, string) {
	t.Helper()
	return emulatortest.Start(t, testKey, cfg)
}

// memRecorder keeps results in memory and notices a row recorded twice.
type memRecorder struct {
	mu       sync.Mutex
	prior    map[int]bool
	results  map[int]reports.Result
	twice    []int
	onRecord func(n int)
	// failAfter, when positive, makes every Record after that many fail,
	// as a full disk does.
	failAfter int
	refused   int
	// backups are the prior values backed up, by user and field, first
	// one kept: a second backup of a field is a bug, counted in rebacked.
	backups  map[string]clerkapi.Metadata
	rebacked int
}

func (m *memRecorder) Backup(id string, prior clerkapi.Metadata) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.backups == nil {
		m.backups = map[string]clerkapi.Metadata{}
	}
	b := m.backups[id]
	for f, v := range prior {
		switch {
		case v == nil:
		case b[f] != nil:
			// The writer skips fields it has; a test recorder keeps the
			// first, as the writer does.
		default:
			b[f] = v
		}
	}
	m.backups[id] = b
	return nil
}

func newMemRecorder() *memRecorder {
	return &memRecorder{prior: map[int]bool{}, results: map[int]reports.Result{}}
}

func (m *memRecorder) Seen(n int, _ []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prior[n]
}

func (m *memRecorder) Record(r reports.Result, _ []byte) error {
	m.mu.Lock()
	if m.failAfter > 0 && len(m.results) >= m.failAfter {
		m.refused++
		m.mu.Unlock()
		return errors.New("write results.csv: no space left on device")
	}
	if _, dup := m.results[r.Row]; dup || m.prior[r.Row] {
		m.twice = append(m.twice, r.Row)
	}
	m.results[r.Row] = r
	n := len(m.results)
	hook := m.onRecord
	m.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return nil
}

// resume makes a recorder for the next session: everything recorded so far
// is prior.
func (m *memRecorder) resume() *memRecorder {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := newMemRecorder()
	for n := range m.prior {
		next.prior[n] = true
	}
	for n, r := range m.results {
		next.prior[n] = true
		next.results[n] = r
	}
	return next
}

func (m *memRecorder) count(s reports.Status) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.results {
		if r.Status == s {
			n++
		}
	}
	return n
}

func ndjson(t testing.TB, lines ...string) input.Reader {
	t.Helper()
	return input.NewNDJSON(strings.NewReader(strings.Join(lines, "\n")+"\n"), "test.ndjson")
}

func newJob(url string, o Options) *Job {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Backoff == 0 {
		o.Backoff = 20 * time.Millisecond
	}
	return &Job{
		Client:  clerkapi.NewClient(clerkapi.ClientOptions{BaseURL: url, Key: testKey, UserAgent: "replace-metadata/test"}),
		Log:     zerolog.Nop(),
		Options: o,
	}
}

func mustRun(t *testing.T, j *Job, rows input.Reader, rec Recorder) Stats {
	t.Helper()
	st, err := j.Run(context.Background(), rows, rec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !st.Complete() {
		t.Fatalf("run not complete: %+v", st)
	}
	return st
}

// sameJSON: see emulatortest.SameJSON.
var sameJSON = emulatortest.SameJSON

// TestReplaceSemantics runs every combination of absent, null and {} for
// the three fields, plus awkward values, and checks what the emulator
// stored against what each row should have produced.
func TestReplaceSemantics(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	seed := [3]json.RawMessage{json.RawMessage(`{"old":"public"}`), json.RawMessage(`{"old":"private"}`), json.RawMessage(`{"old":"unsafe"}`)}
	values := []string{"", "null", "{}", `{"n":9007199254740993,"deep":{"a":[1,{"b":null}],"z":"\u00e9😀<&>"},"f":1.0e2}`}
	var lines []string
	want := map[string][3]string{}
	i := 0
	for _, pub := range values {
		for _, priv := range values {
			for _, uns := range values {
				i++
				id := fmt.Sprintf("user_combo%d", i)
				srv.AddUser(id, seed[0], seed[1], seed[2])
				fields := []string{`"user_id":"` + id + `"`}
				w := [3]string{string(seed[0]), string(seed[1]), string(seed[2])}
				for k, v := range []string{pub, priv, uns} {
					if v == "" {
						continue
					}
					fields = append(fields, fmt.Sprintf("%q:%s", []string{"public_metadata", "private_metadata", "unsafe_metadata"}[k], v))
					w[k] = v
				}
				if pub == "" && priv == "" && uns == "" {
					continue // a row with no field is invalid; covered elsewhere
				}
				lines = append(lines, "{"+strings.Join(fields, ",")+"}")
				want[id] = w
			}
		}
	}
	rec := newMemRecorder()
	mustRun(t, newJob(url, Options{Rate: 0, Workers: 8}), ndjson(t, lines...), rec)
	if got := rec.count(reports.Succeeded); got != len(lines) {
		t.Fatalf("%d rows succeeded, want %d", got, len(lines))
	}
	for id, w := range want {
		u, ok := srv.User(id)
		if !ok {
			t.Fatalf("user %s missing", id)
		}
		for k, got := range [][]byte{u.Public, u.Private, u.Unsafe} {
			if !sameJSON(got, []byte(w[k])) {
				t.Errorf("%s field %d = %s, want %s", id, k, got, w[k])
			}
		}
	}
}

// TestPerUserOrder sends twenty rows for one user among others: they must
// be applied in input order, one at a time, without drawing a 429.
func TestPerUserOrder(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{
		RecordHistory: true, UserLimit: 10, UserWindow: time.Second,
		Latency: 5 * time.Millisecond, Jitter: 10 * time.Millisecond,
	})
	const one = "user_busy"
	srv.AddUser(one, nil, nil, nil)
	var lines []string
	for i := 1; i <= 20; i++ {
		lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":{"seq":%d}}`, one, i))
		other := fmt.Sprintf("user_other%d", i)
		srv.AddUser(other, nil, nil, nil)
		lines = append(lines, fmt.Sprintf(`{"user_id":%q,"public_metadata":{"seq":%d}}`, other, i))
	}
	rec := newMemRecorder()
	st := mustRun(t, newJob(url, Options{Workers: 16, UserWindow: time.Second}), ndjson(t, lines...), rec)
	if st.Duplicates != 19 {
		t.Errorf("Duplicates = %d, want 19", st.Duplicates)
	}
	hist := srv.History(one)
	if len(hist) != 20 {
		t.Fatalf("%d writes applied for %s, want 20", len(hist), one)
	}
	for i, body := range hist {
		if want := fmt.Sprintf(`{"public_metadata":{"seq":%d}}`, i+1); string(body) != want {
			t.Errorf("write %d = %s, want %s", i+1, body, want)
		}
	}
	stats := srv.Stats()
	if stats.MaxUserInFlight > 1 || stats.UserOverlaps > 0 {
		t.Errorf("writes for one user overlapped: max in flight %d, overlaps %d", stats.MaxUserInFlight, stats.UserOverlaps)
	}
	if stats.RateLimited > 0 {
		t.Errorf("%d requests were rate limited, want none", stats.RateLimited)
	}
}

// TestRetriesUnderFaults injects every fault at random: every row still
// succeeds, once, and the store is right.
func TestRetriesUnderFaults(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{
		AutoCreate: true, Seed: 7,
		Faults: map[emulator.Fault]float64{
			emulator.Fault500: 0.05, emulator.Fault502HTML: 0.05, emulator.Fault503: 0.04,
			emulator.FaultDrop: 0.04, emulator.FaultHang: 0.03, emulator.FaultApplyThen500: 0.05,
			emulator.Fault429: 0.02, emulator.Fault429Text: 0.02,
		},
	})
	const n = 300
	var lines []string
	for i := 1; i <= n; i++ {
		lines = append(lines, fmt.Sprintf(`{"user_id":"user_f%d","private_metadata":{"i":%d}}`, i, i))
	}
	rec := newMemRecorder()
	st := mustRun(t, newJob(url, Options{Workers: 16, MaxAttempts: 12, Timeout: 300 * time.Millisecond}), ndjson(t, lines...), rec)
	if got := rec.count(reports.Succeeded); got != n {
		for _, r := range rec.results {
			if r.Status != reports.Succeeded {
				t.Logf("row %d: %+v", r.Row, r)
			}
		}
		t.Fatalf("%d of %d rows succeeded", got, n)
	}
	if len(rec.twice) > 0 {
		t.Errorf("rows recorded twice: %v", rec.twice)
	}
	if st.Retries == 0 {
		t.Error("no retries: the faults did not happen")
	}
	for i := 1; i <= n; i++ {
		u, _ := srv.User(fmt.Sprintf("user_f%d", i))
		if want := fmt.Sprintf(`{"i":%d}`, i); string(u.Private) != want {
			t.Errorf("user_f%d private = %s, want %s", i, u.Private, want)
		}
	}
	for _, r := range rec.results {
		if r.Attempts < 1 || r.Attempts > 12 {
			t.Errorf("row %d: %d attempts", r.Row, r.Attempts)
		}
	}
}

func TestPermanentFailures(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{MaxFieldBytes: 64})
	srv.AddUser("user_known", nil, nil, nil)
	rec := newMemRecorder()
	st := mustRun(t, newJob(url, Options{Workers: 4}), ndjson(t,
		`{"user_id":"user_missing","public_metadata":{}}`,
		`{"user_id":"user_known","public_metadata":{"big":"`+strings.Repeat("x", 100)+`"}}`,
		`{"user_id":"user_known","public_metadata":{"ok":1}}`,
		`{"user_id":"user_known","public_metdata":{}}`,
	), rec)
	want := map[int]struct {
		status reports.Status
		http   int
		code   string
	}{
		1: {reports.Failed, 404, "resource_not_found"},
		2: {reports.Failed, 422, "form_param_exceeds_allowed_size"},
		3: {reports.Succeeded, 200, ""},
		4: {reports.Invalid, 0, input.CodeUnknownField},
	}
	for n, w := range want {
		r := rec.results[n]
		if r.Status != w.status || r.HTTPStatus != w.http || r.ErrorCode != w.code {
			t.Errorf("row %d: %s %d %q, want %s %d %q", n, r.Status, r.HTTPStatus, r.ErrorCode, w.status, w.http, w.code)
		}
		// The read finds the missing user: no write, no attempt.
		if r.Status == reports.Failed && n > 1 && (r.Attempts != 1 || r.ErrorMessage == "" || r.TraceID == "") {
			t.Errorf("row %d: attempts %d, message %q, trace %q: want 1 attempt, a message and a trace id", n, r.Attempts, r.ErrorMessage, r.TraceID)
		}
		if n == 1 && (r.Attempts != 0 || !strings.Contains(r.ErrorMessage, "user_missing")) {
			t.Errorf("missing user: attempts %d, message %q: want none, and the id named", r.Attempts, r.ErrorMessage)
		}
	}
	if st.Retries != 0 {
		t.Errorf("%d retries of errors that cannot succeed", st.Retries)
	}
}

// TestWrongKey: a rejected key stops the run after one request, not one
// per row, and marks no row failed.
func TestWrongKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  emulator.Config
	}{
		{"401", emulator.Config{Keys: []string{"sk_test_someotherkey"}, AutoCreate: true}},
		{"403", emulator.Config{Keys: []string{"sk_test_someotherkey"}, ForbiddenKeys: []string{testKey}, AutoCreate: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, tt.cfg)
			var lines []string
			for i := range 200 {
				lines = append(lines, fmt.Sprintf(`{"user_id":"user_k%d","public_metadata":{}}`, i))
			}
			lines = append(lines[:3], append([]string{`{"user_id":"bad id","public_metadata":{}}`}, lines[3:]...)...)
			rec := newMemRecorder()
			st, err := newJob(url, Options{Workers: 16}).Run(context.Background(), ndjson(t, lines...), rec)
			var se *StopError
			if !errors.As(err, &se) || !strings.Contains(se.Reason, "secret key") {
				t.Fatalf("Run error = %v, want a StopError about the key", err)
			}
			if got := srv.Stats().Requests; got > 2 {
				t.Errorf("%d requests sent with a wrong key, want 1", got)
			}
			if f := rec.count(reports.Failed); f > 0 {
				t.Errorf("%d rows marked failed for a wrong key", f)
			}
			if st.Complete() {
				t.Error("run complete after a wrong key")
			}
		})
	}
}

// TestCircuitBreaker: when every row fails after every retry, the run
// stops instead of burning through the file: blind writes, or reads (a
// failed read fails each of its rows).
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	for _, noRead := range []bool{true, false} {
		t.Run(fmt.Sprintf("no-read=%v", noRead), func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, emulator.Config{AutoCreate: true, Faults: map[emulator.Fault]float64{emulator.Fault502HTML: 1}})
			var lines []string
			for i := range 500 {
				lines = append(lines, fmt.Sprintf(`{"user_id":"user_b%d","public_metadata":{}}`, i))
			}
			rec := newMemRecorder()
			_, err := newJob(url, Options{Workers: 4, MaxAttempts: 2, Breaker: 10, NoRead: noRead}).Run(context.Background(), ndjson(t, lines...), rec)
			var se *StopError
			if !errors.As(err, &se) || !strings.Contains(se.Reason, "circuit breaker") {
				t.Fatalf("Run error = %v, want the circuit breaker", err)
			}
			failed, least, most := rec.count(reports.Failed), 10, 20
			if !noRead {
				// The first read goes alone, then a batch of 100 trips it:
				// its rows (and maybe the first one) are left for a resume.
				least, most = 0, 1+100
			}
			if failed < least || failed > most || srv.Stats().Requests > int64(2*most) {
				t.Errorf("%d rows failed, %d requests before the breaker opened, want %d to %d rows", failed, srv.Stats().Requests, least, most)
			}
			for _, r := range rec.results {
				if r.HTTPStatus != 502 || !strings.Contains(r.ErrorMessage, "502 Bad Gateway") ||
					noRead && r.ErrorCode != "http_502" || !noRead && r.ErrorCode != CodeReadFailed {
					t.Errorf("row %d: %d %q %q, want the proxy's 502 kept", r.Row, r.HTTPStatus, r.ErrorCode, r.ErrorMessage)
					break
				}
			}
		})
	}
}

// TestRateAboveLimit: a rate twice the server's limit still finishes, with
// few 429s; a rate under the limit draws none.
func TestRateAboveLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		rate     float64
		max429   float64 // share of requests
		sliding  bool
		rows     int
		attempts int
	}{
		{"under the limit", 15, 0, false, 60, 5},
		{"twice the limit, fixed window", 40, 0.1, false, 120, 10},
		{"twice the limit, sliding window", 40, 0.1, true, 120, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, url := startEmulator(t, emulator.Config{AutoCreate: true, InstanceLimit: 20, InstanceWindow: time.Second, Sliding: tt.sliding})
			var lines []string
			for i := range tt.rows {
				lines = append(lines, fmt.Sprintf(`{"user_id":"user_r%d","public_metadata":{"i":%d}}`, i, i))
			}
			rec := newMemRecorder()
			mustRun(t, newJob(url, Options{Rate: tt.rate, Workers: 8, MaxAttempts: tt.attempts}), ndjson(t, lines...), rec)
			if got := rec.count(reports.Succeeded); got != tt.rows {
				t.Fatalf("%d of %d rows succeeded", got, tt.rows)
			}
			st := srv.Stats()
			share := float64(st.RateLimited) / float64(st.Requests)
			if share > tt.max429 {
				t.Errorf("%d of %d requests got 429 (%.1f%%), want at most %.0f%%", st.RateLimited, st.Requests, 100*share, 100*tt.max429)
			}
		})
	}
}

// TestStopAndResume stops a run midway, as SIGTERM does, then resumes it:
// every row ends with exactly one outcome over the two sessions, and the
// server saw no more extra writes than were in flight.
func TestStopAndResume(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true, Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond})
	const n, workers = 400, 8
	var lines []string
	for i := 1; i <= n; i++ {
		lines = append(lines, fmt.Sprintf(`{"user_id":"user_s%d","public_metadata":{"i":%d}}`, i%300, i))
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	rec := newMemRecorder()
	rec.onRecord = func(done int) {
		if done == 100 {
			cancel(errors.New("test stop"))
		}
	}
	j := newJob(url, Options{Workers: workers, Grace: 5 * time.Second})
	st, err := j.Run(ctx, ndjson(t, lines...), rec)
	var se *StopError
	if !errors.As(err, &se) {
		t.Fatalf("Run error = %v, want a StopError", err)
	}
	if st.Complete() || len(rec.results) >= n {
		t.Fatalf("stopped run complete: %+v", st)
	}
	first := len(rec.results)

	next := rec.resume()
	mustRun(t, newJob(url, Options{Workers: workers}), ndjson(t, lines...), next)
	if len(next.results) != n || len(next.twice) > 0 || len(rec.twice) > 0 {
		t.Fatalf("after resume: %d outcomes for %d rows, twice: %v %v", len(next.results), n, rec.twice, next.twice)
	}
	if got := next.count(reports.Succeeded); got != n {
		t.Errorf("%d rows succeeded, want %d", got, n)
	}
	if extra := srv.Stats().WritesApplied - n; extra < 0 || extra > workers {
		t.Errorf("%d writes applied beyond one per row (first session recorded %d), want at most %d", extra, first, workers)
	}
	for i := n - 299; i <= n; i++ { // the last row of each user wins
		u, _ := srv.User(fmt.Sprintf("user_s%d", i%300))
		if want := fmt.Sprintf(`{"i":%d}`, i); string(u.Public) != want {
			t.Errorf("user_s%d public = %s, want %s", i%300, u.Public, want)
		}
	}
}

// TestReportWriteFails: the first result that cannot be written stops the
// run at once, like a signal; a resume sends only the rows without an
// outcome, so the server sees no more extra writes than were in flight.
func TestReportWriteFails(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{AutoCreate: true, Latency: 5 * time.Millisecond})
	const n, workers = 500, 8
	var lines []string
	for i := 1; i <= n; i++ {
		lines = append(lines, fmt.Sprintf(`{"user_id":"user_f%d","public_metadata":{"i":%d}}`, i, i))
	}
	rec := newMemRecorder()
	rec.failAfter = 50
	st, err := newJob(url, Options{Workers: workers, Grace: 5 * time.Second}).Run(context.Background(), ndjson(t, lines...), rec)
	var se *StopError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "no space left on device") {
		t.Fatalf("Run error = %v, want a StopError naming the write error", err)
	}
	if st.Complete() || st.Recorded != 50 || rec.refused == 0 || rec.refused > workers {
		t.Fatalf("stats %+v, %d refused: want 50 recorded, and at most the %d in flight refused", st, rec.refused, workers)
	}
	sent := srv.Stats().WritesApplied
	if sent > 50+workers {
		t.Errorf("%d writes sent after results stopped being written at 50", sent)
	}
	rec.failAfter = 0
	next := rec.resume()
	mustRun(t, newJob(url, Options{Workers: workers}), ndjson(t, lines...), next)
	if len(next.results) != n || len(next.twice) > 0 {
		t.Fatalf("after resume: %d outcomes for %d rows, twice %v", len(next.results), n, next.twice)
	}
	if extra := srv.Stats().WritesApplied - n; extra > workers {
		t.Errorf("%d writes beyond one per row, want at most the %d in flight", extra, workers)
	}
}

func TestShards(t *testing.T) {
	t.Parallel()
	const count = 3
	seen := map[string]int{}
	for i := range 300 {
		id := fmt.Sprintf("user_%d", i)
		s := ShardOf(id, count)
		if s < 0 || s >= count {
			t.Fatalf("ShardOf(%s) = %d", id, s)
		}
		seen[fmt.Sprint(s)]++
	}
	if len(seen) != count {
		t.Errorf("300 users spread over %d shards, want %d", len(seen), count)
	}
	// The same in every process and every release: shards of one run may
	// come from different versions of the tool. FNV-1a of the id.
	for id, want := range map[string]int{"user_2xhFjEI5X2qWRvtV13BzSj8H6Dk": 1, "user_1": 0, "user_2": 2} {
		n := 3
		if len(id) > 10 {
			n = 7
		}
		if got := ShardOf(id, n); got != want {
			t.Errorf("ShardOf(%s, %d) = %d, want %d", id, n, got, want)
		}
	}
}
