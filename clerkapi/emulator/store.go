package emulator

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
)

// record is one user. Its metadata slices are never written to once stored, so a view taken
// under mu can be rendered after mu is released.
type record struct {
	id  string
	seq uint64 // creation order, for newest-first listing

	mu      sync.Mutex
	meta    [3]json.RawMessage // public, private, unsafe; nil = never set
	created int64              // Unix milliseconds
	updated int64
	limit   window
	history []json.RawMessage
}

// userView is a record's state at one moment.
type userView struct {
	id               string
	meta             [3]json.RawMessage
	created, updated int64
}

// view must be called with r.mu held.
func (r *record) view() userView {
	return userView{id: r.id, meta: r.meta, created: r.created, updated: r.updated}
}

// appendJSON renders the user as Clerk's User object: the required fields with the values a
// user with no identifiers has, and the metadata as stored.
func (v *userView) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, v.id)
	b = append(b, `,"object":"user","external_id":null,"primary_email_address_id":null,`+
		`"primary_phone_number_id":null,"primary_web3_wallet_id":null,"username":null,`+
		`"first_name":null,"last_name":null,"locale":null,`+
		`"profile_image_url":"https://www.gravatar.com/avatar?d=mp",`+
		`"image_url":"https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9","has_image":false`...)
	for k, name := range metadataFields {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		if v.meta[k] == nil {
			b = append(b, '{', '}')
		} else {
			b = append(b, v.meta[k]...)
		}
	}
	b = append(b, `,"email_addresses":[],"phone_numbers":[],"web3_wallets":[],"passkeys":[],`+
		`"password_enabled":false,"two_factor_enabled":false,"totp_enabled":false,`+
		`"backup_code_enabled":false,"mfa_enabled_at":null,"mfa_disabled_at":null,`+
		`"password_last_updated_at":null,"external_accounts":[],"saml_accounts":[],`+
		`"enterprise_accounts":[],"organization_memberships":[],"last_sign_in_at":null,`+
		`"banned":false,"locked":false,"deprovisioned":false,"lockout_expires_in_seconds":null,`+
		`"verification_attempts_remaining":null,"updated_at":`...)
	b = strconv.AppendInt(b, v.updated, 10)
	b = append(b, `,"created_at":`...)
	b = strconv.AppendInt(b, v.created, 10)
	b = append(b, `,"delete_self_enabled":true,"create_organization_enabled":true,`+
		`"create_organizations_limit":null,"last_active_at":null,"legal_accepted_at":null,`+
		`"bypass_client_trust":false}`...)
	return b
}

func (s *Server) lookup(id string) *record {
	sh := &s.users[s.shard(id)]
	sh.mu.RLock()
	rec := sh.m[id]
	sh.mu.RUnlock()
	return rec
}

func (s *Server) getOrCreate(id string) *record {
	sh := &s.users[s.shard(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rec := sh.m[id]
	if rec == nil {
		ms := s.now().UnixMilli()
		rec = &record{id: id, seq: s.userSeq.Add(1), created: ms, updated: ms}
		sh.m[id] = rec
	}
	return rec
}

// all returns every user, in no order.
func (s *Server) all() []*record {
	var out []*record
	for i := range s.users {
		sh := &s.users[i]
		sh.mu.RLock()
		for _, rec := range sh.m {
			out = append(out, rec)
		}
		sh.mu.RUnlock()
	}
	return out
}

// User is a user's metadata exactly as stored: nil for a field never set, the 4 bytes null
// for a stored JSON null.
type User struct {
	ID      string          `json:"id"`
	Public  json.RawMessage `json:"public_metadata,omitempty"`
	Private json.RawMessage `json:"private_metadata,omitempty"`
	Unsafe  json.RawMessage `json:"unsafe_metadata,omitempty"`
}

// AddUser creates user id, or replaces its metadata if it exists. A nil field is never set
// (it reads back as {}). The bytes are copied and stored as given; AddUser panics if one is
// not valid JSON, since the User object could not be rendered.
func (s *Server) AddUser(id string, public, private, unsafe json.RawMessage) {
	meta := [3]json.RawMessage{public, private, unsafe}
	for k, m := range meta {
		if m != nil && !json.Valid(m) {
			panic(fmt.Sprintf("emulator: AddUser %q: %s is not valid JSON", id, metadataFields[k]))
		}
		meta[k] = bytes.Clone(m)
	}
	rec := s.getOrCreate(id)
	rec.mu.Lock()
	rec.meta = meta
	rec.mu.Unlock()
}

// User returns user id's metadata as stored.
func (s *Server) User(id string) (User, bool) {
	rec := s.lookup(id)
	if rec == nil {
		return User{}, false
	}
	rec.mu.Lock()
	m := rec.meta
	rec.mu.Unlock()
	return User{ID: id, Public: bytes.Clone(m[0]), Private: bytes.Clone(m[1]), Unsafe: bytes.Clone(m[2])}, true
}

// Users returns every user's metadata as stored, sorted by id.
func (s *Server) Users() []User {
	recs := s.all()
	slices.SortFunc(recs, func(a, b *record) int { return cmp.Compare(a.id, b.id) })
	out := make([]User, len(recs))
	for i, rec := range recs {
		rec.mu.Lock()
		m := rec.meta
		rec.mu.Unlock()
		out[i] = User{ID: rec.id, Public: bytes.Clone(m[0]), Private: bytes.Clone(m[1]), Unsafe: bytes.Clone(m[2])}
	}
	return out
}

// History returns the bodies of the PUTs applied to user id, in apply order. It is empty
// unless Config.RecordHistory is set.
func (s *Server) History(id string) []json.RawMessage {
	rec := s.lookup(id)
	if rec == nil {
		return nil
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]json.RawMessage, len(rec.history))
	for i, b := range rec.history {
		out[i] = bytes.Clone(b)
	}
	return out
}

// LoadUsers adds users from NDJSON, one object per line such as
// {"id":"user_1","public_metadata":{"plan":"pro"}}, the format GET /_emulator/users writes.
// Blank lines are skipped. It returns how many users it added.
func (s *Server) LoadUsers(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	n, line := 0, 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var u User
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&u); err != nil {
			return n, fmt.Errorf("line %d: %w", line, err)
		}
		if dec.More() {
			return n, fmt.Errorf("line %d: more than one JSON value", line)
		}
		if u.ID == "" {
			return n, fmt.Errorf("line %d: no id", line)
		}
		for k, m := range [3]json.RawMessage{u.Public, u.Private, u.Unsafe} {
			if m != nil && m[0] != '{' && string(m) != "null" {
				return n, fmt.Errorf("line %d: %s is %s, want an object or null", line, metadataFields[k], kind(m))
			}
		}
		s.AddUser(u.ID, u.Public, u.Private, u.Unsafe)
		n++
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("line %d: %w", line+1, err)
	}
	return n, nil
}
