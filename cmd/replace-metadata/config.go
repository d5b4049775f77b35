package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/replace-metadata/replace-metadata/input"
)

// config is every setting of the tool. Each is a flag, a key in
// config.yaml and an environment variable; settings below is the one list
// of them, and the source of the usage text.
type config struct {
	Input             string    `yaml:"input"`
	Format            string    `yaml:"format"`
	CSVDelimiter      delimiter `yaml:"csv_delimiter"`
	IgnoreColumns     columns   `yaml:"ignore_columns"`
	ReportDir         string    `yaml:"report_dir"`
	RunID             string    `yaml:"run_id"`
	Rate              rateFlag  `yaml:"rate"`
	Workers           workers   `yaml:"workers"`
	MaxAttempts       int       `yaml:"max_attempts"`
	Timeout           duration  `yaml:"timeout"`
	Deadline          duration  `yaml:"deadline"`
	Grace             duration  `yaml:"grace_period"`
	Breaker           int       `yaml:"circuit_breaker"`
	RejectDuplicates  bool      `yaml:"reject_duplicates"`
	DryRun            bool      `yaml:"dry_run"`
	Force             bool      `yaml:"force"`
	Yes               bool      `yaml:"yes"`
	Sandbox           bool      `yaml:"sandbox"`
	APIURL            string    `yaml:"api_url"`
	SecretKeyFile     string    `yaml:"secret_key_file"`
	AllowInsecureHTTP bool      `yaml:"allow_insecure_http"`
	LogLevel          string    `yaml:"log_level"`
	LogFormat         string    `yaml:"log_format"`
	Progress          duration  `yaml:"progress_interval"`
	ProgressMode      autoFlag  `yaml:"progress"`
	NoRead            bool      `yaml:"no_read"`
	WriteUnchanged    bool      `yaml:"write_unchanged"`
	MaxRemovedKeys    limit     `yaml:"max_removed_keys"`
	Plan              string    `yaml:"plan"`
	Canary            int       `yaml:"canary"`
	Verify            bool      `yaml:"verify"`
	ShardIndex        int       `yaml:"shard_index"`
	ShardCount        int       `yaml:"shard_count"`
	Metrics           metrics   `yaml:"metrics"`
}

type metrics struct {
	PushgatewayURL string   `yaml:"pushgateway_url"`
	PushInterval   duration `yaml:"push_interval"`
	JobName        string   `yaml:"job_name"`
}

func defaults() config {
	return config{
		ReportDir:      "runs",
		Rate:           rateAuto,
		MaxAttempts:    5,
		Timeout:        duration(10 * time.Second),
		Grace:          duration(15 * time.Second),
		Breaker:        50,
		LogLevel:       "info",
		LogFormat:      "auto",
		Progress:       duration(5 * time.Second),
		ProgressMode:   progressAuto,
		ShardCount:     1,
		MaxRemovedKeys: -1,
		APIURL:         "https://api.clerk.com",
		Metrics: metrics{
			PushInterval: duration(30 * time.Second),
			JobName:      "replace-metadata",
		},
	}
}

// setting ties a config field to its flag, YAML key and environment
// variable, and names the commands it applies to (none named: run and
// plan), whose help lists it.
type setting struct {
	flag, key, env, usage string
	cmds                  cmdSet
	value                 func(*config) flag.Value
}

const envPrefix = "REPLACE_METADATA_"

