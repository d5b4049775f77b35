package main

import (
	"fmt"
	"strings"
)

// cmdSet is a set of the tool's commands, a bit each: the commands a
// setting applies to.
type cmdSet uint16

const (
	cmdRun cmdSet = 1 << iota
	cmdPlan
	cmdValidate
	cmdReport
	cmdVerify
	cmdRollback
	cmdVersion

	// cmdsConnect are the commands that talk to Clerk.
	cmdsConnect = cmdRun | cmdPlan | cmdVerify | cmdRollback
	// cmdsConfig are the commands that read the settings.
	cmdsConfig = cmdsConnect | cmdValidate
)

// command is one of the tool's commands, as help shows it.
type command struct {
	name string
	set  cmdSet
	// args follow the name on the usage line; summary is help's line for
	// it, about its own help's paragraph, example the one example.
	args, summary, about, example string
	// flags are its own, beyond the settings (whose cmds name it).
	flags []commandFlag
}

type commandFlag struct{ name, usage string }

// commands are the tool's commands, in the order help lists them.
var commands = []command{
	{name: "run", set: cmdRun, args: "[flags]", summary: "apply the input to Clerk",
		about: `Replaces each row's metadata fields through PUT /v1/users/{user_id}/metadata,
at --rate, reading each user first (so the values it replaces are backed up,
rows that change nothing are not written, removed keys are counted). It
writes the run folder <report-dir>/<run-id> (results.csv, failed.csv or
failed.ndjson, backup.ndjson, summary.json) and prints its path as the last
line of stdout. The same --run-id resumes a stopped run.`,
		example: "replace-metadata run --input users.ndjson --run-id plan-migration --rate 90"},
	{name: "plan", set: cmdPlan, args: "[flags]", summary: "read every user and say what run would change, remove and skip; write nothing",
		about: `Reads every user the input names and writes plan.ndjson (what run would do
to each row: change, unchanged, not_found, invalid, read_failed, and the
paths each replace removes, adds and changes) and before.ndjson in the run
folder. It sends no write.`,
		example: "replace-metadata plan --input users.ndjson --run-id plan-migration-plan"},
	{name: "validate", set: cmdValidate, args: "[flags]", summary: "check the input offline and send nothing",
		about: `Reads the whole input and prints file:line: row N: invalid (code): reason for
each row run would refuse, then a summary. Exits 0 when every row is valid,
1 when some are not, 2 when the file cannot be read.`,
		example: "replace-metadata validate --input users.csv"},
	{name: "report", set: cmdReport, args: "[--json] <run folder>", summary: "summarize a run, finished or stopped, summed over its shards",
		about: `Prints a run's summary: its rows by outcome (counted from results.csv), the
most common error codes with an example each, requests, removed keys, its
files and the commands to go on. For a sharded run it sums the shards and
writes their failed rows, merged, into the run folder; their path is the
last line. It exits with the run's own exit code.`,
		example: "replace-metadata report runs/plan-migration",
		flags:   []commandFlag{{"json", "print summary.json's data, summed over the shards and counted from results.csv, with the error codes, as one JSON object"}}},
	{name: "verify", set: cmdVerify, args: "<run folder> [flags]", summary: "read back every user the run wrote and compare",
		about: `Reads back, in batches, every user the run in the folder wrote (sharded
folders too), and compares each field the run replaced with the last value
the run wrote to it. Writes verify.csv in the folder (ok, mismatch, missing,
and for a mismatch the paths that differ) and prints a summary. It needs the
run's input (the file it read, checked by sha256; --input when it moved) and
the same API URL and key. Exits 0 when everything matches, 1 otherwise.`,
		example: "replace-metadata verify runs/plan-migration"},
	{name: "rollback", set: cmdRollback, args: "<run folder> [flags]", summary: "put back what a run replaced, from its backup, where nothing changed since",
		about: `Puts back every field the run replaced, from its backup.ndjson, where the
user still holds the last value the run wrote to it; a field changed since is
drifted (not written, listed) unless --force. A rollback is a run of its own,
run id <run-id>-rollback unless --run-id: its own reports and backup, resumed
like any run, and rolled back in turn. A sharded run's folder is rolled back
shard by shard. --input names the run's input when it moved.`,
		example: "replace-metadata rollback runs/plan-migration"},
	{name: "version", set: cmdVersion, summary: "print the version, the SDK's and the Clerk API's",
		example: "replace-metadata version"},
}

