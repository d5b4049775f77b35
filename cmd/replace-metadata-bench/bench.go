package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// bench is the state of one benchmark run.
type bench struct {
	Stdout, Stderr io.Writer

	quick   bool
	rows    int    // overrides every scenario's row count when > 0
	out     string // markdown file, when set
	workers int
	keep    bool

	root     string // the module's root, where go build runs
	dir      string // temp dir: binaries, inputs, run folders, logs
	tool     string // replace-metadata binary
	emulator string // clerk-emulator binary
	inputs   map[string]string
	runs     int // run ids handed out

	figures   []figure
	setups    []setup
	limitRows []limitRow // the limits scenarios' runs, for their table
}

// figure is one measured value next to its target.
type figure struct {
	scenario, name, target, measured string
	// verdict is PASS, MISS, ERROR, or "" for a figure given for context.
	verdict string
}

// setup says how a scenario was run: its knobs.
type setup struct{ scenario, text string }

// pick returns the row count of a scenario: -rows when given, else its
// quick or full default.
func (b *bench) pick(full, quick int) int {
	switch {
	case b.rows > 0:
		return b.rows
	case b.quick:
		return quick
	}
	return full
}

func (b *bench) add(f figure) {
	b.figures = append(b.figures, f)
	v := cmp.Or(f.verdict, "-")
	if f.target == "" {
		fmt.Fprintf(b.Stderr, "   %-5s %s: %s\n", v, f.name, f.measured)
		return
	}
	fmt.Fprintf(b.Stderr, "   %-5s %s: %s (target %s)\n", v, f.name, f.measured, f.target)
}

func (b *bench) describe(scenario, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	b.setups = append(b.setups, setup{scenario, text})
	fmt.Fprintf(b.Stderr, "   setup: %s\n", text)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.Stderr, format+"\n", args...)
}

// run builds the binaries and runs the scenarios, then prints the table.
func (b *bench) run(ctx context.Context, selected []scenario) error {
	m := readMachine()
	started := time.Now()
	b.logf("machine: %s", m.line())

	var err error
	if b.root, err = moduleRoot(ctx); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "replace-metadata-bench-*"); err != nil {
		return err
	}
	if b.keep {
		b.logf("temp dir (kept): %s", b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}
	b.inputs = map[string]string{}
	needEmulator := false
	for _, s := range selected {
		needEmulator = needEmulator || s.emulator
	}
	if err := b.build(ctx, needEmulator); err != nil {
		return err
	}

	for _, s := range selected {
		if ctx.Err() != nil {
			break
		}
		b.logf("== %s: %s", s.name, s.about)
		t, psi0 := time.Now(), cpuPressure()
		if err := s.run(ctx, b); err != nil {
			b.add(figure{scenario: s.name, name: "scenario", target: "runs", measured: "error: " + err.Error(), verdict: "ERROR"})
		}
		took := time.Since(t)
		if psi1 := cpuPressure(); psi0 >= 0 && psi1 >= 0 {
			// The share of the scenario's time in which some task waited
			// for a CPU: the noise from other work on the machine (and the
			// scenario's own, when it saturates the CPUs on purpose).
			b.add(figure{scenario: s.name, name: "CPU pressure during the scenario (PSI some)",
				measured: pct(float64(psi1-psi0) / float64(took.Microseconds()))})
		}
		b.logf("   (%s)", took.Round(time.Second))
	}
	m.loadEnd, m.psiEnd = loadAverage(), pressureLine()
	m.took = time.Since(started).Round(time.Second)

	b.printTable(b.Stdout, m)
	if b.out != "" {
		f, err := os.Create(b.out)
		if err != nil {
			return err
		}
		b.printTable(f, m)
		if err := f.Close(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// printTable writes the results as markdown: the machine, the figures,
// how each scenario was set up.
func (b *bench) printTable(w io.Writer, m machine) {
	mode := "full"
	if b.quick {
		mode = "quick"
	}
	if b.rows > 0 {
		mode += fmt.Sprintf(", -rows %d", b.rows)
	}
	fmt.Fprintf(w, "\n## replace-metadata-bench (%s)\n\n%s\n\n", mode, m.markdown())
	fmt.Fprintln(w, "| scenario | figure | target | measured | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, f := range b.figures {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", f.scenario, f.name, f.target, f.measured, cmp.Or(f.verdict, "-"))
	}
	b.printLimits(w)
	if len(b.setups) > 0 {
		fmt.Fprintln(w, "\nSetups:")
		fmt.Fprintln(w)
		for _, s := range b.setups {
			fmt.Fprintf(w, "- %s: %s\n", s.scenario, s.text)
		}
	}
	fmt.Fprintln(w)
}

// machine describes where the figures were taken.
type machine struct {
	cpu           string
	cores         int
	memGiB        float64
	goVersion     string
	date          string
	loadStart     string
	loadEnd       string
	psiStart      string
	psiEnd        string
	took          time.Duration
	curl, taskset bool
}

func readMachine() machine {
	m := machine{cpu: "unknown", cores: runtime.NumCPU(), goVersion: runtime.Version(),
		date: time.Now().UTC().Format("2006-01-02 15:04 MST"), loadStart: loadAverage(), psiStart: pressureLine()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb float64
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %f kB", &kb); err == nil {
				m.memGiB = kb / (1 << 20)
				break
			}
		}
		f.Close()
	}
	_, err := exec.LookPath("curl")
	m.curl = err == nil
	_, err = exec.LookPath("taskset")
	m.taskset = err == nil
	return m
}

