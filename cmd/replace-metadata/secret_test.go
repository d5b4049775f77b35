package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// The canary key: its middle is a word no output has any other reason to
// hold, so a key cut short or re-encoded still shows.
const (
	canaryMark = "CanaryS3cretZq9"
	canaryKey  = "sk_test_" + canaryMark + "x7Lw2"
)

// sandboxedVars is the environment of a run whose temporary files and home
// must stay empty: the tool writes only its run folder.
func sandboxedVars(t *testing.T, vars map[string]string) (map[string]string, []string) {
	t.Helper()
	tmp, home := t.TempDir(), t.TempDir()
	out := map[string]string{"TMPDIR": tmp, "HOME": home}
	for k, v := range vars {
		out[k] = v
	}
	return out, []string{tmp, home}
}

// snapshot lists every path under dir with its mode.
func snapshot(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = info.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNoSecret greps every byte the run produced for the key: stdout,
// stderr and every file under wd.
func checkNoSecret(t *testing.T, got result, wd string) {
	t.Helper()
	for _, s := range []string{canaryKey, canaryMark} {
		if n := strings.Count(got.stdout, s); n > 0 {
			t.Errorf("stdout holds %q %d times:\n%s", s, n, got.stdout)
		}
		if n := strings.Count(got.stderr, s); n > 0 {
			t.Errorf("stderr holds %q %d times:\n%s", s, n, got.stderr)
		}
	}
	files := 0
	filepath.WalkDir(wd, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		files++
		for _, s := range []string{canaryKey, canaryMark} {
			if n := bytes.Count(b, []byte(s)); n > 0 {
				t.Errorf("%s holds %q %d times:\n%s", p, s, n, b)
			}
		}
		return nil
	})
	if files < 3 {
		t.Errorf("only %d files under %s: the run wrote no reports to check", files, wd)
	}
}

// checkWrites asserts that everything the run created under wd is the run
// folder, a folder on the way to it, or inside it; folders are 0700, files
// 0600; and that the run left nothing in its temporary folder or home.
func checkWrites(t *testing.T, before map[string]fs.FileMode, wd, runDir string, empty []string) {
	t.Helper()
	after := snapshot(t, wd)
	created := 0
	for p, mode := range after {
		if _, ok := before[p]; ok {
			continue
		}
		created++
		inRun := p == runDir || strings.HasPrefix(p, runDir+string(filepath.Separator))
		onTheWay := strings.HasPrefix(runDir, p+string(filepath.Separator))
		switch {
		case mode.IsDir():
			if !inRun && !onTheWay {
				t.Errorf("the run created the folder %s, outside its run folder %s", p, runDir)
			}
			if mode.Perm() != 0o700 {
				t.Errorf("folder %s has mode %v, want 0700", p, mode.Perm())
			}
		case !inRun:
			t.Errorf("the run wrote %s, outside its run folder %s", p, runDir)
		case mode.Perm() != 0o600:
			t.Errorf("file %s has mode %v, want 0600", p, mode.Perm())
		}
	}
	if created == 0 {
		t.Error("the run created nothing")
	}
	for _, dir := range empty {
		if es, _ := os.ReadDir(dir); len(es) > 0 {
			t.Errorf("the run wrote %s in %s", es[0].Name(), dir)
		}
	}
}

