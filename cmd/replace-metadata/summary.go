package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/replace-metadata/replace-metadata/job"
	"github.com/replace-metadata/replace-metadata/reports"
)

// conclusion is what a run folder says to a person at the end of a run,
// or to report: its outcomes, errors, requests, keys, files and the
// commands to go on. The same facts go into the run finished log line
// when no person watches.
type conclusion struct {
	a *reports.Analysis
	// dir is the run folder as the person names it (the commands use it),
	// fsDir the same folder as the tool opens it.
	dir, fsDir string
	rates      rates
	// out is where print writes the summary (the display's stderr, when a
	// person watches); nil: the facts go into the log line instead.
	out io.Writer
}

// conclusion is how the session's run ends, for a person or the log: its
// settled summary, with the error codes and files of the run folder and
// this session's rates. A plan has none (printPlan says what it found).
func (s *session) conclusion(st job.Stats) *conclusion {
	if s.plan {
		return nil
	}
	fsDir := s.env.path(s.dir)
	a, err := reports.Analyze(fsDir)
	if err != nil {
		s.log.Warn().Err(err).Msg("could not read the run folder back for the summary")
		a = &reports.Analysis{Totals: reports.Totals{RunDir: fsDir,
			Shards: []reports.Shard{{Dir: fsDir, Count: 1, Summary: &s.sum}}}}
		if s.sum.Counts.Failures() > 0 {
			a.FailedFile = filepath.Join(fsDir, reports.FailedFile(s.sum.Format))
		}
	}
	a.Summary, a.Unsettled = s.sum, nil // settled by this session, just now
	if s.cfg.ShardCount > 1 {
		a.ShardIndex, a.ShardCount = s.cfg.ShardIndex, s.cfg.ShardCount
	}
	c := &conclusion{a: a, dir: s.dir, fsDir: fsDir, rates: rates{
		requests: st.Requests, reads: st.Reads, writes: st.Writes, sessions: s.sum.Sessions,
		over: time.Duration(s.sum.ElapsedSeconds * float64(time.Second)), session: s.prev != nil,
	}}
	if s.display != nil {
		c.out = s.display
	}
	return c
}

// print writes the summary where a person watches, if one does.
func (c *conclusion) print() {
	if c != nil && c.out != nil {
		c.write(c.out)
	}
}

// rates are the requests behind the per-second figures: a session's, or
// the whole run's when it had one session.
type rates struct {
	requests, reads, writes int64
	over                    time.Duration
	// lastOnly: only the last session's request rate is known (report
	// on a resumed run: summary.json keeps totals and the last rate).
	lastOnly bool
	lastRate float64
	session  bool // the figures are this session's, not the run's
	sessions int
}

// topErrors is how many error codes the summary names.
const topErrors = 5

// topPaths is how many of the most removed paths the summary names.
const topPaths = 5

// runRates are the per-second figures report gives for a run: exact for
// a run of one session; for a resumed run only the last session's
// request rate is kept.
func runRates(a *reports.Analysis) rates {
	r := rates{requests: a.Requests, reads: a.Reads, writes: a.Writes, sessions: a.Sessions,
		over: time.Duration(a.ElapsedSeconds * float64(time.Second))}
	if a.Sessions > 1 {
		r.lastOnly, r.lastRate = true, a.AchievedRate
	}
	return r
}

// write prints the summary for a person.
func (c *conclusion) write(w io.Writer) {
	a := c.a
	what := "Run"
	if a.Command == "plan" {
		what = "Plan"
	}
	state, detail := c.state()
	fmt.Fprintf(w, "%s %s %s.\n", what, a.RunID, state)
	if detail != "" {
		fmt.Fprintln(w, detail)
	}
	if a.Command == "plan" {
		printPlan(w, &a.Summary, -1)
		c.writeFiles(w)
		return
	}
	fmt.Fprintln(w)
	c.writeOutcomes(w)
	c.writeErrors(w)
	c.writeRequests(w)
	c.writeFiles(w)
	if next := c.next(); len(next) > 0 {
		fmt.Fprintln(w, "\nNext:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, n := range next {
			fmt.Fprintf(tw, "  %s\t%s\n", n.what, n.command)
		}
		tw.Flush()
	}
}

