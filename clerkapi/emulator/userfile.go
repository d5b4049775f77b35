package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The users file is NDJSON, one user a line, in the form GET /_emulator/users writes:
//
//	{"id":"user_1","external_id":"crm-1","email_addresses":["a@example.com"],"public_metadata":{"plan":"pro"}}
//
// Only id is required. external_id is a string or null (none); email_addresses an array of
// strings or null, the first address primary; each metadata field an object or null, kept as
// the exact bytes of the line.

// userLine is one line of the users file, with the fields it leaves out told apart from null.
type userLine struct {
	id        string
	extSet    bool
	ext       string // "" = none
	emailsSet bool
	emails    []string
	meta      [3]json.RawMessage // nil = absent
}

func parseUserLine(text []byte) (userLine, error) {
	var raw struct {
		ID         string          `json:"id"`
		ExternalID json.RawMessage `json:"external_id"`
		Emails     json.RawMessage `json:"email_addresses"`
		Public     json.RawMessage `json:"public_metadata"`
		Private    json.RawMessage `json:"private_metadata"`
		Unsafe     json.RawMessage `json:"unsafe_metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return userLine{}, err
	}
	if dec.More() {
		return userLine{}, errors.New("more than one JSON value")
	}
	if raw.ID == "" {
		return userLine{}, errors.New("no id")
	}
	l := userLine{id: raw.ID, meta: [3]json.RawMessage{raw.Public, raw.Private, raw.Unsafe}}
	for k, m := range l.meta {
		if m != nil && m[0] != '{' && string(m) != "null" {
			return userLine{}, fmt.Errorf("%s is %s, want an object or null", metadataFields[k], kind(m))
		}
	}
	if m := raw.ExternalID; m != nil {
		l.extSet = true
		if string(m) != "null" {
			if m[0] != '"' {
				return userLine{}, fmt.Errorf("external_id is %s, want a string or null", kind(m))
			}
			json.Unmarshal(m, &l.ext) // a valid string: it cannot fail
		}
	}
	if m := raw.Emails; m != nil {
		l.emailsSet = true
		if string(m) != "null" {
			if err := json.Unmarshal(m, &l.emails); err != nil {
				return userLine{}, errors.New("email_addresses is not an array of strings")
			}
			for i, e := range l.emails {
				if e == "" {
					return userLine{}, fmt.Errorf("email_addresses[%d] is empty", i)
				}
			}
		}
	}
	return l, nil
}

// apply stores the line's user. whole replaces the user: what the line leaves out is unset.
// Otherwise what the line has replaces, and what it leaves out is kept.
func (s *Server) apply(l userLine, whole bool) {
	s.update(l.id, func(rec *record, ms int64) {
		for k, m := range l.meta {
			if whole || m != nil {
				rec.meta[k] = m
			}
		}
		ext, emails := rec.ident.externalID, rec.ident.addrs()
		if whole || l.extSet {
			ext = l.ext
		}
		if whole || l.emailsSet {
			emails = l.emails
		}
		rec.ident = newIdentity(rec.id, ext, emails, rec.ident, ms)
	})
}

// eachUserLine calls fn with every non-blank line of the users file and its number.
func eachUserLine(r io.Reader, fn func(n int, l userLine) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		l, err := parseUserLine(text)
		if err == nil {
			err = fn(n, l)
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	return nil
}

// LoadUsers adds users from a users file (see User for the fields). A line for a user that
// exists replaces it whole. Blank lines are skipped. It returns how many users it added; on an
// error, the lines before it are loaded.
func (s *Server) LoadUsers(r io.Reader) (int, error) {
	n := 0
	err := eachUserLine(r, func(_ int, l userLine) error {
		s.apply(l, true)
		n++
		return nil
	})
	return n, err
}

// UpsertUsers changes users from lines in the users file's form, all or none: every line is
// checked before any is applied. A line for a user that does not exist creates it; for one
// that does, each field the line has replaces the stored one (null clears it) and the fields
// it leaves out are kept. Like SetUser it is no request. It returns how many lines it applied.
func (s *Server) UpsertUsers(r io.Reader) (int, error) {
	var lines []userLine
	if err := eachUserLine(r, func(_ int, l userLine) error {
		lines = append(lines, l)
		return nil
	}); err != nil {
		return 0, err
	}
	for _, l := range lines {
		s.apply(l, false)
	}
	return len(lines), nil
}

// appendUserLine renders u as one line of the users file; what is unset is left out.
func appendUserLine(b []byte, u User) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, u.ID)
	if u.ExternalID != "" {
		b = append(b, `,"external_id":`...)
		b = appendString(b, u.ExternalID)
	}
	if len(u.Emails) > 0 {
		b = append(b, `,"email_addresses":[`...)
		for i, e := range u.Emails {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e)
		}
		b = append(b, ']')
	}
	for k, m := range [3]json.RawMessage{u.Public, u.Private, u.Unsafe} {
		if m == nil {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, metadataFields[k]...)
		b = append(b, '"', ':')
		b = appendOneLine(b, m)
	}
	return append(b, '}', '\n')
}
