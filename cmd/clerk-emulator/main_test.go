package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	cfg, addr, users, err := parseFlags([]string{
		"-addr", "127.0.0.1:0", "-key", "sk_test_a,sk_test_b", "-key", "sk_live_c", "-forbidden-key", "sk_test_f",
		"-instance-limit", "100", "-instance-window", "5s", "-user-limit", "10", "-user-window", "2s", "-sliding",
		"-latency", "3ms", "-jitter", "2ms", "-fault", "503=0.1,drop=0.05", "-fault", "502-HTML=0.01",
		"-seed", "42", "-auto-create", "-max-field-bytes", "8192", "-max-body-bytes", "4096",
		"-record-history", "-record-requests", "-users", "seed.ndjson",
		"-instance-shape", "sliding", "-background-load", "2.5", "-user-shape", "Sliding", "-late-delay", "8s",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "127.0.0.1:0" || users != "seed.ndjson" {
		t.Errorf("addr %q users %q", addr, users)
	}
	want := emulator.Config{
		Keys: []string{"sk_test_a", "sk_test_b", "sk_live_c"}, ForbiddenKeys: []string{"sk_test_f"},
		InstanceLimit: 100, InstanceWindow: 5 * time.Second, UserLimit: 10, UserWindow: 2 * time.Second, Sliding: true,
		Latency: 3 * time.Millisecond, Jitter: 2 * time.Millisecond,
		Faults: map[emulator.Fault]float64{emulator.Fault503: 0.1, emulator.FaultDrop: 0.05, emulator.Fault502HTML: 0.01},
		Seed:   42, AutoCreate: true, MaxFieldBytes: 8192, MaxBodyBytes: 4096, RecordHistory: true, RecordRequests: true,
		InstanceShape: emulator.LimitSliding, BackgroundLoad: 2.5, UserShape: emulator.LimitSliding, LateDelay: 8 * time.Second,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config\n%+v\nwant\n%+v", cfg, want)
	}

	cfg, _, _, err = parseFlags([]string{
		"-instance-limit", "100", "-instance-shape", "token-bucket", "-instance-burst", "20",
		"-user-limit", "10", "-user-window", "1m", "-user-shape", "TOKEN-BUCKET", "-user-burst", "1",
	}, io.Discard)
	want = emulator.Config{
		InstanceLimit: 100, InstanceShape: emulator.LimitTokenBucket, InstanceBurst: 20,
		UserLimit: 10, UserWindow: time.Minute, UserShape: emulator.LimitTokenBucket, UserBurst: 1,
	}
	if err != nil || !reflect.DeepEqual(cfg, want) {
		t.Errorf("token buckets: %v, config\n%+v\nwant\n%+v", err, cfg, want)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badUsers := filepath.Join(dir, "users.ndjson")
	if err := os.WriteFile(badUsers, []byte("{\"id\":\"u1\"}\n{\"id\":\"u2\",\"public_metadata\":\"x\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-fault", "teapot=0.1"}, `invalid value "teapot=0.1" for flag -fault: unknown fault "teapot"`},
		{[]string{"-fault", "503"}, `invalid value "503" for flag -fault: "503" is not kind=probability`},
		{[]string{"-fault", "503=lots"}, `invalid value "503=lots" for flag -fault: fault 503: probability "lots" is not a number`},
		{[]string{"-fault", "503=0.6,500=0.6"}, "faults: probabilities sum to 1.2, more than 1"},
		{[]string{"-user-limit", "-1"}, "user limit is negative"},
		{[]string{"-instance-shape", "leaky"}, `invalid value "leaky" for flag -instance-shape: unknown limit shape "leaky" (want one of fixed, sliding, token-bucket)`},
		{[]string{"-instance-limit", "100", "-instance-burst", "5", "-instance-shape", "token-bucket"},
			"instance burst is 5, want one second's worth to one window's worth: 10 to 100"},
		{[]string{"-user-limit", "10", "-user-burst", "5"}, "user burst is set, but the shape is not token-bucket"},
		{[]string{"-user-shape", "fixed", "-sliding"}, "user shape is fixed, but Sliding is set"},
		{[]string{"-background-load", "1"}, "background load needs an instance limit"},
		{[]string{"-late-delay", "-1s"}, "late delay is negative"},
		{[]string{"-fault", "apply-late=2"}, "faults: apply-late has probability 2, want 0..1"},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"extra"}, "unexpected arguments: extra"},
		{[]string{"-addr", "127.0.0.1:0", "-users", filepath.Join(dir, "missing")}, "users: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{[]string{"-addr", "127.0.0.1:0", "-users", badUsers}, "users: " + badUsers + ":line 2: public_metadata is string, want an object or null"},
		{[]string{"-addr", "256.0.0.1:0"}, "listen: "},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("run = %v, want %s", err, tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
	err := run(t.Context(), []string{"-h"}, io.Discard, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestRunServes(t *testing.T) {
	t.Parallel()
	users := filepath.Join(t.TempDir(), "users.ndjson")
	seed := `{"id":"user_1","external_id":"crm-1","email_addresses":["Ann@example.com"],"public_metadata":{"plan":"free","n":12345678901234567890}}
{"id":"user_2","email_addresses":["ann@example.com","bob@example.com"]}
`
	if err := os.WriteFile(users, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-key", "sk_test_k", "-users", users,
			"-instance-limit", "100", "-instance-shape", "token-bucket", "-instance-burst", "50"}, outW, &stderr)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("read stdout: %v (stderr %s)", err, stderr.String())
	}
	base, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "listening on ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("stdout line %q", line)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sk_test_k")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := do("GET", "/v1/users/user_1", ""); code != 200 ||
		!strings.Contains(body, `"public_metadata":{"plan":"free","n":12345678901234567890}`) || !strings.Contains(body, `"external_id":"crm-1"`) {
		t.Errorf("GET: %d %s", code, body)
	}
	if code, body := do("GET", "/v1/users/count?email_address=ANN@example.com", ""); code != 200 || body != `{"object":"total_count","total_count":2}` {
		t.Errorf("count by email: %d %s", code, body)
	}
	// Behind the client's back: a new external id, a user deleted, the budget shared.
	if code, body := do("POST", "/_emulator/users", `{"id":"user_2","external_id":"crm-2"}`); code != 200 || body != `{"upserted":1}`+"\n" {
		t.Errorf("upsert: %d %s", code, body)
	}
	if code, _ := do("DELETE", "/_emulator/users/user_1", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, body := do("POST", "/_emulator/consume?n=10", ""); code != 200 || body != `{"taken":10}`+"\n" {
		t.Errorf("consume: %d %s", code, body)
	}
	if code, body := do("GET", "/v1/users?external_id=crm-1&external_id=crm-2", ""); code != 200 || !strings.HasPrefix(body, `[{"id":"user_2",`) {
		t.Errorf("list: %d %s", code, body)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("run: %v", err)
	}
	if rest, _ := io.ReadAll(outR); len(rest) > 0 {
		t.Errorf("more on stdout: %q", rest)
	}
	if st := stderr.String(); !strings.Contains(st, `"requests":3,"by_status":{"200":3}`) || !strings.Contains(st, `"background":10`) {
		t.Errorf("stderr: %q, want the stats", st)
	}
}
