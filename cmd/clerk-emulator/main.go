// Command clerk-emulator serves the Clerk Backend API emulator (package clerkapi/emulator) out of
// process, for benchmarks and manual testing. It prints "listening on <base URL>" once it
// accepts connections, serves until SIGINT or SIGTERM, and then prints its stats as JSON on
// stderr. Tests change users behind a client's back, and take from the instance's budget,
// through the admin endpoints under /_emulator/ (see the package's documentation).
//
//	clerk-emulator -key sk_test_x -instance-limit 1000 -user-limit 10 -fault 503=0.01 -users seed.ndjson
//	clerk-emulator -instance-limit 100 -instance-shape token-bucket -instance-burst 20 -background-load 4 -fault apply-late=0.05 -late-delay 8s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "clerk-emulator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, addr, usersFile, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	s := emulator.New(cfg)
	if usersFile != "" {
		if err := loadUsers(s, usersFile); err != nil {
			return err
		}
	}
	base, err := s.Start(addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stdout, "listening on %s\n", base)
	<-ctx.Done()
	err = s.Close()
	if b, jerr := json.Marshal(s.Stats()); jerr == nil {
		fmt.Fprintf(stderr, "stats: %s\n", b)
	}
	return err
}

func loadUsers(s *emulator.Server, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer f.Close()
	if _, err := s.LoadUsers(f); err != nil {
		return fmt.Errorf("users: %s:%w", name, err) // LoadUsers errors start with "line N:"
	}
	return nil
}

// parseFlags turns the command line into the emulator's configuration.
func parseFlags(args []string, stderr io.Writer) (cfg emulator.Config, addr, usersFile string, err error) {
	fs := flag.NewFlagSet("clerk-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	faults := faultFlag{}
	fs.StringVar(&addr, "addr", "127.0.0.1:8787", "`host:port` to listen on (port 0 picks a free one)")
	fs.Var((*listFlag)(&cfg.Keys), "key", "accepted secret `key`; repeat or separate with commas (default: any sk_test_/sk_live_ key)")
	fs.Var((*listFlag)(&cfg.ForbiddenKeys), "forbidden-key", "secret `key` that authenticates but gets 403; repeat or separate with commas")
	fs.IntVar(&cfg.InstanceLimit, "instance-limit", 0, "requests per instance window across the instance (0: unlimited)")
	fs.DurationVar(&cfg.InstanceWindow, "instance-window", 0, "instance limit window (default 10s)")
	fs.Var(shapeFlag{&cfg.InstanceShape}, "instance-shape", "`shape` of the instance limit: "+shapeKinds+" (default fixed, or sliding with -sliding)")
	fs.IntVar(&cfg.InstanceBurst, "instance-burst", 0, "token bucket size for the instance limit, one second's worth to -instance-limit (default -instance-limit)")
	fs.Float64Var(&cfg.BackgroundLoad, "background-load", 0, "another client's `requests per second` taking from the instance limit")
	fs.IntVar(&cfg.UserLimit, "user-limit", 0, "metadata writes per user per user window (0: unlimited)")
	fs.DurationVar(&cfg.UserWindow, "user-window", 0, "per-user limit window (default 10s)")
	fs.Var(shapeFlag{&cfg.UserShape}, "user-shape", "`shape` of the per-user limit: "+shapeKinds+" (default fixed, or sliding with -sliding)")
	fs.IntVar(&cfg.UserBurst, "user-burst", 0, "token bucket size for the per-user limit, one second's worth to -user-limit (default -user-limit)")
	fs.BoolVar(&cfg.Sliding, "sliding", false, "sliding windows for the limits whose shape is not given")
	fs.DurationVar(&cfg.Latency, "latency", 0, "wait before handling each request")
	fs.DurationVar(&cfg.Jitter, "jitter", 0, "add a uniform random wait in [0, jitter)")
	fs.Var(faults, "fault", "inject `kind=probability` per request; repeat or separate with commas; kinds: "+faultKinds())
	fs.DurationVar(&cfg.LateDelay, "late-delay", 0, "how long after arrival the apply-late fault applies a write (default 500ms)")
	fs.Int64Var(&cfg.Seed, "seed", 0, "seed for jitter, faults and trace ids")
	fs.BoolVar(&cfg.AutoCreate, "auto-create", false, "create unknown users on write instead of answering 404")
	fs.IntVar(&cfg.MaxFieldBytes, "max-field-bytes", 0, "limit on each metadata field's compact JSON size (0: unlimited)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 0, "limit on request bodies (default 1 MiB)")
	fs.BoolVar(&cfg.RecordHistory, "record-history", false, "keep every applied PUT body (GET /_emulator/history?user_id=…)")
	fs.BoolVar(&cfg.RecordRequests, "record-requests", false, "keep a log of every request (GET /_emulator/requests)")
	fs.StringVar(&usersFile, "users", "", "NDJSON `file` of users to seed, lines like "+
		`{"id":"user_1","external_id":"crm-1","email_addresses":["a@example.com"],"public_metadata":{}}`)
	if err := fs.Parse(args); err != nil {
		return cfg, "", "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", "", fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if len(faults) > 0 {
		cfg.Faults = faults
	}
	if err := cfg.Validate(); err != nil {
		return cfg, "", "", err
	}
	return cfg, addr, usersFile, nil
}

// shapeKinds lists the limit shapes a flag takes.
const shapeKinds = "fixed, sliding or token-bucket"

// shapeFlag sets a limit shape by name.
type shapeFlag struct{ p *emulator.LimitShape }

func (f shapeFlag) String() string {
	if f.p == nil || *f.p == emulator.LimitDefault {
		return ""
	}
	return f.p.String()
}

func (f shapeFlag) Set(v string) error {
	shape, err := emulator.ParseLimitShape(v)
	if err != nil {
		return err
	}
	*f.p = shape
	return nil
}

func faultKinds() string {
	var names []string
	for f := emulator.Fault500; ; f++ {
		if _, err := emulator.ParseFault(f.String()); err != nil {
			break
		}
		names = append(names, f.String())
	}
	return strings.Join(names, ", ")
}

// listFlag is a string list flag that may be repeated and takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// faultFlag collects kind=probability pairs.
type faultFlag map[emulator.Fault]float64

func (f faultFlag) String() string {
	var parts []string
	for k, p := range f {
		parts = append(parts, fmt.Sprintf("%v=%v", k, p))
	}
	return strings.Join(parts, ",")
}

func (f faultFlag) Set(v string) error {
	for _, pair := range strings.Split(v, ",") {
		name, prob, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return fmt.Errorf("%q is not kind=probability", pair)
		}
		kind, err := emulator.ParseFault(name)
		if err != nil {
			return err
		}
		if kind == emulator.FaultNone {
			return errors.New("fault none cannot be injected")
		}
		p, err := strconv.ParseFloat(prob, 64)
		if err != nil {
			return fmt.Errorf("fault %s: probability %q is not a number", name, prob)
		}
		f[kind] = p
	}
	return nil
}
