package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/replace-metadata/replace-metadata/reports"
)

// reportCmd prints a run's summary, summed over its shards and counted
// from results.csv, and writes the run's merged failed rows for a re-run.
// It exits with the run's own code.
func reportCmd(args []string, e env) error {
	asJSON := false
	var dirs []string
	flags := true
	for _, a := range args {
		switch {
		case flags && a == "--":
			flags = false
		case flags && isHelp(a) && a != "help":
			fmt.Fprint(e.stdout, commandHelp(findCommand("report")))
			return nil
		case flags && (a == "--json" || a == "-json"):
			asJSON = true
		case flags && strings.HasPrefix(a, "-") && a != "-":
			return usagef("report: unknown flag %s (usage: replace-metadata report [--json] <run folder>)", a)
		default:
			dirs = append(dirs, a)
		}
	}
	if len(dirs) != 1 {
		return usagef("usage: replace-metadata report [--json] <run folder>")
	}
	dir := dirs[0]
	a, err := reports.Analyze(e.path(dir))
	if err != nil {
		return usagef("%v", err)
	}
	if asJSON {
		b, err := reportJSON(a, dir)
		if err != nil {
			return err
		}
		e.stdout.Write(b)
	} else {
		c := &conclusion{a: a, dir: dir, fsDir: e.path(dir), rates: runRates(a)}
		c.write(e.stdout)
		if a.FailedFile != "" {
			// The merged failed rows, last: a script takes the last line.
			fmt.Fprintln(e.stdout, filepath.Join(dir, filepath.Base(a.FailedFile)))
		}
	}
	if a.ExitCode != 0 {
		return &exitError{code: a.ExitCode}
	}
	return nil
}

// reportJSON is summary.json's object for the whole run (summed over its
// shards, the counts from results.csv), with what report adds after it:
// the shards, whether every summary was settled, the error codes with an
// example each, the merged failed rows, whether there is a backup.
func reportJSON(a *reports.Analysis, dir string) ([]byte, error) {
	type example struct {
		Row     int    `json:"row"`
		Line    int    `json:"line"`
		UserID  string `json:"user_id"`
		Status  int    `json:"http_status"`
		Message string `json:"error_message"`
	}
	type errorCode struct {
		Code    string  `json:"error_code"`
		Rows    int     `json:"rows"`
		Example example `json:"example"`
	}
	extra := struct {
		ShardCount    int         `json:"shard_count"`
		Shards        []int       `json:"shards"`
		MissingShards []int       `json:"missing_shards"`
		Settled       bool        `json:"settled"`
		ErrorCodes    []errorCode `json:"error_codes"`
		FailedFile    string      `json:"failed_file,omitempty"`
		Backup        bool        `json:"backup"`
	}{
		ShardCount: a.Shards[0].Count, Shards: []int{}, MissingShards: append([]int{}, a.Missing...),
		Settled: len(a.Unsettled) == 0, ErrorCodes: []errorCode{}, Backup: a.Backup,
	}
	if a.ShardCount > 0 {
		extra.ShardCount = a.ShardCount
	}
	for _, sh := range a.Shards {
		idx := sh.Index
		if a.ShardCount > 0 {
			idx = a.ShardIndex
		}
		extra.Shards = append(extra.Shards, idx)
	}
	for _, c := range a.Errors {
		x := c.Example
		extra.ErrorCodes = append(extra.ErrorCodes, errorCode{c.Code, c.Rows,
			example{x.Row, x.Line, x.UserID, x.HTTPStatus, x.ErrorMessage}})
	}
	if a.FailedFile != "" {
		extra.FailedFile = filepath.Join(dir, filepath.Base(a.FailedFile))
	}
	sum, err := json.Marshal(a.Summary)
	if err != nil {
		return nil, err
	}
	more, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	joined := append(append(sum[:len(sum)-1:len(sum)-1], ','), more[1:]...)
	var out bytes.Buffer
	if err := json.Indent(&out, joined, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