var settings = []setting{
	{flag: "input", key: "input", cmds: cmdRun | cmdPlan | cmdValidate | cmdVerify | cmdRollback, usage: "input file, CSV or NDJSON (- reads standard input); verify and rollback: the run's input, when it is not where the run read it",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.Input) }},
	{flag: "format", key: "format", cmds: cmdRun | cmdPlan | cmdValidate, usage: "input format: csv or ndjson (default: from the file extension .csv, .ndjson, .jsonl)",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.Format) }},
	{flag: "csv-delimiter", key: "csv_delimiter", cmds: cmdRun | cmdPlan | cmdValidate, usage: "CSV cell delimiter: , ; or tab, or auto to tell it from the header line",
		value: func(c *config) flag.Value { return &c.CSVDelimiter }},
	{flag: "ignore-columns", key: "ignore_columns", cmds: cmdRun | cmdPlan | cmdValidate, usage: "comma-separated CSV columns and NDJSON keys to skip, such as email,name kept for people",
		value: func(c *config) flag.Value { return &c.IgnoreColumns }},
	{flag: "report-dir", key: "report_dir", cmds: cmdRun | cmdPlan | cmdRollback, usage: "folder that holds the run folders",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.ReportDir) }},
	{flag: "run-id", key: "run_id", cmds: cmdRun | cmdPlan | cmdRollback, usage: "run id, the run folder's name; the same id resumes a run (default: a UTC timestamp)",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.RunID) }},
	{flag: "rate", key: "rate", cmds: cmdsConnect, usage: "most requests per second, reads and writes together, or unlimited; auto is 9 for a sk_test_ key (a development instance allows 10/s) and 90 for a sk_live_ key (production allows 100/s)",
		value: func(c *config) flag.Value { return &c.Rate }},
	{flag: "workers", key: "workers", cmds: cmdsConnect, usage: "writes in flight at once (and at most as many reads), or auto to size from the rate and latency",
		value: func(c *config) flag.Value { return &c.Workers }},
	{flag: "max-attempts", key: "max_attempts", cmds: cmdsConnect, usage: "most requests per row, retries included",
		value: func(c *config) flag.Value { return (*intFlag)(&c.MaxAttempts) }},
	{flag: "timeout", key: "timeout", cmds: cmdsConnect, usage: "deadline of each request",
		value: func(c *config) flag.Value { return &c.Timeout }},
	{flag: "deadline", key: "deadline", cmds: cmdsConnect, usage: "deadline of the whole run, then it stops like on SIGTERM (0: none)",
		value: func(c *config) flag.Value { return &c.Deadline }},
	{flag: "grace-period", key: "grace_period", cmds: cmdsConnect, usage: "how long requests in flight may finish after a stop",
		value: func(c *config) flag.Value { return &c.Grace }},
	{flag: "circuit-breaker", key: "circuit_breaker", cmds: cmdsConnect, usage: "stop after this many rows in a row failed after every retry (0: never)",
		value: func(c *config) flag.Value { return (*intFlag)(&c.Breaker) }},
	{flag: "reject-duplicates", key: "reject_duplicates", cmds: cmdRun | cmdPlan | cmdValidate, usage: "make every row after a user's first invalid",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.RejectDuplicates) }},
	{flag: "dry-run", key: "dry_run", cmds: cmdRun, usage: "check the input and send nothing (what validate does)",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.DryRun) }},
	{flag: "force", key: "force", cmds: cmdPlan | cmdRollback, usage: "plan: replace the plan under the same run id; rollback: put back fields changed since the run wrote them",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.Force) }},
	{flag: "yes", key: "yes", cmds: cmdRun | cmdRollback, usage: "do not ask before writing to a production instance",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.Yes) }},
	{flag: "sandbox", key: "sandbox", cmds: cmdsConnect, usage: "run against a built-in Clerk emulator seeded with the input's users (verify, rollback: with the users a sandbox run left); no key needed",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.Sandbox) }},
	{flag: "api-url", key: "api_url", env: "CLERK_API_URL", cmds: cmdsConnect, usage: "Clerk Backend API origin; requests go to <api-url>/v1/users/{id}/metadata",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.APIURL) }},
	{flag: "secret-key-file", key: "secret_key_file", cmds: cmdsConnect, usage: "file holding the secret key, e.g. a mounted Kubernetes Secret (else CLERK_SECRET_KEY)",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.SecretKeyFile) }},
	{flag: "allow-insecure-http", key: "allow_insecure_http", cmds: cmdsConnect, usage: "allow a plain http API URL to a non-loopback host",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.AllowInsecureHTTP) }},
	{flag: "log-level", key: "log_level", cmds: cmdsConnect, usage: "debug, info, warn or error",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.LogLevel) }},
	{flag: "log-format", key: "log_format", cmds: cmdsConnect, usage: "json, console, or auto (console when stderr is a terminal)",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.LogFormat) }},
	{flag: "progress", key: "progress", cmds: cmdsConnect, usage: "auto, on or off: a live display of the run's progress on stderr (auto: when stderr is a terminal and TERM is not dumb); off: a progress line is logged every progress-interval",
		value: func(c *config) flag.Value { return &c.ProgressMode }},
	{flag: "progress-interval", key: "progress_interval", cmds: cmdsConnect, usage: "how often to log a progress line when the display is off (0: never)",
		value: func(c *config) flag.Value { return &c.Progress }},
	{flag: "no-read", key: "no_read", cmds: cmdRun, usage: "do not read users before writing them: no backup, no skip of unchanged rows, no count of removed keys (for keys or proxies that cannot read)",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.NoRead) }},
	{flag: "write-unchanged", key: "write_unchanged", cmds: cmdRun, usage: "write rows whose fields already hold their values (to fire Clerk's user.updated webhooks)",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.WriteUnchanged) }},
	{flag: "max-removed-keys", key: "max_removed_keys", cmds: cmdRun | cmdPlan, usage: "stop before the write that would take the metadata keys removed over this many, or none",
		value: func(c *config) flag.Value { return &c.MaxRemovedKeys }},
	{flag: "plan", key: "plan", cmds: cmdRun, usage: "run: apply the reviewed plan in this folder, in that folder: the plan's input, and no write over a field that changed since the plan read it",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.Plan) }},
	{flag: "canary", key: "canary", cmds: cmdRun | cmdRollback, usage: "run: send only the first N writes (in input order), then stop as a stopped run does; the same command without it goes on",
		value: func(c *config) flag.Value { return (*intFlag)(&c.Canary) }},
	{flag: "verify", key: "verify", cmds: cmdRun | cmdRollback, usage: "run: at the end, read back every user the run wrote and compare (as the verify command does)",
		value: func(c *config) flag.Value { return (*boolFlag)(&c.Verify) }},
	{flag: "shard-index", key: "shard_index", env: "JOB_COMPLETION_INDEX", cmds: cmdRun | cmdPlan, usage: "this process's shard, 0-based (default: $JOB_COMPLETION_INDEX)",
		value: func(c *config) flag.Value { return (*intFlag)(&c.ShardIndex) }},
	{flag: "shard-count", key: "shard_count", cmds: cmdRun | cmdPlan, usage: "number of shards the input is split into by user id",
		value: func(c *config) flag.Value { return (*intFlag)(&c.ShardCount) }},
	{flag: "pushgateway-url", key: "metrics.pushgateway_url", cmds: cmdRun | cmdPlan, usage: "Prometheus Pushgateway to push the run's metrics to (empty: off)",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.Metrics.PushgatewayURL) }},
	{flag: "push-interval", key: "metrics.push_interval", cmds: cmdRun | cmdPlan, usage: "how often to push metrics during the run",
		value: func(c *config) flag.Value { return &c.Metrics.PushInterval }},
	{flag: "metrics-job", key: "metrics.job_name", cmds: cmdRun | cmdPlan, usage: "Pushgateway job name",
		value: func(c *config) flag.Value { return (*stringFlag)(&c.Metrics.JobName) }},
}

