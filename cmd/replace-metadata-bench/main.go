// Command replace-metadata-bench measures replace-metadata, as whole
// processes, against the targets of issue 5 ("Performance") and of issues
// 9 and 10 (overhead and memory with reads on, a nightly sync): it builds
// the tool and the Clerk emulator (cmd/clerk-emulator) into a temp dir,
// generates realistic inputs of distinct users, starts an emulator per
// scenario with that scenario's limits and latency, runs the tool, and
// prints every figure next to its target with PASS or MISS.
//
//	go run ./cmd/replace-metadata-bench                  # every scenario, ~10 min
//	go run ./cmd/replace-metadata-bench -quick           # a smoke version, ~3 min
//	go run ./cmd/replace-metadata-bench -only pacing,overhead -out results.md
//
// It uses only the standard library, and times nothing inside go test: the
// figures are for BENCHMARKS.md and a reviewer, not assertions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv(measureEnv) != "" {
		os.Exit(measureChild(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "replace-metadata-bench:", err)
		os.Exit(1)
	}
}

// run parses the flags and runs the scenarios they select.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replace-metadata-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	b := &bench{Stdout: stdout, Stderr: stderr}
	var only string
	fs.BoolVar(&b.quick, "quick", false, "a short smoke version of every scenario (fewer rows, shorter runs)")
	fs.StringVar(&only, "only", "", "comma-separated `scenarios` to run (a prefix before '-' selects a group: memory, limits, limits-sliding); default all: "+scenarioNames())
	fs.IntVar(&b.rows, "rows", 0, "rows of every selected scenario's (largest) input, instead of its default")
	fs.StringVar(&b.out, "out", "", "also write the results as a markdown table to `file`")
	fs.IntVar(&b.workers, "workers", 16, "W: the concurrency of the overhead and curl comparisons")
	fs.BoolVar(&b.keep, "keep", false, "keep the temp dir (binaries, inputs, run folders, logs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	selected, err := selectScenarios(only)
	if err != nil {
		return err
	}
	if b.rows < 0 || b.workers < 1 {
		return errors.New("-rows must not be negative and -workers must be at least 1")
	}
	return b.run(ctx, selected)
}
