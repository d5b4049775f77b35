package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
		{"unknown config key", []string{"validate", "--config", unknownKey}, nil, exitUsage, "", `unknown key "rate_limit" in ` + unknownKey},
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

// TestConfigUnknownKey: an unknown key in the config file is named, with
// the file it is in and the key it likely misspells, at the top level and
// under metrics:, and nothing is read or sent (exit 2).
func TestConfigUnknownKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, yaml string
		args             []string
		want             string
	}{
		{"typo", "config.yaml", "input: x.csv\nreportdir: runs\n", nil,
			`unknown key "reportdir" in config.yaml; did you mean report_dir?`},
		{"flag spelling", "config.yaml", "report-dir: runs\n", nil,
			`unknown key "report-dir" in config.yaml; did you mean report_dir?`},
		{"nested", "config.yaml", "metrics:\n  job_name: x\n  pushgatway_url: http://gw:9091\n", nil,
			`unknown key "metrics.pushgatway_url" in config.yaml; did you mean metrics.pushgateway_url?`},
		{"nested key at the top", "config.yaml", "push_interval: 10s\n", nil,
			`unknown key "push_interval" in config.yaml; did you mean metrics.push_interval?`},
		{"the file named by --config", "prod.yaml", "rate: 10\nRate_Limit: 5\n", []string{"--config", "prod.yaml"},
			`unknown key "Rate_Limit" in prod.yaml (replace-metadata --help lists the settings and their keys)`},
		{"the new settings", "config.yaml", "csv_delimter: ';'\n", nil,
			`unknown key "csv_delimter" in config.yaml; did you mean csv_delimiter?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, tt.file), tt.yaml)
			writeFile(t, filepath.Join(dir, "in.ndjson"), `{"user_id":"user_1","public_metadata":{}}`+"\n")
			got := runIn(t, dir, nil, append([]string{"validate", "--input", "in.ndjson"}, tt.args...)...)
			if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) || strings.Contains(got.stderr, "not found in type") || got.stdout != "" {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr (want %q):\n%s", got.code, exitUsage, got.stdout, tt.want, got.stderr)
			}
		})
	}
}

// TestInputSettings: csv_delimiter and ignore_columns from each source,
// and the values refused.
func TestInputSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "list.yaml"), "csv_delimiter: tab\nignore_columns: [email, \"full name\"]\n")
	writeFile(t, filepath.Join(dir, "string.yaml"), "csv_delimiter: \";\"\nignore_columns: email, name\n")
	cases := []struct {
		name   string
		vars   map[string]string
		args   []string
		delim  rune
		ignore []string
		err    string
	}{
		{"defaults", nil, nil, 0, nil, ""},
		{"yaml list", nil, []string{"--config", "list.yaml"}, '\t', []string{"email", "full name"}, ""},
		{"yaml string", nil, []string{"--config", "string.yaml"}, ';', []string{"email", "name"}, ""},
		{"environment", map[string]string{"REPLACE_METADATA_CSV_DELIMITER": "semicolon", "REPLACE_METADATA_IGNORE_COLUMNS": "a, b,,c"}, nil, ';', []string{"a", "b", "c"}, ""},
		{"flags beat the file", nil, []string{"--config", "list.yaml", "--csv-delimiter", ",", "--ignore-columns", "x"}, ',', []string{"x"}, ""},
		{"auto", nil, []string{"--config", "list.yaml", "--csv-delimiter", "auto"}, 0, []string{"email", "full name"}, ""},
		{"a literal tab", nil, []string{"--csv-delimiter", "\t"}, '\t', nil, ""},
		{"bad delimiter", nil, []string{"--csv-delimiter", "|"}, 0, nil, "want , ; or tab (or auto)"},
		{"bad delimiter in the environment", map[string]string{"REPLACE_METADATA_CSV_DELIMITER": "pipe"}, nil, 0, nil, "REPLACE_METADATA_CSV_DELIMITER"},
		{"a column the tool reads", nil, []string{"--ignore-columns", "email,public_metadata"}, 0, nil,
			`ignore_columns: cannot ignore "public_metadata": it is one of the fields the tool reads`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := loadConfig(newFlagSet(), c.args, func(k string) string { return c.vars[k] }, dir)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want an error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := got.inputOptions()
			if o.Delimiter != c.delim || !slices.Equal(o.Ignore, c.ignore) {
				t.Errorf("got %q %q, want %q %q", o.Delimiter, o.Ignore, c.delim, c.ignore)
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
	if err := decodeConfig(strings.NewReader(string(b)), "config.yaml", &cfg); err != nil {
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
