package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
)

// rollbackCmd is the rollback command: it puts back every field the run in
// the folder replaced, from its backup.ndjson, where the user still holds
// the last value the run wrote to it; a field changed since is drifted
// (not written) unless --force. A rollback is a run of its own, run id
// <run-id>-rollback unless --run-id: its own reports and backup, resumed
// like any run. A sharded run is rolled back shard by shard, or every
// shard from the run's folder.
func rollbackCmd(ctx context.Context, dir string, cfg config, e env) error {
	folders, err := reports.RunFolders(e.path(dir))
	if err != nil {
		return usagef("%v", err)
	}
	worst := 0
	for _, folder := range folders {
		err := rollbackFolder(ctx, folder, cfg, e)
		code := exitOK
		if err != nil {
			var ee *exitError
			if !errors.As(err, &ee) || ee.code == exitUsage || ee.code == exitAborted || ee.code == exitKeyRefused {
				return err // stop at the first shard that could not finish
			}
			code = ee.code
		}
		worst = max(worst, code)
	}
	if worst != exitOK {
		return &exitError{code: worst}
	}
	return nil
}

// rollbackFolder rolls back one folder of the run in dir (dir itself, or
// one of its shards).
func rollbackFolder(ctx context.Context, folder string, cfg config, e env) error {
	backup := filepath.Join(folder, reports.BackupFile)
	if _, err := os.Stat(backup); err != nil {
		return usagef("%s has no %s: the run kept no backup (it ran with --no-read?), so there is nothing to put back", folder, reports.BackupFile)
	}
	sum, written, runInput, err := readWritten(cfg, e, folder)
	if err != nil {
		return err
	}
	runID := cfg.RunID
	if runID == "" {
		runID = sum.RunID + "-rollback"
	}
	out := filepath.Join(cfg.ReportDir, runID)
	if shard := filepath.Base(folder); shardDir(shard) {
		out = filepath.Join(out, shard)
	}
	cfg.RunID, cfg.Input, cfg.Format = runID, backup, "ndjson"
	cfg.ShardIndex, cfg.ShardCount = 0, 1 // the backup holds only this folder's users
	sec := &secrets{}
	s := &session{cfg: cfg, env: e, sec: sec, stdout: &scrubbed{w: e.stdout, s: sec},
		dirOverride: out, against: sum, driftSince: "the run wrote it"}
	if cfg.Sandbox {
		s.seedFrom = filepath.Join(folder, "sandbox-users.ndjson")
	}
	if !cfg.Force {
		if s.baseline, err = lastValues(cfg, e, runInput, sum, written); err != nil {
			return err
		}
	}
	return runSession(ctx, s)
}

func shardDir(name string) bool {
	return strings.HasPrefix(name, "shard-") && strings.Contains(name, "-of-")
}

// lastValues is the baseline of a rollback: for each user and field the
// run wrote, the last value it wrote, which the user must still hold for
// the backup to go back.
func lastValues(cfg config, e env, runInput string, sum *reports.Summary, written *reports.Written) (*job.Baseline, error) {
	c := cfg
	c.Input, c.Format = runInput, sum.Format
	src, err := openSource(c, e, false)
	if err != nil {
		return nil, usagef("the run's input: %v", err)
	}
	defer src.Close()
	b := job.NewBaseline()
	err = eachRow(src, func(row *input.Row) {
		m := written.Last(row.N, clerkapi.Metadata{row.Public, row.Private, row.Unsafe})
		if m.Set() > 0 {
			b.Expect(written.UserID(row.N), m)
		}
	})
	if err != nil {
		return nil, err
	}
	b.Seal()
	return b, nil
}
