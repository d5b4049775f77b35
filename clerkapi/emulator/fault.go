package emulator

import (
	"fmt"
	"strconv"
	"strings"
)

// Fault is a failure the emulator answers with in place of Clerk's normal answer. Faults stand
// in for what proxies, networks and a struggling Clerk do to real traffic, so they are rolled
// before authentication and rate limits.
type Fault int

// The faults the emulator can inject. Only FaultApplyThen500, FaultStoreDifferent and
// FaultApplyLate apply the write; they change how a request is handled instead of replacing
// its answer, so a request they pick is still authenticated, limited and validated, and an
// error it earns is answered as usual.
const (
	FaultNone         Fault = iota // no fault: the request is handled normally
	Fault500                       // 500 with Clerk's JSON internal_clerk_error; nothing applied
	Fault502HTML                   // 502 with a proxy's text/html page; nothing applied
	Fault503                       // 503 with a text/plain body and Retry-After: 1; nothing applied
	FaultDrop                      // the connection is closed with no response; nothing applied
	FaultHang                      // no answer until the client gives up or the server closes; nothing applied
	FaultApplyThen500              // the request is handled, and a success is answered as a 500 JSON instead
	Fault429                       // a spurious 429 JSON too_many_requests with Retry-After: 1; nothing applied
	Fault429Text                   // a 429 with a bare text/plain body and Retry-After: 1; nothing applied
	// FaultStoreDifferent applies a metadata write but stores, in each field the write sets,
	// a value other than Clerk's: the value without its last top-level key, or
	// {"mangled":true} when that value has no key ({}, null). The 200 answer shows what was
	// stored. Requests other than metadata writes are not affected.
	FaultStoreDifferent
	// FaultApplyLate gives no answer until the client gives up, as FaultHang does, and applies
	// a metadata write anyway Config.LateDelay after it arrived: a write that timed out and
	// that Clerk applied late, possibly after the same user's next write. Other requests hang.
	FaultApplyLate
	numFaults
)

// faultNames are the names String gives and ParseFault takes, indexed by Fault.
var faultNames = [numFaults]string{
	"none", "500", "502-html", "503", "drop", "hang", "apply-then-500", "429", "429-text",
	"store-different", "apply-late",
}

// modifies reports whether f changes how a request is handled rather than replacing its answer.
func (f Fault) modifies() bool {
	return f == FaultApplyThen500 || f == FaultStoreDifferent || f == FaultApplyLate
}

// String returns the fault's flag name, such as "502-html".
func (f Fault) String() string {
	if f >= 0 && f < numFaults {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// ParseFault returns the fault named s (case-insensitive), as String spells it.
func ParseFault(s string) (Fault, error) {
	for i, name := range faultNames {
		if strings.EqualFold(s, name) {
			return Fault(i), nil
		}
	}
	return FaultNone, fmt.Errorf("unknown fault %q (want one of %s)", s, strings.Join(faultNames[1:], ", "))
}

// MarshalText encodes the fault as its name, so Stats.Faults reads well as JSON.
func (f Fault) MarshalText() ([]byte, error) {
	if f < 0 || f >= numFaults {
		return nil, fmt.Errorf("invalid fault %d", int(f))
	}
	return []byte(faultNames[f]), nil
}

// UnmarshalText decodes a fault name written by MarshalText.
func (f *Fault) UnmarshalText(b []byte) error {
	v, err := ParseFault(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}
