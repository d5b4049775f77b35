package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/replace-metadata/replace-metadata/reports"
)

// openPlan opens the plan files in the run folder: a folder that holds a
// plan is replaced only with --force; one that holds a run never is.
func (s *session) openPlan() (recorder, error) {
	w, err := reports.OpenPlan(s.env.path(s.dir), s.cfg.Force)
	switch {
	case errors.Is(err, reports.ErrPlanExists):
		return nil, usagef("run %s already holds a plan: pass --force to replace it, or use a new --run-id", s.runID)
	case errors.Is(err, reports.ErrRunExists):
		return nil, usagef("run %s holds a run's results, which a plan never replaces: use a new --run-id", s.runID)
	case err != nil:
		return nil, err
	}
	return w, nil
}

// keyFingerprint names a key without showing it: a plan made with one key
// must not be applied with another.
func keyFingerprint(key string) string {
	if key == "" {
		return ""
	}
	h := sha256.Sum256([]byte("replace-metadata key fingerprint\x00" + key))
	return "sha256:" + hex.EncodeToString(h[:8])
}

// printPlan writes the plan's summary for a person: what the run would
// change, what it would remove most, and what it cannot do.
func printPlan(w io.Writer, sum *reports.Summary, maxRemoved int) {
	a := sum.Actions
	if a == nil {
		a = &reports.ActionCounts{}
	}
	fmt.Fprintf(w, "Plan: %s change %s (%s removed, %s added, %s changed); %s unchanged",
		count(a[reports.ActionChange], "row"), count(sum.PlanUsers, "user"),
		count(sum.Removed, "key"), group(sum.Added), group(sum.Changed), group(a[reports.ActionUnchanged]))
	if n := a[reports.ActionNotFound]; n > 0 {
		fmt.Fprintf(w, "; %s not found", count(n, "user"))
	}
	if n := a[reports.ActionReadFailed]; n > 0 {
		fmt.Fprintf(w, "; %s could not be read", count(n, "row"))
	}
	if n := a[reports.ActionInvalid]; n > 0 {
		fmt.Fprintf(w, "; %s", count(n, "invalid row"))
	}
	fmt.Fprintln(w, ".")
	if !sum.Complete {
		fmt.Fprintf(w, "The plan stopped before every row was read (%s): it is incomplete.\n", sum.Stopped)
	}
	if maxRemoved >= 0 && sum.Removed > maxRemoved {
		fmt.Fprintf(w, "That removes more keys than --max-removed-keys %s allows: a run would stop before the write that goes over.\n", group(maxRemoved))
	}
	if len(sum.TopRemoved) > 0 {
		fmt.Fprintln(w, "Removed most:")
		tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
		for _, pc := range sum.TopRemoved {
			fmt.Fprintf(tw, "  %s\tremoved from %s\n", pc.Path, count(pc.Users, "user"))
		}
		tw.Flush()
	}
}

// count says n things, with the thousands grouped: "1 row", "1,204 rows".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return group(n) + " " + thing + "s"
}

// plural says n things, one or many, without grouping: "1 row", "14 rows".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// verb is one when n is 1, else many: "1 row has", "2 rows have".
func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// group writes n with its thousands grouped by commas.
func group(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
