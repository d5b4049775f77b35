package input

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// KeyKind is how an input names its users: by Clerk user id, by the
// user's external id, or by one of the user's email addresses. A file uses
// one kind for all its rows. The zero KeyKind is no key (yet).
type KeyKind uint8

// The kinds of key a row may name its user by.
const (
	UserID     KeyKind = iota + 1 // user_id: Clerk's id, user_ followed by letters and digits
	ExternalID                    // external_id: the id the user has in the customer's own system
	Email                         // email_address: one of the user's email addresses
)

// String returns the key's field name (NDJSON key and CSV column), which
// is also the name of Clerk's GET /v1/users filter for it; "" for no key.
func (k KeyKind) String() string {
	switch k {
	case UserID:
		return fieldUserID
	case ExternalID:
		return fieldExternalID
	case Email:
		return fieldEmail
	}
	return ""
}

// Key is how a row names its user: the file's kind of key and the value as
// written (never trimmed or folded).
type Key struct {
	Kind  KeyKind
	Value string
}

// Canonical returns the key as rows are compared to find a user's repeats
// (and, so that a user's rows stay together, as they should be sharded):
// an email address without regard to case, any other key as written. For
// a user id it is the id itself.
func (k Key) Canonical() string {
	if k.Kind == Email {
		return strings.ToLower(k.Value)
	}
	return k.Value
}

// Check returns nil if the key's value is well formed for its kind:
// CheckUserID's rule for a user id; for an external id, a non-empty string
// with no control characters, no surrounding space, and no leading + or -
// (Clerk's user filter reads those as include and exclude); for an email
// address, one @ with text on both sides and no space or control
// character.
func (k Key) Check() *RowError {
	switch k.Kind {
	case UserID:
		return CheckUserID(k.Value)
	case ExternalID:
		return checkExternalID(k.Value)
	case Email:
		return checkEmail(k.Value)
	}
	return rowErr(CodeMissingUserID, "row names no user (want one of %s, %s, %s)", fieldUserID, fieldExternalID, fieldEmail)
}

func checkExternalID(id string) *RowError {
	bad := func(why string) *RowError {
		return rowErr(CodeInvalidExternalID, "external_id %s %s", quote(id), why)
	}
	switch {
	case id == "":
		return rowErr(CodeInvalidExternalID, "external_id is empty")
	case !utf8.ValidString(id):
		return bad("is not valid UTF-8")
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return bad("has a control character")
	case strings.TrimFunc(id, unicode.IsSpace) != id:
		return bad("has surrounding whitespace (ids are never trimmed)")
	case id[0] == '+' || id[0] == '-':
		return bad(fmt.Sprintf("begins with %q, which Clerk's user filter reads as include or exclude, not as part of the id", id[:1]))
	}
	return nil
}

func checkEmail(addr string) *RowError {
	bad := func(why string) *RowError {
		return rowErr(CodeInvalidEmail, "email_address %s %s", quote(addr), why)
	}
	switch {
	case addr == "":
		return rowErr(CodeInvalidEmail, "email_address is empty")
	case !utf8.ValidString(addr):
		return bad("is not valid UTF-8")
	case strings.IndexFunc(addr, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return bad("has a space or a control character")
	}
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return bad("is not an email address (want one @ with text on both sides)")
	}
	return nil
}

// Suggest returns the name in known that name most likely misspells, or
// "": one that is the same once case, spaces, '_', '-' and '.' are set
// aside (publicMetadata, "User ID"), or within a few edits of it
// (public_metdata). Column names, keys, config keys: the "did you mean"
// of every message.
func Suggest(name string, known []string) string {
	n := []rune(fold(name))
	if len(n) == 0 || len(n) > 64 {
		return ""
	}
	best, bestD := "", 0
	for _, k := range known {
		kn := []rune(fold(k))
		d := editDistance(n, kn)
		if d > max(1, len(kn)/5) {
			continue
		}
		if best == "" || d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// fold drops what spreadsheets and people vary in a column's name.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', '.', ' ', '\t':
			return -1
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(s))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