// TestSecretFaults runs the command at debug level through every fault the
// emulator injects, a 404 and an invalid row, and finds the key nowhere:
// not on stdout or stderr, not in any report.
func TestSecretFaults(t *testing.T) {
	t.Parallel()
	faults := []emulator.Fault{
		emulator.Fault500, emulator.Fault502HTML, emulator.Fault503, emulator.FaultDrop, emulator.FaultHang,
		emulator.FaultApplyThen500, emulator.Fault429, emulator.Fault429Text,
	}
	srv, url := startEmulator(t, emulator.Config{Keys: []string{canaryKey}})
	// The first attempt of user_sN meets fault N; every later attempt and
	// every other user goes through.
	var mu sync.Mutex
	attempts := map[string]int{}
	srv.SetFault(func(r *http.Request) emulator.Fault {
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/v1/users/user_s%d/metadata", &n); err != nil || n >= len(faults) {
			return emulator.FaultNone
		}
		mu.Lock()
		defer mu.Unlock()
		attempts[r.URL.Path]++
		if attempts[r.URL.Path] > 1 {
			return emulator.FaultNone
		}
		return faults[n]
	})
	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, "%s\n", ndRow(fmt.Sprintf("user_s%d", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	in.WriteString(ndRow("user_missing", `{}`) + "\n")                 // 404: failed
	in.WriteString(`{"user_id":"user_s1","public_metdata":{}}` + "\n") // invalid

	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			wd := t.TempDir()
			writeFile(t, filepath.Join(wd, "in.ndjson"), in.String())
			before := snapshot(t, wd)
			vars, empty := sandboxedVars(t, map[string]string{"CLERK_SECRET_KEY": canaryKey, "CLERK_API_URL": url})
			srv.Reset()
			for i := range 20 { // as before the run: every row changes its user
				srv.AddUser(fmt.Sprintf("user_s%d", i), nil, nil, nil)
			}
			mu.Lock()
			clear(attempts)
			mu.Unlock()
			got := runIn(t, wd, vars, "run", "--input", "in.ndjson", "--run-id", "faults", "--rate", "unlimited",
				"--log-level", "debug", "--log-format", format, "--max-attempts", "4", "--timeout", "1s")
			if got.code != exitRows {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", got.code, exitRows, got.stderr)
			}
			st := srv.Stats()
			for _, f := range faults {
				if st.Faults[f] != 1 {
					t.Errorf("fault %v injected %d times, want once", f, st.Faults[f])
				}
			}
			debug := strings.Contains(got.stderr, `"level":"debug"`) || strings.Contains(got.stderr, " DBG ")
			if !debug || !strings.Contains(got.stderr, "retrying") {
				t.Errorf("no debug lines about retries on stderr:\n%s", got.stderr)
			}
			if !strings.Contains(got.stderr, url) || !strings.Contains(got.stderr, "test key") {
				t.Errorf("the start line does not name the API URL and the kind of key:\n%s", got.stderr)
			}
			runDir := got.runDir(t)
			sum := readSummary(t, runDir)
			if sum.Counts[reports.Succeeded] != 20 || sum.Counts[reports.Failed] != 1 || sum.Counts[reports.Invalid] != 1 || sum.Retries < int64(len(faults)) {
				t.Errorf("summary %+v", sum)
			}
			checkNoSecret(t, got, wd)
			checkWrites(t, before, wd, runDir, empty)
		})
	}
}

