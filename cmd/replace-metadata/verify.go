package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/reports"
)

// verifyCmd is the verify command: it reads back, in batches, every user
// the run in the folder wrote, and compares each field the run replaced
// with the last value the run wrote to it. It writes verify.csv in the
// folder, prints a summary and exits 0 when everything matches, 1 when
// something does not, 3 when it stopped early.
func verifyCmd(ctx context.Context, dir string, cfg config, e env) error {
	s, err := newVerify(cfg, e, dir)
	if err != nil {
		return err
	}
	return runSession(ctx, s)
}

// newVerify builds the session of a verify pass over the run in dir.
func newVerify(cfg config, e env, dir string) (*session, error) {
	sum, written, in, err := readWritten(cfg, e, dir)
	if err != nil {
		return nil, err
	}
	cfg.Input, cfg.Format, cfg.RunID = in, sum.Format, sum.RunID
	cfg.ShardIndex, cfg.ShardCount = 0, 1 // every shard's rows, in one pass
	cfg.Canary, cfg.Plan, cfg.Verify = 0, "", false
	sec := &secrets{}
	s := &session{verify: true, cfg: cfg, env: e, sec: sec, stdout: &scrubbed{w: e.stdout, s: sec},
		dirOverride: dir, against: sum}
	s.filter = func(rows input.Reader) input.Reader { return &lastWritten{rows: rows, w: written} }
	if cfg.Sandbox {
		s.seedFrom = e.path(filepath.Join(dir, "sandbox-users.ndjson"))
	}
	return s, nil
}

// finishVerify prints the verify pass's summary and decides its exit code.
func (s *session) finishVerify(runErr error) error {
	verdicts := s.verdicts
	bad := verdicts[reports.VerifyMismatch] + verdicts[reports.VerifyMissing] + verdicts[reports.VerifyReadFailed]
	total := bad + verdicts[reports.VerifyOK]
	fmt.Fprintf(s.stdout, "Verify: %s checked: %s match what the run wrote", count(total, "field"), group(verdicts[reports.VerifyOK]))
	for _, k := range []string{reports.VerifyMismatch, reports.VerifyMissing, reports.VerifyReadFailed} {
		if n := verdicts[k]; n > 0 {
			fmt.Fprintf(s.stdout, ", %s %s", group(n), k)
		}
	}
	fmt.Fprintf(s.stdout, ". Details: %s\n", filepath.Join(s.dir, reports.VerifyFile))
	s.log.Info().Int("fields", total).Int("ok", verdicts[reports.VerifyOK]).Int("mismatch", verdicts[reports.VerifyMismatch]).
		Int("missing", verdicts[reports.VerifyMissing]).Int("read_failed", verdicts[reports.VerifyReadFailed]).
		Str("run_dir", s.dir).Msg("verify finished")
	switch {
	case runErr != nil || !s.sum.Complete:
		return &exitError{code: reports.ExitStopped, err: fmt.Errorf("verify stopped before every field was checked: %v", runErr)}
	case bad > 0:
		return &exitError{code: reports.ExitRows}
	}
	return nil
}

// verifyAfter is run --verify: the verify pass over the run just made,
// with the same client. It returns the pass's exit code.
func (s *session) verifyAfter() int {
	v, err := newVerify(s.cfg, s.env, s.dir)
	if err == nil {
		v.sec, v.log, v.client, v.sandbox, v.apiURL, v.key, v.keyKind = s.sec, s.log, s.client, s.sandbox, s.apiURL, s.key, s.keyKind
		err = v.runConnected(context.Background())
	}
	code := report(err, s.env.stderr)
	if code != reports.ExitOK && code != reports.ExitRows {
		s.log.Warn().Err(err).Msg("verify did not finish")
	}
	return code
}
