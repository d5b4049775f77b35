package job

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

// The overhead benchmarks: the same in-process emulator (no latency, no
// limits, users seeded so every request is an update), the same rows, the
// same concurrency, once through a bare net/http loop and once through a
// Job at an unlimited rate. Each reports req/s; the target is
// BenchmarkJob ≥ 70% of BenchmarkBareLoop at the same W:
//
//	go test -run '^$' -bench 'BareLoop|Job' -benchtime 20000x ./job

const benchKey = "sk_test_benchkey0123456789"

// benchConcurrency are the W the overhead is measured at: 16 is the
// command benchmark's, 64 the pool --workers auto uses when the rate is
// unlimited.
var benchConcurrency = []int{16, 64}

// benchRow is a realistic row (three fields, a few nested keys, ~300
// bytes), the same shape as input's RealisticNDJSON.
func benchRow(i int) (id, public, private, unsafe string) {
	id = fmt.Sprintf("user_2xhFjEI5X2qWRvtV1%06dH6Dk", i)
	public = fmt.Sprintf(`{"plan":"pro","seats":%d,"features":{"sso":true,"audit_log":false},"tags":["beta","eu"]}`, i%50)
	private = fmt.Sprintf(`{"stripe_customer":"cus_%08d","ledger_id":9007199254740993,"billing":{"country":"DE","vat":"DE123456789"}}`, i)
	unsafe = `{"theme":"dark","onboarding":{"step":3,"done":false}}`
	return
}

// benchNDJSON returns n realistic rows of distinct users as NDJSON.
func benchNDJSON(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		id, pub, priv, uns := benchRow(i)
		fmt.Fprintf(&b, `{"user_id":%q,"public_metadata":%s,"private_metadata":%s,"unsafe_metadata":%s}`+"\n", id, pub, priv, uns)
	}
	return b.Bytes()
}

// benchServer serves a fresh emulator with users 0..n-1 already there, so
// both benchmarks update users and neither pays for creating them.
func benchServer(b *testing.B, n int) string {
	b.Helper()
	srv := emulator.New(emulator.Config{Keys: []string{benchKey}, AutoCreate: true})
	for i := range n {
		id, _, _, _ := benchRow(i)
		srv.AddUser(id, nil, nil, nil)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return url
}

func reportRate(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkBareLoop is the practical limit: W goroutines sending the bodies
// the SDK sends, with its headers, reading and discarding each answer, on a
// transport that keeps W connections alive, as NewHTTPClient does.
func BenchmarkBareLoop(b *testing.B) {
	for _, w := range benchConcurrency {
		b.Run(fmt.Sprintf("W=%d", w), func(b *testing.B) {
			url := benchServer(b, b.N)
			bodies := make([][]byte, b.N)
			paths := make([]string, b.N)
			for i := range b.N {
				id, pub, priv, uns := benchRow(i)
				paths[i] = url + "/v1/users/" + id + "/metadata"
				bodies[i] = fmt.Appendf(nil, `{"public_metadata":%s,"private_metadata":%s,"unsafe_metadata":%s}`, pub, priv, uns)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConns = max(w, 100)
			tr.MaxIdleConnsPerHost = w
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var next atomic.Int64
			var failed atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range w {
				wg.Go(func() {
					for {
						i := int(next.Add(1) - 1)
						if i >= b.N {
							return
						}
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						req, _ := http.NewRequestWithContext(ctx, http.MethodPut, paths[i], bytes.NewReader(bodies[i]))
						req.Header.Set("Authorization", "Bearer "+benchKey)
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Clerk-API-Version", clerkapi.APIVersion)
						req.Header.Set("User-Agent", "replace-metadata/bench")
						resp, err := client.Do(req)
						if err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != http.StatusOK {
								failed.Add(1)
							}
						} else {
							failed.Add(1)
						}
						cancel()
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d requests failed", n, b.N)
			}
			reportRate(b, b.N)
		})
	}
}

// nopRecorder records nothing: the job's own cost, without the reports.
type nopRecorder struct{ n atomic.Int64 }

func (r *nopRecorder) Seen(int, []byte) bool                  { return false }
func (r *nopRecorder) Backup(string, clerkapi.Metadata) error { return nil }
func (r *nopRecorder) Record(res reports.Result, _ []byte) error {
	if res.Status != reports.Succeeded {
		panic(fmt.Sprintf("row %d: %s %s", res.Row, res.ErrorCode, res.ErrorMessage))
	}
	r.n.Add(1)
	return nil
}

// BenchmarkJob is the job doing the bare loop's work: the same rows read
// from NDJSON (parsing included), Rate 0 (unlimited), Workers W, through
// the SDK, into a no-op recorder (recorder=nop) or the real reports.Writer
// in a temp dir (recorder=reports); blind (read=false), as the bare loop
// writes, or reading every user first (read=true: a read per 100 users,
// and with reports, a backup synced to disk before each write).
func BenchmarkJob(b *testing.B) {
	for _, w := range benchConcurrency {
		for _, recName := range []string{"nop", "reports"} {
			for _, read := range []bool{false, true} {
				benchJob(b, w, recName, read)
			}
		}
	}
}

func benchJob(b *testing.B, w int, recName string, read bool) {
	b.Run(fmt.Sprintf("W=%d/recorder=%s/read=%v", w, recName, read), func(b *testing.B) {
		url := benchServer(b, b.N)
		data := benchNDJSON(b.N)
		rows := input.NewNDJSON(bytes.NewReader(data), "bench.ndjson")
		var rec Recorder
		var check func() int
		closeRec := func() error { return nil }
		switch recName {
		case "nop":
			nr := &nopRecorder{}
			rec, check = nr, func() int { return int(nr.n.Load()) }
		case "reports":
			rw, err := reports.Open(b.TempDir(), reports.Options{Format: "ndjson"})
			if err != nil {
				b.Fatal(err)
			}
			rec, check, closeRec = rw, func() int { return rw.Counts()[reports.Succeeded] }, rw.Close
		}
		j := &Job{
			Client: clerkapi.NewClient(clerkapi.ClientOptions{BaseURL: url, Key: benchKey, UserAgent: "replace-metadata/bench",
				HTTP: clerkapi.NewHTTPClient(w)}),
			Log:     zerolog.Nop(),
			Options: Options{Workers: w, MaxAttempts: 5, Timeout: 10 * time.Second, NoRead: !read},
		}
		b.ReportAllocs()
		b.ResetTimer()
		st, err := j.Run(context.Background(), rows, rec)
		closeErr := closeRec() // the last results reach the file inside the timing
		b.StopTimer()
		if closeErr != nil {
			b.Fatal(closeErr)
		}
		if err != nil || !st.Complete() {
			b.Fatalf("run: %v, %+v", err, st)
		}
		if n := check(); n != b.N {
			b.Fatalf("%d rows succeeded, want %d", n, b.N)
		}
		if st.Writes != int64(b.N) {
			b.Fatalf("%d writes for %d rows", st.Writes, b.N)
		}
		reportRate(b, b.N)
	})
}
