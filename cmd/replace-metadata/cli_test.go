package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI is the command as a table of args and environment to exit code,
// stdout and stderr.
func TestCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.ndjson"), `{"user_id":"user_1","public_metadata":{}}`+"\n")
	bad := writeFile(t, filepath.Join(dir, "bad.ndjson"), `{"user_id":"user_1","public_metadata":{}}`+"\n"+`{"user_id":"user 2","public_metadata":{}}`+"\n")
	badHeader := writeFile(t, filepath.Join(dir, "bad.csv"), "user_id,public_metdata\nuser_1,{}\n")
	unknownKey := writeFile(t, filepath.Join(dir, "unknown.yaml"), "input: x.csv\nrate_limit: 5\n")
	badValue := writeFile(t, filepath.Join(dir, "badvalue.yaml"), "rate: fast\n")
	keyFile := writeFile(t, filepath.Join(dir, "key"), "not-a-key\n")
	tests := []struct {
		name   string
		args   []string
		vars   map[string]string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{"no args", nil, nil, exitUsage, "", "Usage:"},
		{"help", []string{"help"}, nil, exitOK, "Usage:", ""},
		{"run help", []string{"run", "-h"}, nil, exitOK, "--rate (rate, REPLACE_METADATA_RATE)", ""},
		{"version", []string{"version"}, nil, exitOK, "replace-metadata ", ""},
		{"unknown command", []string{"frobnicate"}, nil, exitUsage, "", `unknown command "frobnicate"`},
		{"unknown flag", []string{"run", "--nope"}, nil, exitUsage, "", "flag provided but not defined: -nope"},
		{"stray argument", []string{"run", "--input", good, "extra"}, nil, exitUsage, "", `unexpected argument "extra"`},
		{"no input", []string{"run"}, map[string]string{"CLERK_SECRET_KEY": testKey}, exitUsage, "", "no input"},
		{"missing input", []string{"run", "--input", filepath.Join(dir, "nope.csv")}, map[string]string{"CLERK_SECRET_KEY": testKey}, exitUsage, "", "open input"},
		{"unknown extension", []string{"validate", "--input", keyFile}, nil, exitUsage, "", "--format"},
		{"no key", []string{"run", "--input", good}, nil, exitUsage, "", "no secret key"},
		{"malformed key", []string{"run", "--input", good}, map[string]string{"CLERK_SECRET_KEY": "pk_test_abc123"}, exitUsage, "", "does not look like a Clerk secret key"},
		{"malformed key file", []string{"run", "--input", good, "--secret-key-file", keyFile}, nil, exitUsage, "", "does not look like a Clerk secret key"},
		{"two keys", []string{"run", "--input", good, "--secret-key-file", keyFile}, map[string]string{"CLERK_SECRET_KEY": testKey}, exitUsage, "", "keep one"},
		{"plain http", []string{"run", "--input", good, "--api-url", "http://api.example.com"}, map[string]string{"CLERK_SECRET_KEY": testKey}, exitUsage, "", "clear text"},
		{"bad header", []string{"run", "--input", badHeader}, map[string]string{"CLERK_SECRET_KEY": testKey, "CLERK_API_URL": "http://127.0.0.1:1"}, exitUsage, "", `bad.csv:1: unknown column "public_metdata"`},
		{"unknown config key", []string{"validate", "--config", unknownKey}, nil, exitUsage, "", "field rate_limit not found"},
		{"bad config value", []string{"validate", "--config", badValue, "--input", good}, nil, exitUsage, "", "want a positive number"},
		{"missing config", []string{"validate", "--config", filepath.Join(dir, "none.yaml")}, nil, exitUsage, "", "read config"},
		{"bad env value", []string{"validate", "--input", good}, map[string]string{"REPLACE_METADATA_WORKERS": "lots"}, exitUsage, "", "REPLACE_METADATA_WORKERS"},
		{"bad run id", []string{"run", "--input", good, "--run-id", "../x"}, map[string]string{"CLERK_SECRET_KEY": testKey}, exitUsage, "", "run id"},
		{"shard out of range", []string{"validate", "--input", good, "--shard-count", "2"}, map[string]string{"JOB_COMPLETION_INDEX": "2"}, exitUsage, "", "shard_index 2"},
		{"validate ok", []string{"validate", "--input", good}, nil, exitOK, "1 row: 1 valid, 0 invalid", ""},
		{"validate invalid", []string{"validate", "--input", bad}, nil, exitRows, `bad.ndjson:2: row 2: invalid (invalid_user_id)`, ""},
		{"dry run is validate", []string{"run", "--dry-run", "--input", bad}, nil, exitRows, "2 rows: 1 valid, 1 invalid", ""},
		{"validate header", []string{"validate", "--input", badHeader}, nil, exitUsage, "", "unknown column"},
		{"validate stdin needs format", []string{"validate", "--input", "-"}, nil, exitUsage, "", "--format is needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runInProcess(t, tt.vars, "", tt.args...)
			if got.code != tt.code || !strings.Contains(got.stdout, tt.stdout) || !strings.Contains(got.stderr, tt.stderr) {
				t.Errorf("exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", got.code, tt.code, tt.stdout, got.stdout, tt.stderr, got.stderr)
			}
		})
	}
}

