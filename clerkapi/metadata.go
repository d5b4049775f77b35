package clerkapi

import (
	"encoding/json"
	"errors"
	"strings"
)

// Field names one of a user's three metadata fields.
type Field int

// The metadata fields, in the order Clerk's bodies and users list them.
const (
	Public Field = iota
	Private
	Unsafe
	NumFields = 3
)

// FieldNames are the fields' JSON keys, indexed by Field.
var FieldNames = [NumFields]string{"public_metadata", "private_metadata", "unsafe_metadata"}

func (f Field) String() string { return FieldNames[f] }

// Metadata holds a value for each field as raw JSON, indexed by Field. In
// a write, nil means the field is left untouched (absent from the body),
// the four bytes null store a JSON null and {} clears it. Values are
// never decoded: key order and integers above 2^53 go out as they came.
type Metadata [NumFields]json.RawMessage

// Set returns how many fields of m are set.
func (m *Metadata) Set() int {
	n := 0
	for _, v := range m {
		if v != nil {
			n++
		}
	}
	return n
}

// CodeInvalidUserID is the code of a request refused before it left: its
// user id could have changed the request path.
const CodeInvalidUserID = "invalid_user_id"

var errUnsafeID = errors.New("unsafe user id")

// SafeUserID reports whether id may go into a request path as it is: user_
// followed by letters and digits, as Clerk's ids are. Nothing else can add
// a segment, a query or a fragment, or be percent-decoded into one.
func SafeUserID(id string) bool {
	rest, ok := strings.CutPrefix(id, "user_")
	if !ok || rest == "" || len(rest) > 128 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
