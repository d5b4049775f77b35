package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
)

// This file holds what run --plan, verify and rollback share: a session
// that acts on what another one left (a plan, a run), and must check it
// is the same input and the same Clerk instance.

// usePlan makes the session apply the plan in folder dir: the plan's
// input, in the plan's folder, each write checked against what the plan
// read.
func (s *session) usePlan(dir string) error {
	plan, err := reports.ReadPlan(s.env.path(dir))
	if err != nil {
		return &usageError{err}
	}
	if plan == nil {
		return usagef("%s holds no plan (no %s): make one with replace-metadata plan", dir, reports.PlanSummaryFile)
	}
	if !plan.Complete {
		return usagef("the plan in %s did not finish (%s): make it again", dir, cmp.Or(plan.Stopped, "stopped"))
	}
	s.planSum, s.against = plan, plan
	s.dirOverride, s.cfg.RunID = dir, plan.RunID
	if s.cfg.Input == "" {
		s.cfg.Input = plan.Input
	}
	if s.cfg.Format == "" {
		s.cfg.Format = plan.Format
	}
	b := job.NewBaseline()
	path := s.env.path(filepath.Join(dir, reports.BeforeFile))
	if err := reports.ReadBackupFile(path, b.Expect); err != nil {
		return usagef("read the plan's %s: %v", reports.BeforeFile, err)
	}
	if err := reports.ReadPlanMissing(s.env.path(dir), b.Missing); err != nil {
		return usagef("read the plan: %v", err)
	}
	b.Seal()
	s.baseline, s.driftSince = b, "the plan read it"
	return nil
}

// checkPlanInput refuses an input that is not the one the plan read.
func (s *session) checkPlanInput() error {
	if s.src.sha256 == "" {
		return usagef("a plan is applied to the file it was made from; standard input cannot be checked against it")
	}
	if want := s.planSum.InputSHA256; s.src.sha256 != want {
		return usagef("the plan in %s was made from an input with sha256 %s; %s has sha256 %s: make a new plan",
			s.dir, want, s.src.name, s.src.sha256)
	}
	return nil
}

// checkInstance refuses to act on what another session left (a plan, a
// run) with another API URL or key than it was made with. A sandbox is
// always new: nothing to compare.
func (s *session) checkInstance() error {
	a := s.against
	if a == nil || s.cfg.Sandbox {
		return nil
	}
	what := "run"
	if a.Command == "plan" {
		what = "plan"
	}
	if a.APIURL != "" && a.APIURL != s.apiURL {
		return usagef("the %s was made against %s, not %s: use the same --api-url", what, a.APIURL, s.apiURL)
	}
	if f := keyFingerprint(s.key); a.KeyFingerprint != "" && a.KeyFingerprint != f {
		return usagef("the %s was made with another secret key (fingerprint %s, this key's is %s): use the same key", what, a.KeyFingerprint, f)
	}
	return nil
}

// readWritten reads what the run in folder dir wrote, and the run's input
// (the path in its summary unless cfg names one, checked by sha256): it
// returns the summary of the run, the Written with every row noted, and
// the input path.
func readWritten(cfg config, e env, dir string) (*reports.Summary, *reports.Written, string, error) {
	folders, err := reports.RunFolders(e.path(dir))
	if err != nil {
		return nil, nil, "", usagef("%v", err)
	}
	sum, err := reports.ReadSummary(folders[0])
	if err != nil || sum == nil {
		return nil, nil, "", usagef("read the run's summary: %v", err)
	}
	if sum.Command == "plan" {
		return nil, nil, "", usagef("%s holds a plan, not a run", dir)
	}
	w, err := reports.ReadWritten(e.path(dir))
	if err != nil {
		return nil, nil, "", usagef("%v", err)
	}
	in := cmp.Or(cfg.Input, sum.Input)
	if in == "" || in == "-" {
		return nil, nil, "", usagef("the run read standard input: pass --input with the same file")
	}
	c := cfg
	c.Input, c.Format = in, sum.Format
	src, err := openSource(c, e, true)
	if err != nil {
		return nil, nil, "", usagef("the run's input: %v (pass --input with the file the run read)", err)
	}
	defer src.Close()
	if sum.InputSHA256 != "" && src.sha256 != sum.InputSHA256 {
		return nil, nil, "", usagef("%s has sha256 %s, not the %s the run read: pass --input with the file the run read", in, src.sha256, sum.InputSHA256)
	}
	err = eachRow(src, func(row *input.Row) {
		w.Note(row.N, clerkapi.Metadata{row.Public, row.Private, row.Unsafe})
	})
	if err != nil {
		return nil, nil, "", err
	}
	w.Seal()
	return sum, w, in, nil
}

// eachRow calls fn with each valid row of src.
func eachRow(src *source, fn func(*input.Row)) error {
	rows, err := src.opts.Open(src.r, src.name, src.format)
	if err != nil {
		return &usageError{err}
	}
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return usagef("%v", err)
		}
		if row.Err == nil {
			fn(&row)
		}
	}
}

// lastWritten is the input's rows reduced to what the run last wrote: each
// row that succeeded, with only the fields no later row of its user wrote;
// the other rows are skipped.
type lastWritten struct {
	rows input.Reader
	w    *reports.Written
}

func (l *lastWritten) Next() (input.Row, error) {
	for {
		row, err := l.rows.Next()
		if err != nil {
			return row, err
		}
		if row.Err != nil {
			continue // never sent, nothing to verify
		}
		m := l.w.Last(row.N, clerkapi.Metadata{row.Public, row.Private, row.Unsafe})
		if m.Set() == 0 {
			continue
		}
		row.Public, row.Private, row.Unsafe = m[clerkapi.Public], m[clerkapi.Private], m[clerkapi.Unsafe]
		return row, nil
	}
}

// printCanary says what the canary wrote and how to go on.
func (s *session) printCanary() {
	fmt.Fprintf(s.stdout, "Canary: %d writes sent; their rows are in %s.\n", s.cfg.Canary,
		filepath.Join(s.dir, reports.ResultsFile))
	// This session's results follow the earlier sessions' in the file.
	k := 0
	reports.ReadResults(s.env.path(s.dir), func(r *reports.Result) {
		if k++; k <= s.priorDone || r.Attempts == 0 {
			return
		}
		line := fmt.Sprintf("  row %d (line %d) %s: %s", r.Row, r.Line, r.UserID, r.Status)
		if r.ErrorCode != "" {
			line += fmt.Sprintf(" (%s: %s)", r.ErrorCode, r.ErrorMessage)
		}
		fmt.Fprintln(s.stdout, line)
	})
	next := []string{"replace-metadata", "run"}
	if s.planSum != nil {
		next = append(next, "--plan", s.dir)
	} else {
		next = append(next, "--input", s.cfg.Input, "--run-id", s.runID)
	}
	fmt.Fprintf(s.stdout, "Check them, then go on with the rest: %s\n", strings.Join(next, " "))
}

// KeyKind is the input's.
func (l *lastWritten) KeyKind() input.KeyKind { return l.rows.KeyKind() }