// TestSecretEchoed runs against a server that echoes the Authorization
// header back in every place an answer can carry text: Clerk's error
// fields, the trace id, a text or HTML error page, a redirect's Location.
// The key, read from a file outside the working folder, must still show
// nowhere, and the redirect must not be followed.
func TestSecretEchoed(t *testing.T) {
	t.Parallel()
	var stolen atomic.Int64
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	t.Cleanup(thief.Close)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		key := strings.TrimPrefix(auth, "Bearer ")
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/users/"), "/metadata")
		w.Header().Set("Clerk-Trace-Id", auth)
		clerkError := func(status int, message, long, code, trace string) {
			b, _ := json.Marshal(map[string]any{
				"errors":         []map[string]any{{"message": message, "long_message": long, "code": code, "meta": map[string]string{"authorization": auth}}},
				"clerk_trace_id": trace,
			})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write(b)
		}
		switch id {
		case "user_ok":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"user_ok","object":"user","first_name":%q,"public_metadata":{}}`, auth)
		case "user_json400":
			clerkError(400, auth, "the request carried "+auth, key, key)
		case "user_json422":
			// The key straddles the point where messages are cut.
			clerkError(422, "x", strings.Repeat("x", 490)+" "+auth+" "+strings.Repeat("y", 100), "form_param_unknown", "trace_"+key)
		case "user_escaped":
			// JSON may spell the key with escapes; decoded, it is the key.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			esc := strings.ReplaceAll(key, "_", `\u005f`)
			fmt.Fprintf(w, `{"errors":[{"message":"bad key %s","long_message":"bad key %s","code":"x_%s"}],"clerk_trace_id":"%s"}`, esc, esc, esc, esc)
		case "user_text503":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(503)
			fmt.Fprintf(w, "upstream refused %s\n", auth)
		case "user_html502":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			fmt.Fprintf(w, "<html><head><title>502 for %s</title></head><body>%s</body></html>", auth, key)
		case "user_redirect":
			http.Redirect(w, r, thief.URL+"/v1/users/user_redirect/metadata?key="+key, http.StatusTemporaryRedirect)
		default:
			clerkError(404, "not found", "no user "+id+" for "+auth, "resource_not_found", key)
		}
	}))
	t.Cleanup(echo.Close)

	keyFile := writeFile(t, filepath.Join(t.TempDir(), "clerk-key"), canaryKey+"\n")
	ids := []string{"user_ok", "user_json400", "user_json422", "user_escaped", "user_text503", "user_html502", "user_redirect"}
	var in strings.Builder
	for _, id := range ids {
		in.WriteString(ndRow(id, `{}`) + "\n")
	}
	wd := t.TempDir()
	writeFile(t, filepath.Join(wd, "in.ndjson"), in.String())
	before := snapshot(t, wd)
	vars, empty := sandboxedVars(t, map[string]string{"CLERK_API_URL": echo.URL})
	// Blind writes: every answer is a write's (the reads' are tested below).
	got := runIn(t, wd, vars, "run", "--input", "in.ndjson", "--run-id", "echo", "--secret-key-file", keyFile,
		"--rate", "unlimited", "--log-level", "debug", "--log-format", "console", "--max-attempts", "2", "--no-read")
	if got.code != exitRows {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", got.code, exitRows, got.stderr)
	}
	runDir := got.runDir(t)
	want := map[string]struct {
		status string
		http   int
	}{
		"user_ok": {"succeeded", 200}, "user_json400": {"failed", 400}, "user_json422": {"failed", 422},
		"user_escaped": {"failed", 400}, "user_text503": {"failed", 503}, "user_html502": {"failed", 502},
		"user_redirect": {"failed", 307},
	}
	for _, r := range readResultLines(t, runDir) {
		if w := want[r.userID]; r.status != w.status || r.httpStatus != w.http {
			t.Errorf("%s: %s %d (%s: %s), want %s %d", r.userID, r.status, r.httpStatus, r.code, r.message, w.status, w.http)
		}
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached its target", n)
	}
	checkNoSecret(t, got, wd)
	checkWrites(t, before, wd, runDir, empty)

	// With reads on, the read's answer (a 404 echoing the key) fails every
	// row, and shows the key nowhere either.
	got = runIn(t, wd, vars, "run", "--input", "in.ndjson", "--run-id", "echo-read", "--secret-key-file", keyFile,
		"--rate", "unlimited", "--log-level", "debug", "--log-format", "json", "--max-attempts", "2")
	if got.code != exitRows || !strings.Contains(got.stderr, "read_failed") {
		t.Fatalf("reads: exit %d, want %d with read_failed rows\nstderr:\n%s", got.code, exitRows, got.stderr)
	}
	checkNoSecret(t, got, wd)

	// A 401 that echoes the key stops the run; its message names the
	// answer, without the key.
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Clerk-Trace-Id", r.Header.Get("Authorization"))
		w.WriteHeader(401)
		fmt.Fprintf(w, `{"errors":[{"message":"Invalid key %[1]s","long_message":"The key %[1]s is invalid","code":"authentication_invalid"}]}`,
			r.Header.Get("Authorization"))
	}))
	t.Cleanup(deny.Close)
	wd = t.TempDir()
	writeFile(t, filepath.Join(wd, "in.ndjson"), in.String())
	before = snapshot(t, wd)
	vars, empty = sandboxedVars(t, map[string]string{"CLERK_API_URL": deny.URL, "CLERK_SECRET_KEY": canaryKey})
	got = runIn(t, wd, vars, "run", "--input", "in.ndjson", "--run-id", "deny", "--log-level", "debug", "--log-format", "json")
	if got.code != exitKeyRefused || !strings.Contains(got.stderr, "rejected the secret key") {
		t.Fatalf("exit %d, want %d and a message about the key\nstderr:\n%s", got.code, exitKeyRefused, got.stderr)
	}
	checkNoSecret(t, got, wd)
	checkWrites(t, before, wd, got.runDir(t), empty)
}
