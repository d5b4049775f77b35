package reports

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestAnalyzeKilledRun: a session killed mid-way leaves a summary.json
// rewritten a few seconds before, never settled, and a torn last line in
// results.csv. Analyze counts the rows from results.csv (the torn line
// and a row recorded twice once at most), calls the run unsettled and
// stopped, and lists the error codes, most rows first, each with its
// first row.
func TestAnalyzeKilledRun(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nightly")
	w := mustOpen(t, dir, Options{Format: "ndjson"})
	for _, r := range []Result{
		{Row: 1, Line: 1, UserID: "user_1", Status: Succeeded, RemovedKeys: 2, AddedKeys: 1},
		{Row: 2, Line: 2, UserID: "user_2", Status: Failed, HTTPStatus: 404, ErrorCode: "resource_not_found", ErrorMessage: "No user was found with id user_2"},
		{Row: 3, Line: 3, UserID: "user_3", Status: Invalid, ErrorCode: "invalid_json", ErrorMessage: "unexpected end"},
		{Row: 4, Line: 5, UserID: "user_4", Status: Failed, HTTPStatus: 404, ErrorCode: "resource_not_found", ErrorMessage: "No user was found with id user_4"},
		{Row: 5, Line: 6, UserID: "user_5", Status: Unchanged, ChangedKeys: 3},
	} {
		if err := w.Record(r, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The summary as the session last rewrote it: 2 rows behind, not settled.
	start := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	sum := Summary{Command: "run", RunID: "nightly", Format: "ndjson", Input: "users.ndjson", Total: 10,
		Counts: Counts{Succeeded: 1, Failed: 1}, Requests: 4, Start: start, End: start.Add(time.Minute), Sessions: 1}
	if err := WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	// A row recorded twice (never by this tool, but a copy by hand) and a
	// line torn by the kill.
	f, err := os.OpenFile(filepath.Join(dir, ResultsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("5,6,user_5,unchanged,200,,,1,3,,0,0,3,user_5\n6,7,user_6,succ")
	f.Close()

	a, err := Analyze(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Succeeded: 1, Unchanged: 1, Failed: 2, Invalid: 1}
	if a.Counts != want || a.Total != 10 {
		t.Errorf("counts %v of %d, want %v of 10 (results.csv's, not the summary's)", a.Counts, a.Total, want)
	}
	if a.KeyCounts != (KeyCounts{Removed: 2, Added: 1, Changed: 3}) {
		t.Errorf("key counts %+v", a.KeyCounts)
	}
	if a.Complete || a.ExitCode != ExitStopped || !slices.Equal(a.Unsettled, []int{0}) {
		t.Errorf("complete %v, exit %d, unsettled %v: want an unsettled, stopped run", a.Complete, a.ExitCode, a.Unsettled)
	}
	if len(a.Errors) != 2 || a.Errors[0].Code != "resource_not_found" || a.Errors[0].Rows != 2 ||
		a.Errors[0].Example.Line != 2 || a.Errors[0].Example.UserID != "user_2" ||
		a.Errors[0].Example.ErrorMessage != "No user was found with id user_2" ||
		a.Errors[1].Code != "invalid_json" || a.Errors[1].Rows != 1 {
		t.Errorf("errors %+v", a.Errors)
	}
	if a.Backup || a.ShardCount != 0 || a.Command != "run" {
		t.Errorf("backup %v, shard count %d, command %q", a.Backup, a.ShardCount, a.Command)
	}
}

// TestAnalyzeShards: a sharded run's counts and error codes are summed
// over its shards' results; a shard's own folder names its shard; a
// settled summary that says the run stopped keeps its exit code.
func TestAnalyzeShards(t *testing.T) {
	t.Parallel()
	runDir := t.TempDir()
	sum := shardSummary(2, 0, time.Minute, ExitRows)
	sum.Command, sum.Sessions = "run", 1
	s0 := writeShard(t, runDir, 0, 2, "ndjson", "", []string{`{"user_id":"x"}`}, sum)
	sum.Complete, sum.ExitCode, sum.Stopped = false, ExitStopped, "interrupted (SIGINT)"
	writeShard(t, runDir, 1, 2, "ndjson", "", []string{`{"user_id":"y"}`, `{"user_id":"z"}`}, sum)
	os.WriteFile(filepath.Join(s0, BackupFile), []byte(`{"user_id":"user_1","public_metadata":{}}`+"\n"), 0o600)

	a, err := Analyze(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Counts != (Counts{Succeeded: 4, Invalid: 3}) || a.Complete || a.ExitCode != ExitStopped ||
		a.Stopped != "interrupted (SIGINT)" || len(a.Unsettled) != 0 || !a.Backup {
		t.Errorf("counts %v, complete %v, exit %d, stopped %q, unsettled %v, backup %v",
			a.Counts, a.Complete, a.ExitCode, a.Stopped, a.Unsettled, a.Backup)
	}
	if len(a.Errors) != 1 || a.Errors[0].Rows != 3 || a.Errors[0].Code != "" {
		t.Errorf("errors %+v", a.Errors)
	}
	if a.FailedFile != filepath.Join(runDir, "failed.ndjson") {
		t.Errorf("failed file %q", a.FailedFile)
	}

	one, err := Analyze(s0)
	if err != nil {
		t.Fatal(err)
	}
	if one.ShardIndex != 0 || one.ShardCount != 2 || one.Counts != (Counts{Succeeded: 2, Invalid: 1}) || !one.Complete || one.ExitCode != ExitRows {
		t.Errorf("shard 0 alone: shard %d of %d, counts %v, complete %v, exit %d", one.ShardIndex, one.ShardCount, one.Counts, one.Complete, one.ExitCode)
	}
}

// TestAnalyzePlan: a plan's folder has no results.csv: its counts, its
// actions and its users are its summary's.
func TestAnalyzePlan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	actions := ActionCounts{ActionChange: 5, ActionUnchanged: 2, ActionNotFound: 1}
	sum := Summary{Command: "plan", RunID: "p", Total: 8, Complete: true, Actions: &actions, PlanUsers: 4,
		KeyCounts: KeyCounts{Removed: 7}, ExitCode: ExitRows}
	if err := WriteSummary(dir, sum); err != nil {
		t.Fatal(err)
	}
	a, err := Analyze(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Actions == nil || *a.Actions != actions || a.PlanUsers != 4 || a.Removed != 7 || a.Command != "plan" || a.ExitCode != ExitRows {
		t.Errorf("plan read back: %+v", a.Summary)
	}
}