// envName is the environment variable of a setting.
func (s setting) envName() string {
	if s.env != "" {
		return s.env
	}
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s.key))
}

// usageError is a problem with how the tool was called: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// loadConfig builds the config from, in rising precedence, the defaults,
// the config file, the environment and the flags that were set. A
// relative config path is taken from dir.
func loadConfig(flags *flag.FlagSet, args []string, getenv func(string) string, dir string) (config, error) {
	var fromFlags config
	for _, s := range settings {
		flags.Var(s.value(&fromFlags), s.flag, s.usage)
	}
	configPath := flags.String("config", "", "config file (default ./config.yaml when present; env "+envPrefix+"CONFIG)")
	noExpand := flags.Bool("no-expand-env", false, "do not expand $VARS in the config file")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, &usageError{err}
	}
	if flags.NArg() > 0 {
		return config{}, usagef("unexpected argument %q", flags.Arg(0))
	}
	set := map[string]string{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })

	cfg := defaults()
	path, explicit := *configPath, true
	if path == "" {
		path = getenv(envPrefix + "CONFIG")
	}
	if path == "" {
		path, explicit = "config.yaml", false
	}
	b, err := os.ReadFile(inDir(dir, path))
	switch {
	case err == nil:
		if !*noExpand {
			b = []byte(os.Expand(string(b), getenv))
		}
		if err := decodeConfig(bytes.NewReader(b), path, &cfg); err != nil {
			return config{}, &usageError{err}
		}
	case explicit || !errors.Is(err, fs.ErrNotExist):
		return config{}, usagef("read config: %v", err)
	}
	for _, s := range settings {
		if v := getenv(s.envName()); v != "" {
			if err := s.value(&cfg).Set(v); err != nil {
				return config{}, usagef("environment %s=%q: %v", s.envName(), v, err)
			}
		}
	}
	for _, s := range settings {
		if v, ok := set[s.flag]; ok {
			s.value(&cfg).Set(v) // already parsed once
		}
	}
	return cfg, cfg.check()
}

