package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/reports"
)

// Exit codes: see reports.Settle.
const (
	exitOK      = reports.ExitOK
	exitRows    = reports.ExitRows
	exitUsage   = reports.ExitUsage
	exitAborted = reports.ExitStopped
	// exitKeyRefused: see reports.ExitKeyRefused.
	exitKeyRefused = reports.ExitKeyRefused
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

func userAgent() string {
	return fmt.Sprintf("replace-metadata/%s clerk-sdk-go/%s", toolVersion(), clerkapi.SDKVersion)
}

// env is what the command gets from its process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// dir is the working directory relative paths are taken from ("": the
	// process's own), so tests run the command in process, in a folder.
	dir string
	// kill is closed on a second signal: cancel requests in flight now.
	kill <-chan struct{}
}

// path returns p taken from the working directory.
func (e env) path(p string) string { return inDir(e.dir, p) }

// show returns a path that path made, as the user would have written it.
func (e env) show(p string) string {
	if e.dir != "" {
		if rel, err := filepath.Rel(e.dir, p); err == nil && filepath.IsLocal(rel) {
			return rel
		}
	}
	return p
}

// exitError carries an exit code; a nil err means nothing more to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// report prints err, if it has something to say, and returns the exit code.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitAborted
	var ee *exitError
	var ue *usageError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err == nil {
			return code
		}
	case errors.As(err, &ue):
		code = exitUsage
	}
	fmt.Fprintf(stderr, "replace-metadata: %v\n", err)
	return code
}

// run is the whole command: it parses args and runs a subcommand.
func run(ctx context.Context, args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage())
		return &exitError{code: exitUsage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run", "validate", "plan":
		cfg, err := loadConfig(newFlagSet(), rest, e.getenv, e.dir)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, usage())
			return nil
		}
		if err != nil {
			return err
		}
		if cmd == "validate" || cfg.DryRun {
			return validate(cfg, e)
		}
		return apply(ctx, cfg, e, cmd == "plan")
	case "verify", "rollback":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help") {
				fmt.Fprint(e.stdout, usage())
				return nil
			}
			return usagef("usage: replace-metadata %s RUN-FOLDER [flags]", cmd)
		}
		cfg, err := loadConfig(newFlagSet(), rest[1:], e.getenv, e.dir)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, usage())
			return nil
		}
		if err != nil {
			return err
		}
		if cmd == "verify" {
			return verifyCmd(ctx, rest[0], cfg, e)
		}
		return rollbackCmd(ctx, rest[0], cfg, e)
	case "report":
		return reportCmd(rest, e)
	case "version", "--version", "-version":
		fmt.Fprintf(e.stdout, "replace-metadata %s (clerk-sdk-go %s, Clerk API %s, %s)\n",
			toolVersion(), clerkapi.SDKVersion, clerkapi.APIVersion, runtime.Version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage())
		return nil
	}
	fmt.Fprint(e.stderr, usage())
	return usagef("unknown command %q", cmd)
}

// newFlagSet returns a flag set that prints nothing: usage has one source.
func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("replace-metadata", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// usage is the command's help, built from the one list of settings.
func usage() string {
	var b strings.Builder
	b.WriteString(`replace-metadata replaces the metadata of Clerk users from a CSV or NDJSON file,
through PUT /v1/users/{user_id}/metadata, and reports what happened to every row.

Usage:
  replace-metadata run [flags]          apply the input
  replace-metadata plan [flags]         read every user and say what run would change,
                                        remove and skip; write nothing
  replace-metadata validate [flags]     check the input offline and send nothing
  replace-metadata report RUN-FOLDER    print a run's totals, summed over its shards,
                                        and write its merged failed rows
  replace-metadata version

Settings, lowest to highest precedence: built-in defaults, config.yaml (or
--config FILE), environment variables, flags. The secret key comes from
CLERK_SECRET_KEY or secret_key_file, never from a flag or config.yaml.

Flags (config key, environment variable):
`)
	d := defaults()
	for _, s := range settings {
		fmt.Fprintf(&b, "  --%s (%s, %s)\n", s.flag, s.key, s.envName())
		def := s.value(&d).String()
		if def != "" && def != "false" && def != "0s" && def != "0" {
			fmt.Fprintf(&b, "        %s (default %s)\n", s.usage, def)
		} else {
			fmt.Fprintf(&b, "        %s\n", s.usage)
		}
	}
	b.WriteString(`  --config FILE
        config file (default ./config.yaml when present; env REPLACE_METADATA_CONFIG)
  --no-expand-env
        do not expand $VARS in the config file

Exit codes: 0 every row succeeded; 1 finished with failed or invalid rows;
2 usage, config or input error, nothing sent; 3 stopped before every row had
an outcome (signal, deadline, wrong key, circuit breaker): resume with the
same --run-id.
`)
	return b.String()
}
