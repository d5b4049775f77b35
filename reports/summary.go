package reports

import (
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
	RunID       string `json:"run_id"`
	ToolVersion string `json:"tool_version"`
	Input       string `json:"input"`
	Format      string `json:"format"`
	InputSHA256 string `json:"input_sha256,omitempty"`

	// Total is the number of input rows when known (the whole input was
	// read, or counted before the run), else the rows read so far.
	Total int `json:"total"`
	Counts
	Duplicates int `json:"duplicates"`
	// Complete is true once every input row has an outcome.
	Complete bool `json:"complete"`

	Requests    int64 `json:"requests"`
	Retries     int64 `json:"retries"`
	RateLimited int64 `json:"rate_limited"`

	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	// AchievedRate is requests per second over this session.
	AchievedRate float64 `json:"achieved_rate"`
	// Sessions counts the invocations that worked on this run (resumes + 1).
	Sessions int `json:"sessions"`
	ExitCode int `json:"exit_code"`
	// Stopped says why the run ended before every row had an outcome.
	Stopped string `json:"stopped,omitempty"`
}

// WriteSummary writes dir/summary.json atomically: readers see the old or
// the new file, never half of one.
func WriteSummary(dir string, s Summary) error {
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
	if err := os.Rename(tmp.Name(), filepath.Join(dir, SummaryFile)); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// ReadSummary reads dir/summary.json. It returns (nil, nil) when there is
// none.
func ReadSummary(dir string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, SummaryFile), err)
	}
	return &s, nil
}
