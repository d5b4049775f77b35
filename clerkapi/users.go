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

// parseUsers reads a JSON array of users.
func parseUsers(b []byte) ([]User, error) {
	if !json.Valid(b) {
		return nil, errors.New("not JSON")
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errors.New("not a JSON array")
	}
	var users []User
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		end := skipValue(b, i)
		u, err := parseUser(b[i:end])
		if err != nil {
			return nil, err
		}
		users = append(users, u)
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return users, nil
}

// ParseUser reads one user object, as the metadata write answers it.
func ParseUser(b []byte) (User, error) {
	if !json.Valid(b) {
		return User{}, errors.New("not JSON")
	}
	return parseUser(bytes.TrimSpace(b))
}

// parseUser reads the user object b (valid JSON, no surrounding space),
// keeping its metadata as the bytes it holds.
func parseUser(b []byte) (User, error) {
	var u User
	if len(b) == 0 || b[0] != '{' {
		return u, errors.New("a user is not a JSON object")
	}
	var err error
	eachMember(b, func(key string, v []byte) {
		if err != nil {
			return
		}
		switch key {
		case "id":
			err = json.Unmarshal(v, &u.ID)
		case "external_id":
			if string(v) != "null" {
				err = json.Unmarshal(v, &u.ExternalID)
			}
		case "email_addresses":
			var emails []struct {
				EmailAddress string `json:"email_address"`
			}
			if err = json.Unmarshal(v, &emails); err == nil {
				for _, e := range emails {
					u.Emails = append(u.Emails, e.EmailAddress)
				}
			}
		default:
			for f, name := range FieldNames {
				if key == name {
					u.Metadata[f] = bytes.Clone(v)
				}
			}
		}
	})
	if err != nil {
		return u, fmt.Errorf("user: %w", err)
	}
	if u.ID == "" {
		return u, errors.New("a user without an id")
	}
	for f := range u.Metadata {
		if u.Metadata[f] == nil {
			u.Metadata[f] = json.RawMessage("{}")
		}
	}
	return u, nil
}

// The functions below walk JSON that json.Valid accepted.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\n\r"), rune(b[i])) {
		i++
	}
	return i
}

func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// eachMember calls fn with the decoded key and the value's bytes of every
// member of the object b, in order.
func eachMember(b []byte, fn func(key string, v []byte)) {
	i := skipSpace(b, 1)
	for i < len(b) && b[i] == '"' {
		ke := skipString(b, i)
		raw := b[i:ke]
		key := string(raw[1 : len(raw)-1])
		if bytes.IndexByte(raw, '\\') >= 0 {
			json.Unmarshal(raw, &key)
		}
		vs := skipSpace(b, skipSpace(b, ke)+1) // past the ':'
		ve := skipValue(b, vs)
		fn(key, b[vs:ve])
		i = skipSpace(b, ve)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}