// TestPrecedence: defaults < config file < environment < flags that were set.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := writeFile(t, filepath.Join(dir, "c.yaml"), "rate: 10\nworkers: 3\nmax_attempts: 2\nrun_id: ${RUN}\nmetrics:\n  job_name: fromfile\n")
	cases := []struct {
		name string
		vars map[string]string
		args []string
		want config
	}{
		{"file", map[string]string{"RUN": "expanded"}, nil,
			config{Rate: 10, Workers: 3, MaxAttempts: 2, RunID: "expanded", Metrics: metrics{JobName: "fromfile"}}},
		{"env beats file", map[string]string{"REPLACE_METADATA_RATE": "20", "REPLACE_METADATA_METRICS_JOB_NAME": "fromenv"}, nil,
			config{Rate: 20, Workers: 3, MaxAttempts: 2, RunID: "", Metrics: metrics{JobName: "fromenv"}}},
		{"flag beats env", map[string]string{"REPLACE_METADATA_RATE": "20"}, []string{"--rate", "30", "--workers", "auto"},
			config{Rate: 30, Workers: 0, MaxAttempts: 2, Metrics: metrics{JobName: "fromfile"}}},
		{"no expansion", map[string]string{"RUN": "x"}, []string{"--no-expand-env"},
			config{Rate: 10, Workers: 3, MaxAttempts: 2, RunID: "${RUN}", Metrics: metrics{JobName: "fromfile"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fs := newFlagSet()
			got, err := loadConfig(fs, append([]string{"--config", cfgFile}, c.args...), func(k string) string { return c.vars[k] }, "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Rate != c.want.Rate || got.Workers != c.want.Workers || got.MaxAttempts != c.want.MaxAttempts ||
				got.RunID != c.want.RunID || got.Metrics.JobName != c.want.Metrics.JobName {
				t.Errorf("got rate %v workers %v attempts %v run %q job %q; want %v %v %v %q %q",
					got.Rate, got.Workers, got.MaxAttempts, got.RunID, got.Metrics.JobName,
					c.want.Rate, c.want.Workers, c.want.MaxAttempts, c.want.RunID, c.want.Metrics.JobName)
			}
			if got.Timeout != defaults().Timeout {
				t.Errorf("timeout %v, want the default", got.Timeout)
			}
		})
	}
}

// TestShippedConfig: config.yaml at the root decodes strictly and names
// every setting, each with a comment.
func TestShippedConfig(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	if err := decodeConfig(strings.NewReader(string(b)), &cfg); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if err := cfg.check(); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	lines := strings.Split(string(b), "\n")
	for _, s := range settings {
		key := s.key[strings.LastIndex(s.key, ".")+1:] + ":"
		found := false
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), key) {
				found = true
				if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
					t.Errorf("config.yaml key %s has no comment above it", s.key)
				}
			}
		}
		if !found {
			t.Errorf("config.yaml lacks the key %s", s.key)
		}
	}
	if _, err := os.Stat(filepath.Join("../..", cfg.Input)); err != nil {
		t.Errorf("config.yaml input %s: %v", cfg.Input, err)
	}
}

// TestHelpNamesEverySetting: each command's help comes from the settings
// list: it names every setting that applies to the command, and only
// those; every setting applies to some command.
func TestHelpNamesEverySetting(t *testing.T) {
	t.Parallel()
	for _, s := range settings {
		line := fmt.Sprintf("--%s (%s, %s)", s.flag, s.key, s.envName())
		some := false
		for _, c := range commands {
			got := strings.Contains(commandHelp(&c), line)
			if got != s.appliesTo(c.set) {
				t.Errorf("%s --help names --%s: %v, want %v", c.name, s.flag, got, !got)
			}
			some = some || got
		}
		if !some {
			t.Errorf("no command's help names --%s", s.flag)
		}
	}
}
