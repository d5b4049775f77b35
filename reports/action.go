package reports

import (
	"encoding/json"
	"strconv"
)

// Action is what a plan found it would do with a row.
type Action uint8

// The actions of a plan, in the order its summary lists them.
const (
	ActionChange     Action = iota // the row would be written
	ActionUnchanged                // every field already holds the row's value
	ActionNotFound                 // the user does not exist
	ActionInvalid                  // the row is invalid
	ActionReadFailed               // the user could not be read
	numActions
)

var actionNames = [numActions]string{"change", "unchanged", "not_found", "invalid", "read_failed"}

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return "unknown"
}

// MarshalText writes the action by name.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Actions returns every action, in order.
func Actions() []Action {
	out := make([]Action, numActions)
	for i := range out {
		out[i] = Action(i)
	}
	return out
}

// ActionCounts are a plan's rows by action.
type ActionCounts [numActions]int

// MarshalJSON writes the counts as an object keyed by action, in order.
func (c ActionCounts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for a, v := range c {
		if a > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, Action(a).String()...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *ActionCounts) UnmarshalJSON(b []byte) error {
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for a := range numActions {
		c[a] = m[a.String()]
	}
	return nil
}
