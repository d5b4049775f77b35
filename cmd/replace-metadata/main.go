// Command replace-metadata applies replacement metadata to Clerk users from
// a CSV or NDJSON file through PUT /v1/users/{user_id}/metadata, and
// records what happened to every row.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	// The first signal stops the run gracefully: no new requests, the ones
	// in flight get the grace period. The second cancels them at once.
	ctx, stop := context.WithCancelCause(context.Background())
	kill := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	// SIGHUP (a closed terminal, a dropped SSH session) stops the run as
	// SIGTERM does: results written, summary settled, resumable.
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		stop(signalCause(<-sigs))
		<-sigs
		close(kill)
		// Reports are crash-safe; if flushing them hangs, do not hang too.
		time.Sleep(5 * time.Second)
		os.Exit(exitAborted)
	}()
	err := run(ctx, os.Args[1:], env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, kill: kill,
	})
	os.Exit(report(err, os.Stderr))
}

// signalCause says why a signal stopped the run, in the words summary.json
// keeps under "stopped".
func signalCause(s os.Signal) error {
	switch s {
	case syscall.SIGINT:
		return errors.New("interrupted (SIGINT)")
	case syscall.SIGTERM:
		return errors.New("terminated (SIGTERM)")
	}
	return fmt.Errorf("received %v", s)
}
