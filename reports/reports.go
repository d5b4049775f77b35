// Package reports records what happened to every input row of a run, in the
// run's folder:
//
//   - results.csv: one line per row with an outcome, written before the
//     call that records it returns (group commit), so a crash loses only
//     the rows still in flight;
//   - failed.csv or failed.ndjson: the failed and invalid rows verbatim, in
//     the input's format, ready to be the input of another run;
//   - summary.json: the counts and timings, rewritten atomically.
//
// Opening an existing folder resumes its run: rows already in results.csv
// are known, so a run never reports a row twice.
package reports

import (
	"strconv"
	"strings"
	"unicode"
)

// Result is one row's outcome: a line of results.csv.
type Result struct {
	Row    int    `csv:"row"`
	Line   int    `csv:"line"`
	UserID string `csv:"user_id"`
	Status Status `csv:"status"`
	// HTTPStatus is the last response's status, 0 when none came.
	HTTPStatus int `csv:"http_status"`
	// ErrorCode is Clerk's error code, or the tool's own for rows that were
	// invalid or got no Clerk error body.
	ErrorCode    string `csv:"error_code"`
	ErrorMessage string `csv:"error_message"`
	Attempts     int    `csv:"attempts"`
	DurationMS   int64  `csv:"duration_ms"`
	TraceID      string `csv:"clerk_trace_id"`
	// RemovedKeys, AddedKeys and ChangedKeys count the paths the row's
	// replace removes, adds and changes (see Changes); 0 when the user
	// was not read.
	RemovedKeys int `csv:"removed_keys"`
	AddedKeys   int `csv:"added_keys"`
	ChangedKeys int `csv:"changed_keys"`
	// Key is the value the row named its user by (its user id, external
	// id or email address); UserID is the Clerk user it resolved to.
	Key string `csv:"key"`

	// Changes are the paths, field by field: for plan.ndjson and the
	// summary's most removed paths, not for results.csv.
	Changes []FieldChange `csv:"-"`
	// Action is what a plan would do with the row (plans only).
	Action Action `csv:"-"`
}

// appendCSV appends r's cells of results.csv to record, in the order of
// Result's csv tags (TestResultCSV holds them to gocsv's).
func (r *Result) appendCSV(record []string) []string {
	return append(record, strconv.Itoa(r.Row), strconv.Itoa(r.Line), r.UserID, r.Status.String(),
		strconv.Itoa(r.HTTPStatus), r.ErrorCode, r.ErrorMessage, strconv.Itoa(r.Attempts),
		strconv.FormatInt(r.DurationMS, 10), r.TraceID,
		strconv.Itoa(r.RemovedKeys), strconv.Itoa(r.AddedKeys), strconv.Itoa(r.ChangedKeys), r.Key)
}

// FieldChange is what a row's replace does to one metadata field: the
// paths it removes, adds and changes, dotted from the field
// (public_metadata.onboarding.step).
type FieldChange struct {
	Field   string   `json:"field"`
	Removed []string `json:"removed"`
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	// Verdict is a verify pass's word on the field (VerifyOK, …).
	Verdict string `json:"-"`
}

// SetChanges sets r's changes and their counts.
func (r *Result) SetChanges(c []FieldChange) {
	r.Changes = c
	r.RemovedKeys, r.AddedKeys, r.ChangedKeys = 0, 0, 0
	for _, f := range c {
		r.RemovedKeys += len(f.Removed)
		r.AddedKeys += len(f.Added)
		r.ChangedKeys += len(f.Changed)
	}
}

// oneLine makes s safe as a single-line CSV cell: line breaks and other
// control characters become spaces, so every result is one physical line
// and a torn last line is easy to find after a crash.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// formulaStarts are the characters that make a spreadsheet read a cell as
// a formula (or run it): =, +, -, @, a tab, a carriage return.
const formulaStarts = "=+-@\t\r"

// safeCell keeps a text cell of a report meant for people from being run
// as a formula by Excel, LibreOffice or Google Sheets: one that begins
// with a formula character gets a leading ', which they show as text.
func safeCell(s string) string {
	if s != "" && strings.IndexByte(formulaStarts, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// unsafeCell undoes safeCell, for reading a report back.
func unsafeCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.IndexByte(formulaStarts, s[1]) >= 0 {
		return s[1:]
	}
	return s
}

// cleanID renders a user id for the report: as written when it is plain
// text, else quoted with Go escapes so the report stays one line per row.
func cleanID(id string) string {
	for _, r := range id {
		if r == unicode.ReplacementChar || unicode.IsControl(r) {
			q := strconv.QuoteToASCII(id)
			return q[1 : len(q)-1]
		}
	}
	return id
}

// bitset is a growable set of row numbers: one bit a row.
type bitset []uint64

func (b *bitset) set(i int) {
	for i/64 >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bitset) has(i int) bool {
	return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0
}
