package emulator

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
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
	ident   identity           // changed with Server.idxMu held too
	created int64              // Unix milliseconds
	updated int64
	limit   window
	history []json.RawMessage
}

// userView is a record's state at one moment.
type userView struct {
	id               string
	meta             [3]json.RawMessage
	ident            identity
	created, updated int64
}

// view must be called with r.mu held.
func (r *record) view() userView {
	return userView{id: r.id, meta: r.meta, ident: r.ident, created: r.created, updated: r.updated}
}

// user must be called with r.mu held.
func (r *record) user() User {
	return User{
		ID:         r.id,
		ExternalID: r.ident.externalID,
		Emails:     r.ident.addrs(),
		Public:     bytes.Clone(r.meta[0]),
		Private:    bytes.Clone(r.meta[1]),
		Unsafe:     bytes.Clone(r.meta[2]),
	}
}

// appendJSON renders the user as Clerk's User object: its external id and email addresses
// (the first one primary), the metadata as stored, and the other required fields with the
// values a user with no other identifiers has.
func (v *userView) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, v.id)
	b = append(b, `,"object":"user","external_id":`...)
	if v.ident.externalID == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, v.ident.externalID)
	}
	b = append(b, `,"primary_email_address_id":`...)
	if len(v.ident.emails) == 0 {
		b = append(b, "null"...)
	} else {
		b = appendString(b, v.ident.emails[0].id)
	}
	b = append(b, `,"primary_phone_number_id":null,"primary_web3_wallet_id":null,"username":null,`+
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
	b = append(b, `,"email_addresses":`...)
	b = appendEmails(b, v.ident)
	b = append(b, `,"phone_numbers":[],"web3_wallets":[],"passkeys":[],`+
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

// User is a user as stored: its identifiers, and its metadata exactly as stored: nil for a
// field never set, the 4 bytes null for a stored JSON null. Its JSON form is a line of the
// users file (see LoadUsers).
type User struct {
	ID string `json:"id"`
	// ExternalID is the user's external_id; "" means none (null).
	ExternalID string `json:"external_id,omitempty"`
	// Emails are the user's email addresses as given, the first one primary. The emulator does
	// not make them unique: several users may share one.
	Emails  []string        `json:"email_addresses,omitempty"`
	Public  json.RawMessage `json:"public_metadata,omitempty"`
	Private json.RawMessage `json:"private_metadata,omitempty"`
	Unsafe  json.RawMessage `json:"unsafe_metadata,omitempty"`
}

// AddUser creates user id, or replaces its metadata if it exists; its identifiers are kept. A
// nil field is never set (it reads back as {}). The bytes are copied and stored as given;
// AddUser panics if one is not valid JSON, since the User object could not be rendered.
func (s *Server) AddUser(id string, public, private, unsafe json.RawMessage) {
	meta := cloneMeta(id, [3]json.RawMessage{public, private, unsafe})
	rec := s.getOrCreate(id)
	rec.mu.Lock()
	rec.meta = meta
	rec.mu.Unlock()
}

// SetUser creates user u.ID, or replaces it whole: external id, email addresses and all three
// metadata fields (nil: never set). Like a change made in Clerk's dashboard, it is no request:
// it is not counted, limited or faulted. It panics on metadata that is not valid JSON.
func (s *Server) SetUser(u User) {
	meta := cloneMeta(u.ID, [3]json.RawMessage{u.Public, u.Private, u.Unsafe})
	ext, emails := u.ExternalID, slices.Clone(u.Emails)
	s.update(u.ID, func(rec *record, ms int64) {
		rec.meta = meta
		rec.ident = newIdentity(rec.id, ext, emails, rec.ident, ms)
	})
}

// DeleteUser removes user id, as deleting it in Clerk would; it reports whether there was one.
// A write already in flight for the user is applied to nothing.
func (s *Server) DeleteUser(id string) bool {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	sh := &s.users[s.shard(id)]
	sh.mu.Lock()
	rec := sh.m[id]
	delete(sh.m, id)
	sh.mu.Unlock()
	if rec == nil {
		return false
	}
	rec.mu.Lock()
	s.idx.remove(rec, rec.ident)
	rec.mu.Unlock()
	return true
}

// update runs fn on user id, created if need be, with the index held so that fn may change
// the record's identity, and sets updated_at. ms is the time of the change.
func (s *Server) update(id string, fn func(rec *record, ms int64)) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	rec := s.getOrCreate(id)
	ms := s.now().UnixMilli()
	rec.mu.Lock()
	old := rec.ident
	fn(rec, ms)
	rec.updated = ms
	s.idx.remove(rec, old)
	s.idx.add(rec, rec.ident)
	rec.mu.Unlock()
}

func cloneMeta(id string, meta [3]json.RawMessage) [3]json.RawMessage {
	for k, m := range meta {
		if m != nil && !json.Valid(m) {
			panic(fmt.Sprintf("emulator: user %q: %s is not valid JSON", id, metadataFields[k]))
		}
		meta[k] = bytes.Clone(m)
	}
	return meta
}

// User returns user id as stored.
func (s *Server) User(id string) (User, bool) {
	rec := s.lookup(id)
	if rec == nil {
		return User{}, false
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.user(), true
}

// Users returns every user as stored, sorted by id.
func (s *Server) Users() []User {
	recs := s.all()
	slices.SortFunc(recs, func(a, b *record) int { return cmp.Compare(a.id, b.id) })
	out := make([]User, len(recs))
	for i, rec := range recs {
		rec.mu.Lock()
		out[i] = rec.user()
		rec.mu.Unlock()
	}
	return out
}

// History returns the bodies of the PUTs applied to user id, in apply order, as they were sent
// (also when FaultStoreDifferent stored something else, and a late write where it landed).
// It is empty unless Config.RecordHistory is set.
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
