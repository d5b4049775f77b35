package clerkapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Filter says what the values of a list request name: Clerk user ids,
// external ids or email addresses. It is the query parameter's name.
type Filter string

// The filters of GET /v1/users that name users.
const (
	ByUserID     Filter = "user_id"
	ByExternalID Filter = "external_id"
	ByEmail      Filter = "email_address"
)

// MaxListValues is the most values one list request carries: Clerk takes up
// to 100 for each filter and does not say what it does with more.
const MaxListValues = 100

// User is a user as Clerk returns it, reduced to what the tool reads: its
// ids and its metadata as the exact bytes of the answer.
type User struct {
	ID string
	// ExternalID is "" when Clerk has null.
	ExternalID string
	// Emails are the user's email addresses, as Clerk spells them.
	Emails []string
	// Metadata holds each field as returned (a JSON null as the bytes
	// null). A field missing from the answer reads as {}, as Clerk shows
	// a field never set.
	Metadata Metadata
}

// ListUsers reads the users named by values (at most MaxListValues) of
// filter in one request: GET /v1/users?<filter>=v1&<filter>=v2…&limit=N,
// with limit always the number of values (Clerk's default of 10 would
// silently drop the rest) and no other parameter. A value no user has is
// absent from the answer. On success the Response is OK and the users are
// in no particular order.
func (c *Client) ListUsers(ctx context.Context, filter Filter, values []string) ([]User, Response) {
	if len(values) == 0 || len(values) > MaxListValues {
		err := fmt.Errorf("a list request takes 1 to %d values, not %d", MaxListValues, len(values))
		return nil, Response{Code: CodeInvalidRequest, Message: err.Error(), Err: err}
	}
	var q strings.Builder
	key := url.QueryEscape(string(filter))
	for _, v := range values {
		q.WriteString(key)
		q.WriteByte('=')
		q.WriteString(url.QueryEscape(v))
		q.WriteByte('&')
	}
	q.WriteString("limit=")
	q.WriteString(strconv.Itoa(len(values)))
	var users []User
	r := c.do(ctx, http.MethodGet, c.users[:len(c.users)-1]+"?"+q.String(), nil, "a list of users", func(b []byte) error {
		var err error
		users, err = parseUsers(b)
		return err
	})
	return users, r
}

// CodeInvalidRequest is the code of a request the client refused to make.
const CodeInvalidRequest = "invalid_request"

// parseUsers reads a JSON array of users, checking the whole answer's
// syntax in the same pass.
func parseUsers(b []byte) ([]User, error) {
	s := scanner{b: b}
	s.space()
	var users []User
	var err error
	if s.i < len(b) && b[s.i] == '[' {
		err = s.array(func() error {
			u, err := s.user()
			if err == nil {
				users = append(users, u)
			}
			return err
		})
		if err == nil {
			err = s.end()
		}
	} else {
		err = errors.New("not a JSON array")
	}
	if err != nil {
		if !valid(b) {
			return nil, errors.New("not JSON") // before any other complaint
		}
		return nil, err
	}
	return users, nil
}

// ParseUser reads one user object, as the metadata write answers it.
func ParseUser(b []byte) (User, error) {
	s := scanner{b: b}
	s.space()
	u, err := s.user()
	if err == nil {
		err = s.end()
	}
	if err != nil {
		if !valid(b) {
			return User{}, errors.New("not JSON")
		}
		return User{}, err
	}
	return u, nil
}

// user reads the user object at s.i, keeping its metadata as the bytes it
// holds. Of several members with the same name, the last counts.
func (s *scanner) user() (User, error) {
	var u User
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return u, errors.New("a user is not a JSON object")
	}
	var meta [NumFields][]byte // spans of s.b, copied once the walk is done
	err := s.object(func(rawKey []byte, escaped bool, vs, ve int) error {
		key := rawKey
		if escaped {
			k, err := text(append(append([]byte{'"'}, rawKey...), '"'), true)
			if err != nil {
				return err
			}
			key = []byte(k)
		}
		v := s.b[vs:ve]
		var err error
		switch string(key) {
		case "id":
			u.ID, err = stringOrNull(v, u.ID)
		case "external_id":
			u.ExternalID, err = stringOrNull(v, u.ExternalID)
		case "email_addresses":
			u.Emails, err = emails(v)
		default:
			for f, name := range FieldNames {
				if string(key) == name {
					meta[f] = v
				}
			}
		}
		if err != nil {
			return fmt.Errorf("user: %w", err)
		}
		return nil
	})
	if err != nil {
		return u, err
	}
	if u.ID == "" {
		return u, errors.New("a user without an id")
	}
	// One allocation for the three fields: the answer's buffer is reused.
	n := 0
	for _, m := range meta {
		n += len(m)
	}
	buf := make([]byte, 0, n)
	for f, m := range meta {
		if m == nil {
			u.Metadata[f] = json.RawMessage("{}")
			continue
		}
		at := len(buf)
		buf = append(buf, m...)
		u.Metadata[f] = buf[at:len(buf):len(buf)]
	}
	return u, nil
}

// stringOrNull reads a checked JSON value that must be a string; null
// leaves was, as encoding/json does.
func stringOrNull(v []byte, was string) (string, error) {
	switch v[0] {
	case '"':
		return text(v, bytes.IndexByte(v, '\\') >= 0)
	case 'n':
		return was, nil
	}
	var t string
	return t, json.Unmarshal(v, &t) // the error json gives
}

// emails reads email_addresses, a checked JSON value: the email_address
// of each object in the array. An array of objects whose email_address is
// a string or null (the answers Clerk gives) is read in place; anything
// else goes through encoding/json, as a struct with that one field, which
// says what it makes of it.
func emails(v []byte) ([]string, error) {
	if out, ok := emailsInPlace(v); ok {
		return out, nil
	}
	var list []struct {
		EmailAddress string `json:"email_address"`
	}
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, err
	}
	var out []string
	for _, e := range list {
		out = append(out, e.EmailAddress)
	}
	return out, nil
}

var emailKey = []byte("email_address")

// emailsInPlace is emails for the common shapes; ok is false for others.
func emailsInPlace(v []byte) (out []string, ok bool) {
	if v[0] != '[' {
		return nil, false
	}
	s := scanner{b: v}
	ok = true
	err := s.array(func() error {
		if s.b[s.i] != '{' {
			ok = false
			_, err := s.value()
			return err
		}
		var addr string
		err := s.object(func(key []byte, escaped bool, vs, ve int) error {
			switch {
			case escaped || !bytes.Equal(key, emailKey) && bytes.EqualFold(key, emailKey):
				ok = false // encoding/json matches keys without regard to case
			case bytes.Equal(key, emailKey):
				switch s.b[vs] {
				case '"':
					var err error
					addr, err = text(s.b[vs:ve], bytes.IndexByte(s.b[vs:ve], '\\') >= 0)
					return err
				case 'n': // null leaves it as it was
				default:
					ok = false
				}
			}
			return nil
		})
		out = append(out, addr)
		return err
	})
	return out, ok && err == nil
}