// decodeConfig reads YAML strictly. An unknown key is an error that
// names it, in the file called name, with the key it likely misspells;
// other errors name the file too.
func decodeConfig(r io.Reader, name string, cfg *config) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read config %s: %w", name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config %s: %v", name, err)
	}
	if len(doc.Content) > 0 {
		if err := checkKeys(doc.Content[0], "", name); err != nil {
			return err
		}
	}
	// The decoder stays strict: for whatever checkKeys lets through.
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %v", name, err)
	}
	return nil
}

// checkKeys finds the first key of the mapping m (under prefix, "" or
// "metrics.") that no setting has. A value that is not a mapping where
// one is wanted is left to the decoder to word.
func checkKeys(m *yaml.Node, prefix, file string) error {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := prefix + k.Value
		switch {
		case k.Tag == "!!merge":
			continue // the decoder follows merges
		case settingByKey(key):
			continue
		case settingUnder(key):
			if err := checkKeys(v, key+".", file); err != nil {
				return err
			}
			continue
		}
		if s := nearestKey(key); s != "" {
			return fmt.Errorf("unknown key %q in %s; did you mean %s?", key, file, s)
		}
		return fmt.Errorf("unknown key %q in %s (replace-metadata --help lists the settings and their keys)", key, file)
	}
	return nil
}

// settingByKey reports whether a setting has the config key.
func settingByKey(key string) bool {
	for _, s := range settings {
		if s.key == key {
			return true
		}
	}
	return false
}

// settingUnder reports whether key holds settings (metrics).
func settingUnder(key string) bool {
	for _, s := range settings {
		if strings.HasPrefix(s.key, key+".") {
			return true
		}
	}
	return false
}

// nearestKey returns the config key that key likely misspells, or "": see
// input.Suggest; the flag's spelling (report-dir) and a nested key without
// its section (pushgateway_url) find theirs too.
func nearestKey(key string) string {
	var spellings []string
	of := map[string]string{}
	for _, s := range settings {
		for _, sp := range []string{s.key, s.flag, s.key[strings.LastIndex(s.key, ".")+1:]} {
			if _, ok := of[sp]; !ok {
				spellings = append(spellings, sp)
				of[sp] = s.key
			}
		}
	}
	return of[input.Suggest(key, spellings)]
}

// inputOptions are the settings the input readers take.
func (c *config) inputOptions() input.Options {
	return input.Options{Delimiter: rune(c.CSVDelimiter), Ignore: c.IgnoreColumns}
}

func (c *config) check() error {
	switch {
	case c.MaxAttempts < 1:
		return usagef("max_attempts must be at least 1")
	case c.Timeout <= 0:
		return usagef("timeout must be positive")
	case c.Grace < 0 || c.Deadline < 0 || c.Progress < 0:
		return usagef("durations must not be negative")
	case c.Breaker < 0:
		return usagef("circuit_breaker must not be negative")
	case c.Canary < 0:
		return usagef("canary must not be negative")
	case c.ShardCount < 1:
		return usagef("shard_count must be at least 1")
	case c.ShardIndex < 0 || c.ShardIndex >= c.ShardCount:
		return usagef("shard_index %d is not in 0..%d", c.ShardIndex, c.ShardCount-1)
	}
	if err := c.inputOptions().Check(); err != nil {
		return usagef("ignore_columns: %v", err)
	}
	switch c.LogFormat {
	case "json", "console", "auto":
	default:
		return usagef("log_format must be json, console or auto, not %q", c.LogFormat)
	}
	if p := c.Metrics.PushgatewayURL; p != "" {
		// A typo here would go unnoticed until the staleness alert fires.
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("metrics.pushgateway_url must be an http(s) URL like http://pushgateway:9091")
		}
	}
	return nil
}

// inDir returns path taken from dir when it is relative.
func inDir(dir, path string) string {
	if dir == "" || path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// The flag.Value types behind config fields. Each also reads YAML.

type stringFlag string

func (s *stringFlag) String() string     { return string(*s) }
func (s *stringFlag) Set(v string) error { *s = stringFlag(v); return nil }

type intFlag int

func (i *intFlag) String() string { return strconv.Itoa(int(*i)) }
func (i *intFlag) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	*i = intFlag(n)
	return nil
}

type boolFlag bool

func (b *boolFlag) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolFlag) IsBoolFlag() bool { return true }
func (b *boolFlag) Set(v string) error {
	x, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("not a boolean")
	}
	*b = boolFlag(x)
	return nil
}

// duration is a time.Duration written as "10s"; "0" or "" is zero.
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }
func (d *duration) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		*d = 0
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("not a duration like 10s or 1h30m")
	}
	*d = duration(x)
	return nil
}
func (d *duration) UnmarshalYAML(n *yaml.Node) error { return d.Set(n.Value) }

