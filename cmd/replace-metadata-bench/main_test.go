package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// TestQuickValidate runs the smallest real benchmark: it builds the tool,
// writes small inputs, validates them on one core and prints the table.
// It asserts the shape of the output, never a speed.
func TestQuickValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tool and runs it: a few seconds")
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-quick", "-only", "validate", "-rows", "5000"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"| scenario | figure | target | measured | verdict |",
		"| validate-speed | NDJSON rows/s on one core | ≥ 150,000 |",
		"| validate-speed | CSV time / NDJSON time | ≤ 2× |",
		"- validate-speed: validate --input rows.{ndjson,csv} of 5000 realistic rows",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ERROR") {
		t.Errorf("a scenario failed:\n%s\nstderr:\n%s", out, stderr.String())
	}
}

func TestSelectScenarios(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		only string
		want string
	}{
		{"", scenarioNames()},
		{"validate", "validate-speed"},
		{"limits-fixed-10s", "limits-fixed-10s"},
		{"curl, memory", "memory-validate, memory-run, memory-run-read, curl"},
		{"overhead", "overhead"},
		{"overhead-read,sync", "overhead-read, sync"},
		{"pacing", "pacing"},
		{"pacing-auto,pacing", "pacing, pacing-auto"},
		{"limits-sliding", "limits-sliding-1s, limits-sliding-10s, limits-sliding-60s"},
		{"limits-bucket-10s-burst-1s", "limits-bucket-10s-burst-1s"},
	} {
		got, err := selectScenarios(tc.only)
		if err != nil {
			t.Fatalf("selectScenarios(%q): %v", tc.only, err)
		}
		var names []string
		for _, s := range got {
			names = append(names, s.name)
		}
		if g := strings.Join(names, ", "); g != tc.want {
			t.Errorf("selectScenarios(%q) = %s, want %s", tc.only, g, tc.want)
		}
	}
	if _, err := selectScenarios("nope"); err == nil {
		t.Error("selectScenarios(nope): no error")
	}
}

// TestMain lets the test binary be the measuring intermediary too, as the
// command is (see measureEnv).
func TestMain(m *testing.M) {
	if os.Getenv(measureEnv) != "" {
		os.Exit(measureChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}