func (m machine) line() string {
	return fmt.Sprintf("%s, %d cores, %.1f GiB RAM, %s, %s, load %s, CPU pressure %s", m.cpu, m.cores, m.memGiB, m.goVersion, m.date, m.loadStart, m.psiStart)
}

func (m machine) markdown() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "- CPU: %s, %d cores; RAM %.1f GiB; %s; %s/%s\n", m.cpu, m.cores, m.memGiB, m.goVersion, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&sb, "- date: %s; took %s\n", m.date, m.took)
	fmt.Fprintf(&sb, "- load average (1, 5, 15 min) at start: %s; at end: %s\n", m.loadStart, m.loadEnd)
	fmt.Fprintf(&sb, "- CPU pressure (/proc/pressure/cpu, some) at start: %s; at end: %s\n", m.psiStart, m.psiEnd)
	fmt.Fprintf(&sb, "- curl installed: %v; taskset installed: %v", m.curl, m.taskset)
	return sb.String()
}

// cpuPressure returns the kernel's count of microseconds in which some
// task waited for a CPU (/proc/pressure/cpu, "some" total), or -1.
func cpuPressure() int64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				var n int64
				if _, err := fmt.Sscan(v, &n); err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// pressureLine is the CPU pressure averages, "avg10=… avg60=… avg300=…".
func pressureLine() string {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "some" {
		return "unknown"
	}
	return strings.Join(f[1:4], " ")
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// moduleRoot is the folder of the go.mod the bench is run in.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run inside the replace-metadata module (no go.mod found)")
	}
	return filepath.Dir(mod), nil
}

// build compiles the tool, and the emulator when a scenario needs it, as
// a user would: go build, no race detector.
func (b *bench) build(ctx context.Context, emulator bool) error {
	b.tool = filepath.Join(b.dir, "replace-metadata")
	b.emulator = filepath.Join(b.dir, "clerk-emulator")
	targets := [][2]string{{b.tool, "./cmd/replace-metadata"}}
	if emulator {
		targets = append(targets, [2]string{b.emulator, "./cmd/clerk-emulator"})
	}
	for _, t := range targets {
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", t[0], t[1])
		cmd.Dir = b.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", t[1], err, out)
		}
		b.logf("built %s (%s)", t[1], time.Since(t0).Round(time.Millisecond))
	}
	return nil
}