// findCommand returns the command called name, or nil.
func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// appliesTo reports whether s is one of c's settings.
func (s setting) appliesTo(c cmdSet) bool {
	if s.cmds == 0 {
		return c&(cmdRun|cmdPlan) != 0
	}
	return s.cmds&c != 0
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

const helpIntro = `replace-metadata replaces the metadata of Clerk users from a CSV or NDJSON file,
through PUT /v1/users/{user_id}/metadata, and reports what happened to every row.
`

const helpExitCodes = `Exit codes: 0 every row succeeded; 1 finished with failed or invalid rows;
2 usage, config or input error, nothing sent; 3 stopped before every row had
an outcome (signal, deadline, circuit breaker): resume with the same --run-id;
4 Clerk refused the key.
`

// commandList is the help of the tool as a whole: its commands.
func commandList() string {
	var b strings.Builder
	b.WriteString(helpIntro)
	b.WriteString("\nUsage: replace-metadata <command> [arguments]\n\nCommands:\n")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name)+1+len(c.args))
	}
	for _, c := range commands {
		lines := wrap(c.summary, 80-4-width)
		fmt.Fprintf(&b, "  %-*s  %s\n", width, strings.TrimSpace(c.name+" "+c.args), lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, "", l)
		}
	}
	b.WriteString("\n'replace-metadata <command> --help' (or 'replace-metadata help <command>')\nshows a command's flags and an example.\n\n")
	b.WriteString(helpExitCodes)
	return b.String()
}

// commandHelp is one command's help: its usage line, what it does, an
// example and its flags, the settings among them from the one list of
// settings.
func commandHelp(c *command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n\n", strings.TrimSpace("replace-metadata "+c.name+" "+c.args))
	about := c.about
	if about == "" {
		about = strings.ToUpper(c.summary[:1]) + c.summary[1:] + "."
	}
	fmt.Fprintf(&b, "%s\n\nExample:\n  %s\n", about, c.example)
	var flags strings.Builder
	for _, f := range c.flags {
		fmt.Fprintf(&flags, "  --%s\n        %s\n", f.name, f.usage)
	}
	d := defaults()
	for _, s := range settings {
		if !s.appliesTo(c.set) {
			continue
		}
		fmt.Fprintf(&flags, "  --%s (%s, %s)\n", s.flag, s.key, s.envName())
		def := s.value(&d).String()
		if def != "" && def != "false" && def != "0s" && def != "0" {
			fmt.Fprintf(&flags, "        %s (default %s)\n", s.usage, def)
		} else {
			fmt.Fprintf(&flags, "        %s\n", s.usage)
		}
	}
	if c.set&cmdsConfig != 0 {
		flags.WriteString(`  --config FILE
        config file (default ./config.yaml when present; env REPLACE_METADATA_CONFIG)
  --no-expand-env
        do not expand $VARS in the config file
`)
	}
	if flags.Len() > 0 {
		b.WriteString("\nFlags")
		if c.set&cmdsConfig != 0 {
			b.WriteString(" (config key, environment variable)")
		}
		b.WriteString(":\n")
		b.WriteString(flags.String())
	}
	if c.set&cmdsConfig != 0 {
		b.WriteString(`
Settings, lowest to highest precedence: built-in defaults, config.yaml (or
--config FILE), environment variables, flags. The secret key comes from
CLERK_SECRET_KEY or secret_key_file, never from a flag or config.yaml.
`)
	}
	if c.set&(cmdRun|cmdPlan) != 0 {
		b.WriteString("\n" + helpExitCodes)
	}
	return b.String()
}

// wrap breaks text into lines of at most width bytes, between words.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
