package main

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/replace-metadata/replace-metadata/reports"
)

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

// checkResume refuses to resume a run over an input that is not the one
// it started with: rows are known by their number, so a resume over
// another file would take its rows for done without sending them. There
// is no way around it: a new run id costs little (with reads on, rows
// already applied end unchanged, at a read per hundred users).
func checkResume(prev *reports.Summary, src *source, runID string) error {
	if prev == nil {
		return nil
	}
	started := cmp.Or(prev.Input, "its input")
	if prev.Format != "" && prev.Format != string(src.format) {
		return usagef("run %s was started on %s (%s); this input is %s: use a new --run-id", runID, started, prev.Format, src.format)
	}
	if src.sha256 == "" || prev.InputSHA256 == "" {
		return usagef("run %s exists, and its input (%s) cannot be checked against this one (standard input has no sha256 until it is read whole): use a new --run-id; with reads on, rows already applied end unchanged", runID, started)
	}
	if prev.InputSHA256 != src.sha256 {
		return usagef("run %s was started on %s (sha256 %s), and %s has sha256 %s: resume it with that file unchanged, or use a new --run-id (rows already applied end unchanged, at a read per hundred users)",
			runID, started, prev.InputSHA256, src.name, src.sha256)
	}
	return nil
}

// secretKey returns the key from CLERK_SECRET_KEY or secret_key_file.
func secretKey(cfg config, e env) (string, error) {
	envKey := e.getenv("CLERK_SECRET_KEY")
	var key, from string
	switch {
	case envKey != "" && cfg.SecretKeyFile != "":
		return "", usagef("both CLERK_SECRET_KEY and secret_key_file are set: keep one")
	case envKey != "":
		key, from = envKey, "CLERK_SECRET_KEY"
	case cfg.SecretKeyFile != "":
		b, err := os.ReadFile(e.path(cfg.SecretKeyFile))
		if err != nil {
			return "", usagef("read secret_key_file: %v", err)
		}
		key, from = strings.TrimSpace(string(b)), "secret_key_file "+cfg.SecretKeyFile
	default:
		return "", usagef("no secret key: set CLERK_SECRET_KEY or secret_key_file (or use --sandbox to try the tool)")
	}
	if !keyRE.MatchString(key) {
		return "", usagef("%s does not look like a Clerk secret key (sk_live_... or sk_test_...)", from)
	}
	return key, nil
}

var keyRE = regexp.MustCompile(`^sk_(live|test)_[A-Za-z0-9_\-]{4,}$`)

// confirm asks before a run writes to a production instance, when a
// person is there to answer; scheduled runs are never asked.
func confirm(e env, src *source, apiURL string) error {
	if !isTerminal(e.stdin) || !isTerminal(e.stderr) {
		return nil
	}
	if src.file == nil {
		return usagef("the key is a live key and the input is standard input, so there is no one to confirm: pass --yes")
	}
	rows := "the rows of " + src.name
	if src.rows > 0 {
		rows = count(src.rows, "row") + " of " + src.name
	}
	fmt.Fprintf(e.stderr, "This run writes %s to a PRODUCTION Clerk instance (live key) at %s.\nType yes to go on: ", rows, apiURL)
	answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
	if strings.TrimSpace(answer) != "yes" {
		return usagef("not confirmed: nothing was sent")
	}
	return nil
}

// logStart logs the run's effective settings.
func (s *session) logStart() {
	cfg, src, prior := s.cfg, s.src, s.sum.Counts
	resumed := s.prev != nil
	ev := s.log.Info().Str("version", toolVersion()).Str("run_id", s.runID).Str("run_dir", s.dir).
		Str("input", src.name).Str("format", string(src.format)).
		Str("api_url", s.apiURL).Str("key", s.keyKind).
		Str("rate", cfg.Rate.String()).Str("rate_from", s.rateFrom).Str("workers", cfg.Workers.String()).
		Int("max_attempts", cfg.MaxAttempts).Stringer("timeout", &cfg.Timeout).
		Stringer("deadline", &cfg.Deadline).Stringer("grace_period", &cfg.Grace).
		Int("circuit_breaker", cfg.Breaker).Bool("reject_duplicates", cfg.RejectDuplicates).
		Bool("resumed", resumed)
	if cfg.ShardCount > 1 {
		ev = ev.Int("shard_index", cfg.ShardIndex).Int("shard_count", cfg.ShardCount)
	}
	if cfg.Metrics.PushgatewayURL != "" {
		ev = ev.Str("pushgateway_url", redactURL(cfg.Metrics.PushgatewayURL))
	}
	if src.sha256 != "" {
		ev = ev.Str("input_sha256", src.sha256)
	}
	if src.rows > 0 {
		ev = ev.Int("rows", src.rows)
		if cfg.Rate > 0 {
			// Shards split the rows and the rate alike.
			left := max(src.rows-prior.Total(), 0)
			d := time.Duration(float64(left) / float64(cfg.Rate) * float64(time.Second))
			ev = ev.Str("expected_duration", d.Round(time.Second).String())
		}
	}
	if resumed {
		ev = ev.Int("already_done", prior.Total())
	}
	switch s.keyKind {
	case "live":
		ev.Msg("starting run against a PRODUCTION instance (live key)")
	case "sandbox":
		ev.Msg("starting run against the built-in sandbox (no real Clerk instance)")
	default:
		ev.Msg("starting run against a development instance (test key)")
	}
}

// logProgress returns the consumer that logs a progress line: rows done,
// their rate since the last line, and the time left.
func (s *session) logProgress() func(reports.Progress) {
	var last int
	var lastAt time.Duration
	return func(p reports.Progress) {
		if p.Final || s.display != nil {
			return // the display shows it
		}
		done := p.Counts.Total()
		perSec := 0.0
		if d := (p.Elapsed - lastAt).Seconds(); d > 0 {
			perSec = float64(done-last) / d
		}
		last, lastAt = done, p.Elapsed
		ev := s.log.Info().Int("done", done).Float64("rows_per_second", math.Round(perSec*10)/10).
			Int64("requests", p.Requests).Str("rate_limit", fmtRate(p.Rate)).Int("workers", p.Workers)
		if p.Total > 0 {
			ev = ev.Int("total", p.Total)
			if left := p.Total - done; left > 0 && perSec > 0 {
				ev = ev.Str("eta", time.Duration(float64(left)/perSec*float64(time.Second)).Round(time.Second).String())
			}
		}
		ev.Msg("progress")
	}
}

func fmtRate(r float64) string {
	if math.IsInf(r, 1) {
		return "unlimited"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
}
