package reports

import (
	"encoding/json"
	"fmt"
)

// Status is a row's outcome. Every input row ends in exactly one.
type Status uint8

// The outcomes, in the order every count, report and summary lists them.
// Adding one is an entry here and one in statuses.
const (
	Succeeded Status = iota
	Unchanged
	Failed
	Drifted
	Invalid
	numStatuses
)

// statuses says, for each outcome, what it means for the run. Everything
// that counts, prints or judges outcomes iterates over it.
var statuses = [numStatuses]struct {
	name string
	// failure: the row goes to failed.*, to be fixed and run again.
	failure bool
	// failsRun: a run with such a row exits 1.
	failsRun bool
	doc      string
}{
	Succeeded: {"succeeded", false, false, "the write was applied"},
	Unchanged: {"unchanged", false, false, "every field already held the row's value: nothing was written"},
	Failed:    {"failed", true, true, "Clerk refused the write, or every attempt failed"},
	Drifted:   {"drifted", true, true, "the user changed since the plan read it (or since the run being rolled back wrote it): not written"},
	Invalid:   {"invalid", true, true, "the row could not be used as it is; nothing was sent"},
}

// Statuses returns every outcome, in order.
func Statuses() []Status {
	out := make([]Status, numStatuses)
	for i := range out {
		out[i] = Status(i)
	}
	return out
}

func (s Status) String() string {
	if s < numStatuses {
		return statuses[s].name
	}
	return fmt.Sprintf("status(%d)", s)
}

// Doc says in a few words what the outcome means.
func (s Status) Doc() string { return statuses[s].doc }

// Failure reports whether rows with this status belong in failed.*.
func (s Status) Failure() bool { return s < numStatuses && statuses[s].failure }

// FailsRun reports whether a row with this status makes the run exit 1.
func (s Status) FailsRun() bool { return s < numStatuses && statuses[s].failsRun }

// ParseStatus returns the status named name.
func ParseStatus(name string) (Status, error) {
	for s := range numStatuses {
		if statuses[s].name == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown status %q", name)
}

// MarshalCSV writes the status by name.
func (s Status) MarshalCSV() (string, error) { return s.String(), nil }

// UnmarshalCSV reads a status by name.
func (s *Status) UnmarshalCSV(v string) error {
	x, err := ParseStatus(v)
	*s = x
	return err
}

// MarshalText writes the status by name (JSON, log fields).
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status by name.
func (s *Status) UnmarshalText(b []byte) error { return s.UnmarshalCSV(string(b)) }

// Counts are rows by outcome, indexed by Status.
type Counts [numStatuses]int

// Total returns the number of rows with an outcome.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Failures returns the rows that went to failed.*.
func (c Counts) Failures() int {
	n := 0
	for s, v := range c {
		if Status(s).Failure() {
			n += v
		}
	}
	return n
}

// FailRun reports whether any row's outcome makes the run exit 1.
func (c Counts) FailRun() bool {
	for s, v := range c {
		if v > 0 && Status(s).FailsRun() {
			return true
		}
	}
	return false
}

// Add sums d into c.
func (c *Counts) Add(d Counts) {
	for s := range c {
		c[s] += d[s]
	}
}

// MarshalJSON writes the counts as an object keyed by status name, in
// order.
func (c Counts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for s, v := range c {
		if s > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%q:%d", Status(s), v)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads the counts of the statuses it knows from an object
// keyed by status name; other keys are left alone.
func (c *Counts) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for s := range numStatuses {
		if v, ok := m[s.String()]; ok {
			if err := json.Unmarshal(v, &c[s]); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
	}
	return nil
}
