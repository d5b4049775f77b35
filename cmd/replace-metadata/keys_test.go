package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestKeyedInputs: CSV and NDJSON files that name users by external_id or
// by email_address resolve and apply; an unknown key fails with no write;
// an invalid key is reported by validate and run alike; and plan, run
// --plan, verify and rollback work on such a file, with the resolved ids
// in the backup.
func TestKeyedInputs(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"ndjson", "csv"} {
		for _, key := range []string{"external_id", "email_address"} {
			t.Run(format+"/"+key, func(t *testing.T) {
				t.Parallel()
				srv, url := startEmulator(t, emulator.Config{})
				start := map[string]string{}
				var values []string
				for i := range 5 {
					id := fmt.Sprintf("user_k%d", i)
					u := emulator.User{ID: id, Public: []byte(fmt.Sprintf(`{"before":%d}`, i))}
					v := fmt.Sprintf("crm-%d", i)
					if key == "email_address" {
						v = fmt.Sprintf("Person%d@Example.com", i)
						u.Emails = []string{strings.ToLower(v)}
					} else {
						u.ExternalID = v
					}
					srv.SetUser(u)
					start[id] = string(u.Public)
					values = append(values, v)
				}
				bad := "+crm-x"
				if key == "email_address" {
					bad = "no at sign"
				}
				rows := [][2]string{}
				for i, v := range values {
					rows = append(rows, [2]string{v, fmt.Sprintf(`{"after":%d}`, i)})
				}
				rows = append(rows, [2]string{"nobody-" + values[0], `{"after":9}`}, [2]string{bad, `{"after":9}`})
				var b strings.Builder
				if format == "csv" {
					b.WriteString(key + ",public_metadata\n")
				}
				for _, r := range rows {
					if format == "csv" {
						fmt.Fprintf(&b, "%s,%s\n", csvCell(r[0]), csvCell(r[1]))
					} else {
						fmt.Fprintf(&b, "{%q:%s,\"public_metadata\":%s}\n", key, jsonString(r[0]), r[1])
					}
				}
				dir := t.TempDir()
				in := "in." + format
				writeFile(t, filepath.Join(dir, in), b.String())
				vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}

				if got := runIn(t, dir, nil, "validate", "--input", in); got.code != exitRows || !strings.Contains(got.stdout, "invalid_") {
					t.Errorf("validate: exit %d\n%s", got.code, got.stdout)
				}
				if got := runIn(t, dir, vars, "plan", "--input", in, "--run-id", "p"); got.code != exitRows {
					t.Fatalf("plan: exit %d\n%s%s", got.code, got.stdout, got.stderr)
				}
				if before, _ := os.ReadFile(filepath.Join(dir, "runs", "p", reports.BeforeFile)); !strings.Contains(string(before), `"user_id":"user_k0"`) {
					t.Errorf("before.ndjson not by resolved id:\n%s", before)
				}
				got := runIn(t, dir, vars, "run", "--plan", "runs/p")
				if got.code != exitRows {
					t.Fatalf("run --plan: exit %d\n%s", got.code, got.stderr)
				}
				res := readResultLines(t, filepath.Join(dir, "runs", "p"))
				statuses := map[string]int{}
				for _, r := range res {
					statuses[r.status]++
				}
				if statuses["succeeded"] != 5 || statuses["failed"] != 1 || statuses["invalid"] != 1 || srv.Stats().ByMethod["PUT"] != 5 {
					t.Errorf("run: %v, %d writes", statuses, srv.Stats().ByMethod["PUT"])
				}
				if backup := readBackup(t, filepath.Join(dir, "runs", "p")); len(backup) != 5 || backup["user_k3"] == nil {
					t.Errorf("backup not by resolved id: %v", backup)
				}
				if got := runIn(t, dir, vars, "verify", "runs/p"); got.code != exitOK || !strings.Contains(got.stdout, "5 fields checked") {
					t.Errorf("verify: exit %d\n%s%s", got.code, got.stdout, got.stderr)
				}
				if got := runIn(t, dir, vars, "rollback", "runs/p"); got.code != exitOK {
					t.Fatalf("rollback: exit %d\n%s", got.code, got.stderr)
				}
				for id, want := range start {
					if u, _ := srv.User(id); string(u.Public) != want {
						t.Errorf("%s after rollback = %s, want %s", id, u.Public, want)
					}
				}
			})
		}
	}
}