// rateFlag is requests per second; 0 means unlimited, rateAuto the rate
// of the key's instance (see rateFor).
type rateFlag float64

const rateAuto rateFlag = -1

// Clerk's limits: 1000 requests per 10 s in production, 100 in
// development; auto keeps a tenth under them.
const (
	liveRate = 90
	testRate = 9
)

// rateFor resolves rate for a key kind ("live", "test" or "sandbox"),
// and says where it came from.
func rateFor(r rateFlag, keyKind string) (rateFlag, string) {
	switch {
	case r != rateAuto:
		return r, "set"
	case keyKind == "test":
		return testRate, "auto: a test key's development instance allows 100 requests per 10 s"
	default:
		return liveRate, "auto: a production instance allows 1000 requests per 10 s"
	}
}

func (r *rateFlag) String() string {
	switch *r {
	case 0:
		return "unlimited"
	case rateAuto:
		return "auto"
	}
	return strconv.FormatFloat(float64(*r), 'g', -1, 64)
}
func (r *rateFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	switch v {
	case "unlimited":
		*r = 0
		return nil
	case "auto", "":
		*r = rateAuto
		return nil
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || x <= 0 {
		return fmt.Errorf("want a positive number of requests per second, auto or unlimited")
	}
	*r = rateFlag(x)
	return nil
}
func (r *rateFlag) UnmarshalYAML(n *yaml.Node) error { return r.Set(n.Value) }

// limit is a count that may be "none" (-1).
type limit int

func (l *limit) String() string {
	if *l < 0 {
		return "none"
	}
	return strconv.Itoa(int(*l))
}
func (l *limit) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "none" || v == "" {
		*l = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("want a number of keys (0 or more), or none")
	}
	*l = limit(n)
	return nil
}
func (l *limit) UnmarshalYAML(n *yaml.Node) error { return l.Set(n.Value) }

// autoFlag is auto, on or off: whether the live progress display is
// drawn (auto: when stderr is a terminal).
type autoFlag string

const (
	progressAuto autoFlag = "auto"
	progressOn   autoFlag = "on"
	progressOff  autoFlag = "off"
)

func (m *autoFlag) String() string { return string(*m) }
func (m *autoFlag) Set(v string) error {
	switch x := autoFlag(strings.TrimSpace(v)); x {
	case progressAuto, progressOn, progressOff:
		*m = x
		return nil
	}
	return fmt.Errorf("want auto, on or off")
}

// UnmarshalYAML takes the scalar as written: YAML 1.1 would make on and
// off booleans.
func (m *autoFlag) UnmarshalYAML(n *yaml.Node) error { return m.Set(n.Value) }

// workers is a pool size; 0 means auto.
type workers int

func (w *workers) String() string {
	if *w == 0 {
		return "auto"
	}
	return strconv.Itoa(int(*w))
}
func (w *workers) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "auto" || v == "" {
		*w = 0
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 4096 {
		return fmt.Errorf("want auto or a number from 1 to 4096")
	}
	*w = workers(n)
	return nil
}
func (w *workers) UnmarshalYAML(n *yaml.Node) error { return w.Set(n.Value) }

// delimiter is a CSV cell delimiter; 0 means auto: told from the header.
type delimiter rune

func (d *delimiter) String() string {
	switch *d {
	case 0:
		return "auto"
	case '\t':
		return "tab"
	}
	return string(rune(*d))
}
func (d *delimiter) Set(v string) error {
	if v != "\t" {
		v = strings.ToLower(strings.TrimSpace(v))
	}
	switch v {
	case "", "auto":
		*d = 0
	case ",", "comma":
		*d = ','
	case ";", "semicolon":
		*d = ';'
	case "tab", "\t", `\t`:
		*d = '\t'
	default:
		return fmt.Errorf("want , ; or tab (or auto)")
	}
	return nil
}
func (d *delimiter) UnmarshalYAML(n *yaml.Node) error { return d.Set(n.Value) }

// columns is a list of column names, written comma-separated (in YAML,
// a list too).
type columns []string

func (c *columns) String() string { return strings.Join(*c, ",") }
func (c *columns) Set(v string) error {
	*c = nil
	for name := range strings.SplitSeq(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*c = append(*c, name)
		}
	}
	return nil
}
func (c *columns) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return c.Set(n.Value)
	}
	*c = nil
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: want a column name", item.Line)
		}
		*c = append(*c, item.Value)
	}
	return nil
}
