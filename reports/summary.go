package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Summary is summary.json: a run's counts and timings. It is rewritten
// while the run goes, so a run that died still says how far it got.
type Summary struct {
	// Command is what wrote the folder: "run" or "plan".
	Command     string `json:"command"`
	RunID       string `json:"run_id"`
	ToolVersion string `json:"tool_version"`
	Input       string `json:"input"`
	Format      string `json:"format"`
	InputSHA256 string `json:"input_sha256,omitempty"`
	// APIURL and KeyFingerprint name the instance the run (or plan) was
	// made against; the fingerprint is a hash of the key, never the key.
	APIURL         string `json:"api_url,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	// Sandbox is set when the run went to the built-in sandbox.
	Sandbox bool `json:"sandbox,omitempty"`

	// Total is the number of input rows when known (the whole input was
	// read, or counted before the run), else the rows read so far.
	Total int `json:"total"`
	// Counts are the rows by outcome; summary.json lists them beside
	// total, one key per status.
	Counts     Counts `json:"-"`
	Duplicates int    `json:"duplicates"`
	// Complete is true once every input row has an outcome.
	Complete bool `json:"complete"`

	Requests    int64 `json:"requests"`
	Retries     int64 `json:"retries"`
	RateLimited int64 `json:"rate_limited"`
	// Reads and Writes split the requests: batched reads of users, and
	// metadata writes.
	Reads  int64 `json:"reads"`
	Writes int64 `json:"writes"`
	// KeyCounts are the paths the rows removed, added and changed (from
	// each user's value as read), and TopRemoved the ten removed most.
	KeyCounts
	TopRemoved []PathCount `json:"top_removed_paths"`
	// Actions are a plan's rows by what a run would do with them, and
	// PlanUsers the users it would change (plans only).
	Actions   *ActionCounts `json:"actions,omitempty"`
	PlanUsers int           `json:"plan_users,omitempty"`

	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	// AchievedRate is requests per second over this session.
	AchievedRate float64 `json:"achieved_rate"`
	// Sessions counts the invocations that worked on this run (resumes + 1).
	Sessions int `json:"sessions"`
	// ExitCode is the session's exit code once it ended; ExitRunning (-1)
	// while it goes, or when it was killed before it could say.
	ExitCode int `json:"exit_code"`
	// Stopped says why the run ended before every row had an outcome.
	Stopped string `json:"stopped,omitempty"`
}

// summaryFields is Summary without its JSON methods.
type summaryFields Summary

// MarshalJSON writes the summary with its counts flattened in after total.
func (s Summary) MarshalJSON() ([]byte, error) {
	if s.TopRemoved == nil {
		s.TopRemoved = []PathCount{}
	}
	b, err := json.Marshal(summaryFields(s))
	if err != nil {
		return nil, err
	}
	c, _ := s.Counts.MarshalJSON()
	at, err := afterMember(b, "total")
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(c)+1)
	out = append(out, b[:at]...)
	out = append(out, ',')
	out = append(out, c[1:len(c)-1]...)
	return append(out, b[at:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Summary) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*summaryFields)(s)); err != nil {
		return err
	}
	return s.Counts.UnmarshalJSON(b)
}

// afterMember returns the offset just past the value of the top-level
// member key of the JSON object b.
func afterMember(b []byte, key string) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return 0, err
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return 0, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return 0, err
		}
		if k == key {
			return int(dec.InputOffset()), nil
		}
	}
	return 0, fmt.Errorf("no %q in %s", key, b)
}

// WriteSummary writes dir/summary.json atomically: readers see the old or
// the new file, never half of one.
func WriteSummary(dir string, s Summary) error {
	return writeSummaryFile(dir, SummaryFile, s)
}

func writeSummaryFile(dir, name string, s Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".summary-*.json")
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write summary: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write summary: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// ReadSummary reads dir/summary.json. It returns (nil, nil) when there is
// none.
func ReadSummary(dir string) (*Summary, error) {
	return readSummaryFile(dir, SummaryFile)
}

func readSummaryFile(dir, name string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
	}
	return &s, nil
}

// Exit codes of a run (and of the command).
const (
	ExitOK      = 0 // every row succeeded
	ExitRows    = 1 // finished, with rows whose outcome fails the run
	ExitUsage   = 2 // usage, config or input header error: nothing sent
	ExitStopped = 3 // stopped before every row had an outcome: resumable
	// ExitKeyRefused: Clerk refused the key (401, 403); nothing more would
	// succeed, so a scheduler must not retry it as it retries a stop.
	ExitKeyRefused = 4
	// ExitRunning is summary.json's exit code while a session goes (or
	// after one that was killed): not an exit code, and never 0.
	ExitRunning = -1
)

// End is what the end of a session tells Settle.
type End struct {
	// Rows is the number of input rows (of this shard) read.
	Rows int
	// EOF is set when the whole input was read.
	EOF bool
	// Unresolved counts rows read that were left without an outcome.
	Unresolved int
	// Stopped says why the session ended early ("": it did not).
	Stopped string
	// KeyRefused is set when it stopped because Clerk refused the key.
	KeyRefused bool
}

// Settle decides what the end of a session means for the run: its total,
// whether every row has an outcome, and its exit code.
func (s *Summary) Settle(e End) {
	if e.EOF {
		s.Total = e.Rows
	} else {
		s.Total = max(s.Total, s.Counts.Total())
	}
	s.Stopped = e.Stopped
	s.Complete = e.EOF && e.Stopped == "" && e.Unresolved == 0
	switch {
	case e.KeyRefused:
		s.ExitCode = ExitKeyRefused
	case !s.Complete:
		s.ExitCode = ExitStopped
	case s.Counts.FailRun():
		s.ExitCode = ExitRows
	default:
		s.ExitCode = ExitOK
	}
}

// SettlePlan decides what the end of a plan means: exit 0 when every row
// would change or is unchanged, 1 when some are invalid, their users
// missing or unreadable, or the paths removed would exceed maxRemoved
// (negative: no limit), 3 when it stopped early.
func (s *Summary) SettlePlan(e End, maxRemoved int) {
	s.Settle(e)
	if !s.Complete {
		return
	}
	s.ExitCode = ExitOK
	if a := s.Actions; a != nil && a[ActionNotFound]+a[ActionInvalid]+a[ActionReadFailed] > 0 {
		s.ExitCode = ExitRows
	}
	if maxRemoved >= 0 && s.Removed > maxRemoved {
		s.ExitCode = ExitRows
	}
}

// Left returns how many rows have no outcome yet, as far as is known.
func (s *Summary) Left() int { return max(s.Total-s.Counts.Total(), 0) }
