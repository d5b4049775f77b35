package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/replace-metadata/replace-metadata/reports"
)

// reportCmd prints a run's totals, summed over its shards, and writes the
// run's merged failed rows for a re-run. It exits with the run's own code.
func reportCmd(args []string, e env) error {
	if len(args) == 1 && isHelp(args[0]) && args[0] != "help" {
		fmt.Fprint(e.stdout, commandHelp(findCommand("report")))
		return nil
	}
	if len(args) != 1 {
		return usagef("usage: replace-metadata report <run folder>")
	}
	t, err := reports.Merge(e.path(args[0]))
	if err != nil {
		return usagef("%v", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "run\t%s\n", t.RunID)
	fmt.Fprintf(w, "input\t%s (%s)\n", t.Input, t.Format)
	if len(t.Shards) > 1 || t.Shards[0].Count > 1 {
		fmt.Fprintf(w, "shards\t%d of %d\n", len(t.Shards), t.Shards[0].Count)
		for _, i := range t.Missing {
			fmt.Fprintf(w, "missing\tshard %d has not run\n", i)
		}
	}
	fmt.Fprintf(w, "total\t%d\n", t.Total)
	for _, s := range reports.Statuses() {
		fmt.Fprintf(w, "%s\t%d\n", s, t.Counts[s])
	}
	fmt.Fprintf(w, "duplicates\t%d\n", t.Duplicates)
	fmt.Fprintf(w, "complete\t%v\n", t.Complete)
	fmt.Fprintf(w, "requests\t%d (%d retries, %d rate limited)\n", t.Requests, t.Retries, t.RateLimited)
	if t.FailedFile != "" {
		fmt.Fprintf(w, "re-run failed rows\t--input %s --run-id <new id>\n", e.show(t.FailedFile))
	}
	w.Flush()
	if t.FailedFile != "" {
		fmt.Fprintln(e.stdout, e.show(t.FailedFile))
	}
	if t.ExitCode != 0 {
		return &exitError{code: t.ExitCode}
	}
	return nil
}
