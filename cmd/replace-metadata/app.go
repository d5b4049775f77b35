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
		fmt.Fprint(e.stderr, commandList())
		return &exitError{code: exitUsage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run", "validate", "plan":
		cfg, err := loadConfig(newFlagSet(), rest, e.getenv, e.dir)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, commandHelp(findCommand(cmd)))
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
		if len(rest) > 0 && isHelp(rest[0]) {
			fmt.Fprint(e.stdout, commandHelp(findCommand(cmd)))
			return nil
		}
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return usagef("usage: replace-metadata %s <run folder> [flags]", cmd)
		}
		cfg, err := loadConfig(newFlagSet(), rest[1:], e.getenv, e.dir)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, commandHelp(findCommand(cmd)))
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
		if len(rest) > 0 && isHelp(rest[0]) {
			fmt.Fprint(e.stdout, commandHelp(findCommand("version")))
			return nil
		}
		fmt.Fprintf(e.stdout, "replace-metadata %s (clerk-sdk-go %s, Clerk API %s, %s)\n",
			toolVersion(), clerkapi.SDKVersion, clerkapi.APIVersion, runtime.Version())
		return nil
	case "help", "-h", "-help", "--help":
		return helpCmd(rest, e)
	}
	if c := findCommand(cmd); c != nil {
		if len(rest) > 0 && isHelp(rest[0]) {
			fmt.Fprint(e.stdout, commandHelp(c))
			return nil
		}
		return usagef("%s is not in this build of replace-metadata (%s)", cmd, toolVersion())
	}
	fmt.Fprint(e.stderr, commandList())
	return usagef("unknown command %q", cmd)
}

// helpCmd prints the list of commands, or one command's help.
func helpCmd(args []string, e env) error {
	if len(args) == 0 {
		fmt.Fprint(e.stdout, commandList())
		return nil
	}
	c := findCommand(args[0])
	if c == nil || len(args) > 1 {
		fmt.Fprint(e.stderr, commandList())
		return usagef("no help for %q", strings.Join(args, " "))
	}
	fmt.Fprint(e.stdout, commandHelp(c))
	return nil
}

// newFlagSet returns a flag set that prints nothing: usage has one source.
func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("replace-metadata", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}