// writeOutcomes prints the rows by outcome, with percentages.
func (c *conclusion) writeOutcomes(w io.Writer) {
	a := c.a
	type line struct {
		name string
		n    int
	}
	var lines []line
	for _, s := range reports.Statuses() {
		lines = append(lines, line{s.String(), a.Counts[s]})
	}
	if left := a.Left(); left > 0 {
		lines = append(lines, line{"no outcome yet", left})
	}
	nameW, numW := len("rows"), len(group(a.Total))
	for _, l := range lines {
		nameW, numW = max(nameW, len(l.name)), max(numW, len(group(l.n)))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %*s", nameW, l.name, numW, group(l.n))
		if a.Total > 0 {
			fmt.Fprintf(w, "  %5.1f%%", 100*float64(l.n)/float64(a.Total))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  %-*s  %*s\n", nameW, "rows", numW, group(a.Total))
	if a.Duplicates > 0 {
		fmt.Fprintf(w, "  (%s repeated a user of an earlier row)\n", count(a.Duplicates, "row"))
	}
}

// writeErrors prints the most common error codes, an example each.
func (c *conclusion) writeErrors(w io.Writer) {
	a := c.a
	if len(a.Errors) == 0 {
		return
	}
	fmt.Fprintln(w, "\nMost common errors:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range a.Errors[:min(topErrors, len(a.Errors))] {
		ex := e.Example
		fmt.Fprintf(tw, "  %s\t%s\tline %d, %s: %s\n", orNone(e.Code), count(e.Rows, "row"), ex.Line, ex.UserID, shorten(ex.ErrorMessage, 80))
	}
	tw.Flush()
	if n := len(a.Errors) - topErrors; n > 0 {
		fmt.Fprintf(w, "  and %s more (error_code in results.csv)\n", count(n, "code"))
	}
}

// writeRequests prints the requests and their rates, the keys removed, and
// the time taken.
func (c *conclusion) writeRequests(w io.Writer) {
	a := c.a
	fmt.Fprintf(w, "\nRequests: %s (%s, %s); %s, %s answered 429\n", group(int(a.Requests)),
		count(int(a.Reads), "read"), count(int(a.Writes), "write"), counted(int(a.Retries), "retry", "retries"), group(int(a.RateLimited)))
	if r := c.rates; r.lastOnly {
		fmt.Fprintf(w, "  %.1f requests/s in the last of %d sessions\n", r.lastRate, r.sessions)
	} else if r.over > 0 {
		secs := r.over.Seconds()
		fmt.Fprintf(w, "  %.1f requests/s: %.1f reads/s, %.1f writes/s", float64(r.requests)/secs, float64(r.reads)/secs, float64(r.writes)/secs)
		if r.session {
			fmt.Fprint(w, " (this session)")
		}
		fmt.Fprintln(w)
	}
	if c.read() {
		fmt.Fprintf(w, "Keys: %s removed, %s added, %s changed\n", group(a.Removed), group(a.Added), group(a.Changed))
		if len(a.TopRemoved) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, p := range a.TopRemoved[:min(topPaths, len(a.TopRemoved))] {
				fmt.Fprintf(tw, "  %s\tremoved from %s\n", p.Path, count(p.Users, "user"))
			}
			tw.Flush()
		}
	}
	elapsed := time.Duration(a.ElapsedSeconds * float64(time.Second))
	fmt.Fprintf(w, "Elapsed: %s", fmtDuration(elapsed))
	if a.Sessions > 1 {
		fmt.Fprintf(w, " (the last of %d sessions)", a.Sessions)
	}
	fmt.Fprintln(w)
}

// state says in a few words how the run ended, with its exit code, and
// detail what a person should know about it.
func (c *conclusion) state() (state, detail string) {
	a := c.a
	code := fmt.Sprintf(" (exit %d)", a.ExitCode)
	left := func() string {
		return fmt.Sprintf("%s %s no outcome yet", count(a.Left(), "row"), verb(a.Left(), "has", "have"))
	}
	switch {
	case len(a.Unsettled) > 0:
		return "did not finish" + code, "Its last session was killed, or is still going: summary.json was never settled.\nThe counts below are results.csv's; " + left() + "."
	case a.ExitCode == reports.ExitKeyRefused:
		return "stopped" + code + ": " + a.Stopped, ""
	case len(a.Missing) > 0:
		return "is not complete" + code, fmt.Sprintf("%s of %d %s not run yet.", shardList(a.Missing), a.Shards[0].Count, verb(len(a.Missing), "has", "have"))
	case !a.Complete && a.Stopped != "":
		return "stopped" + code + ": " + a.Stopped, strings.ToUpper(left()[:1]) + left()[1:] + "."
	case !a.Complete:
		return "is not complete" + code, strings.ToUpper(left()[:1]) + left()[1:] + "."
	case a.Command == "plan":
		return "finished" + code, ""
	case a.Counts.Failures() > 0:
		return fmt.Sprintf("finished%s: %s of %s failed or %s invalid", code, group(a.Counts.Failures()), count(a.Total, "row"),
			verb(a.Counts.Failures(), "was", "were")), ""
	}
	return "finished" + code + ": every row succeeded or was unchanged", ""
}

// read reports whether the run read its users (so counted its keys).
func (c *conclusion) read() bool {
	a := c.a
	return a.Reads > 0 || a.Removed+a.Added+a.Changed > 0 || len(a.TopRemoved) > 0
}

// files are the files of a run folder, and what each holds, in the order
// the summary lists them.
var files = []struct{ name, what string }{
	{reports.ResultsFile, "every row's outcome"},
	{"failed.csv", "the failed and invalid rows, as they were in the input"},
	{"failed.ndjson", "the failed and invalid rows, as they were in the input"},
	{reports.BackupFile, "every value the run replaced, from before the run"},
	{"plan.ndjson", "what a run would do to each row"},
	{"before.ndjson", "the users' values as the plan read them"},
	{reports.SummaryFile, "the counts and timings"},
	{"sandbox-users.ndjson", "the sandbox's users afterwards"},
}

func (c *conclusion) writeFiles(w io.Writer) {
	a := c.a
	where := c.dir
	var dirs []string
	if len(a.Shards) > 1 || (len(a.Shards) == 1 && a.Shards[0].Dir != c.fsDir) {
		for _, sh := range a.Shards {
			dirs = append(dirs, sh.Dir)
		}
		fmt.Fprintf(w, "\nFiles in %s, in a folder per shard (shard-<i>-of-%d/):\n", where, a.Shards[0].Count)
	} else {
		dirs = []string{c.fsDir}
		fmt.Fprintf(w, "\nFiles in %s:\n", where)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range files {
		switch {
		case f.name == reports.FailedFile(a.Format) && a.Counts.Failures() == 0:
			continue // only its header, if anything
		case !anyHas(dirs, f.name):
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\n", f.name, f.what)
	}
	if a.FailedFile != "" && len(dirs) > 1 {
		fmt.Fprintf(tw, "  %s\t%s\n", filepath.Join(where, filepath.Base(a.FailedFile)), "every shard's failed rows, merged")
	}
	tw.Flush()
}

// anyHas reports whether a file called name, not empty, is in one of dirs.
func anyHas(dirs []string, name string) bool {
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && st.Size() > 0 {
			return true
		}
	}
	return false
}

// step is one way to go on: what it does, and the command that does it;
// key names it in the log line.
type step struct{ key, what, command string }

// next are the commands to go on from the run, exactly as they are typed
// (from the folder the run was started in: its paths are relative to it).
func (c *conclusion) next() []step {
	a := c.a
	if a.Command == "plan" {
		return nil
	}
	var out []step
	reportDir := filepath.Dir(c.dir)
	if a.ShardCount > 0 {
		reportDir = filepath.Dir(reportDir)
	}
	dirFlag := ""
	if filepath.Clean(reportDir) != "runs" {
		dirFlag = " --report-dir " + shellQuote(reportDir)
	}
	sandbox := ""
	if a.Sandbox {
		sandbox = " --sandbox"
	}
	if a.Counts.Failures() > 0 && a.FailedFile != "" {
		id := a.RunID + "-retry"
		if a.ShardCount > 0 {
			id = fmt.Sprintf("%s-retry-%d", a.RunID, a.ShardIndex)
		}
		out = append(out, step{"rerun_failed", "re-run the failed rows", "replace-metadata run --input " +
			shellQuote(filepath.Join(c.dir, filepath.Base(a.FailedFile))) + " --run-id " + id + dirFlag + sandbox})
	}
	if !a.Complete {
		in := " --input " + shellQuote(a.Input)
		id := a.RunID
		what := "resume the run"
		if a.ExitCode == reports.ExitKeyRefused {
			what = "resume with a key Clerk accepts"
		}
		if a.Input == "-" {
			// Standard input cannot be checked against the run's: a new run
			// id, whose reads find the rows already applied unchanged.
			in, id = " --input - --format "+a.Format, a.RunID+"-2"
			what = "run the rows on stdin again under a new run id"
		}
		resume := "replace-metadata run" + in + " --run-id " + id + dirFlag + sandbox
		switch {
		case a.ShardCount > 0:
			out = append(out, step{"resume", what, fmt.Sprintf("%s --shard-index %d --shard-count %d", resume, a.ShardIndex, a.ShardCount)})
		case len(a.Shards) > 1 || a.Shards[0].Count > 1:
			for _, i := range c.unfinished() {
				out = append(out, step{fmt.Sprintf("resume_shard_%d", i), fmt.Sprintf("%s, shard %d", what, i), fmt.Sprintf("%s --shard-index %d --shard-count %d", resume, i, a.Shards[0].Count)})
			}
		default:
			out = append(out, step{"resume", what, resume})
		}
	}
	if a.Backup {
		out = append(out, step{"rollback", "roll the run back", "replace-metadata rollback " + shellQuote(c.dir) + dirFlag + sandbox})
	}
	if a.Writes > 0 || a.Counts[reports.Succeeded] > 0 {
		out = append(out, step{"verify", "verify it", "replace-metadata verify " + shellQuote(c.dir) + sandbox})
	}
	return out
}

// unfinished are the shards of a sharded run without an outcome for
// every row: missing, stopped or unsettled.
func (c *conclusion) unfinished() []int {
	a := c.a
	var out []int
	done := map[int]bool{}
	for _, sh := range a.Shards {
		done[sh.Index] = sh.Summary.Complete
	}
	for i := range a.Shards[0].Count {
		if !done[i] {
			out = append(out, i)
		}
	}
	return out
}

// fields adds the summary's facts to the run finished log line, for runs
// no person watches: the same facts as the printed summary.
func (c *conclusion) fields(ev *zerolog.Event) *zerolog.Event {
	if c == nil || c.out != nil {
		return ev
	}
	a := c.a
	if a.Total > 0 {
		pct := zerolog.Dict()
		for _, s := range reports.Statuses() {
			pct = pct.Float64(s.String(), round(100*float64(a.Counts[s])/float64(a.Total), 1))
		}
		ev = ev.Dict("percent", pct)
	}
	if len(a.Errors) > 0 {
		arr := zerolog.Arr()
		for _, e := range a.Errors[:min(topErrors, len(a.Errors))] {
			ex := e.Example
			arr = arr.Dict(zerolog.Dict().Str("code", e.Code).Int("rows", e.Rows).
				Int("line", ex.Line).Str("user_id", ex.UserID).Str("message", ex.ErrorMessage))
		}
		ev = ev.Array("top_errors", arr)
	}
	if r := c.rates; r.over > 0 && !r.lastOnly {
		secs := r.over.Seconds()
		ev = ev.Float64("requests_per_second", round(float64(r.requests)/secs, 2)).
			Float64("reads_per_second", round(float64(r.reads)/secs, 2)).
			Float64("writes_per_second", round(float64(r.writes)/secs, 2))
	}
	if c.read() && len(a.TopRemoved) > 0 {
		arr := zerolog.Arr()
		for _, p := range a.TopRemoved[:min(topPaths, len(a.TopRemoved))] {
			arr = arr.Dict(zerolog.Dict().Str("path", p.Path).Int("users", p.Users))
		}
		ev = ev.Array("top_removed_paths", arr)
	}
	if a.FailedFile != "" && a.Counts.Failures() > 0 {
		ev = ev.Str("failed_file", filepath.Join(c.dir, filepath.Base(a.FailedFile)))
	}
	if next := c.next(); len(next) > 0 {
		d := zerolog.Dict()
		for _, n := range next {
			d = d.Str(n.key, n.command)
		}
		ev = ev.Dict("next", d)
	}
	return ev
}

// shardList names shards: "shard 1", "shards 1 and 3", "shards 0, 2 and 3".
func shardList(idx []int) string {
	s := make([]string, len(idx))
	for i, n := range idx {
		s[i] = strconv.Itoa(n)
	}
	if len(s) == 1 {
		return "Shard " + s[0]
	}
	return "Shards " + strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// counted says n things with the thousands grouped, one or many.
func counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return group(n) + " " + many
}

func orNone(code string) string {
	if code == "" {
		return "(no code)"
	}
	return code
}

// shorten cuts s to n bytes at most, on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}

var plainArg = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote writes s as a POSIX shell word.
func shellQuote(s string) string {
	if plainArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fmtDuration writes d for a person: 850ms, 42s, 12m05s, 3h04m.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
