package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/reports"
)

// TestBackupRestores: a run with backups, then a run of its backup.ndjson,
// leaves every user's metadata byte for byte as it was: fields that held
// null, {}, nested objects, unicode and integers above 2^53, and users
// with several rows over different fields.
func TestBackupRestores(t *testing.T) {
	t.Parallel()
	srv, url := startEmulator(t, emulator.Config{})
	start := map[string][3]string{
		"user_null":   {`null`, `{"p":1}`, `{}`},
		"user_empty":  {`{}`, `{}`, `{"u":[1,2,{"deep":{"er":null}}]}`},
		"user_nested": {`{"a":{"b":{"c":[1,2.50,-0,1e300]}},"z":true}`, `null`, `{}`},
		"user_text":   {`{"name":"J\u00e9r\u00f4me 😀 Jérôme","esc":"\u003c\u2028\"q\"","\u006b":"\\"}`, `{}`, `{}`},
		// <, > and & go out escaped, as the Go SDK sends them: the value
		// comes back equal as JSON, its bytes escaped (checked below).
		"user_html": {`{"h":"<b>&</b>"}`, `{}`, `{}`},
		"user_big":  {`{"n":9007199254740993,"m":-18446744073709551617,"f":0.1000000000000000055511151231257827}`, `{"id":12345678901234567890}`, `null`},
		"user_many": {`{"first":1}`, `{"second":2}`, `{"third":3}`},
	}
	for id, f := range start {
		srv.AddUser(id, []byte(f[0]), []byte(f[1]), []byte(f[2]))
	}
	rows := []string{
		`{"user_id":"user_null","public_metadata":{"now":"set"},"private_metadata":null}`,
		`{"user_id":"user_empty","public_metadata":{"x":1},"unsafe_metadata":{}}`,
		`{"user_id":"user_nested","public_metadata":{"a":{}}}`,
		`{"user_id":"user_text","public_metadata":null}`,
		`{"user_id":"user_html","public_metadata":{}}`,
		`{"user_id":"user_big","public_metadata":{"n":1},"private_metadata":{},"unsafe_metadata":{"u":1}}`,
		`{"user_id":"user_many","public_metadata":{"r":1}}`,
		`{"user_id":"user_many","public_metadata":{"r":2},"private_metadata":{"r":2}}`,
		`{"user_id":"user_many","unsafe_metadata":{"r":3},"public_metadata":{"r":3}}`,
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "in.ndjson"), strings.Join(rows, "\n")+"\n")
	vars := map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": url}
	got := runIn(t, dir, vars, "run", "--input", "in.ndjson", "--run-id", "change")
	if got.code != exitOK {
		t.Fatalf("run: exit %d\n%s", got.code, got.stderr)
	}
	runDir := got.runDir(t)
	backup := readBackup(t, runDir)
	if n := len(backup["user_many"]); n != 3 {
		t.Errorf("user_many has %d backup lines, want one per row that replaced new fields", n)
	}
	got = runIn(t, dir, vars, "run", "--input", filepath.Join(runDir, reports.BackupFile), "--run-id", "restore")
	if got.code != exitOK {
		t.Fatalf("restore: exit %d\n%s", got.code, got.stderr)
	}
	for id, want := range start {
		u, _ := srv.User(id)
		for k, b := range [][]byte{u.Public, u.Private, u.Unsafe} {
			if id == "user_html" && k == 0 {
				if string(b) != `{"h":"\u003cb\u003e\u0026\u003c/b\u003e"}` || !sameJSON(b, []byte(want[k])) {
					t.Errorf("%s = %s, want %s escaped as the SDK sends it", id, b, want[k])
				}
				continue
			}
			if string(b) != want[k] {
				t.Errorf("%s field %d = %s, want as it was: %s", id, k, b, want[k])
			}
		}
	}
	// The restore has a backup of its own, of what the first run wrote.
	if b := readBackup(t, got.runDir(t)); len(b) != len(start) {
		t.Errorf("the restore backed up %d users, want %d", len(b), len(start))
	}
	sum := readSummary(t, runDir)
	if sum.Reads == 0 || sum.Writes != int64(len(rows)) || sum.Removed == 0 {
		t.Errorf("summary reads %d, writes %d, removed %d", sum.Reads, sum.Writes, sum.Removed)
	}
}
