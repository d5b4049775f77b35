package emulator

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// identity is what identifies a user besides its id: an external id and email addresses. It
// is replaced whole, never changed in place, so a view may share it after the record's lock is
// released.
type identity struct {
	externalID string // "" = none, rendered as null
	emails     []emailAddress
}

// emailAddress is one of a user's email addresses, as Clerk's EmailAddress object shows it.
type emailAddress struct {
	id      string // idn_…
	addr    string // as given; matched lowercased
	created int64  // Unix milliseconds
}

// newIdentity builds the identity of user id with the addresses given, at ms. Addresses the
// old identity had keep their id and creation time, as they would in Clerk; new ones get an id
// derived from the user id and the address, so a seeded state renders the same every run.
func newIdentity(id, externalID string, addrs []string, old identity, ms int64) identity {
	ident := identity{externalID: externalID}
	if len(addrs) == 0 {
		return ident
	}
	ident.emails = make([]emailAddress, len(addrs))
	seen := map[string]int{}
	for i, a := range addrs {
		n := seen[a]
		seen[a] = n + 1
		ident.emails[i] = emailAddress{id: emailID(id, a, n), addr: a, created: ms}
		for _, e := range old.emails {
			if e.id == ident.emails[i].id {
				ident.emails[i].created = e.created
			}
		}
	}
	return ident
}

// emailID is "idn_" and 27 letters and digits, like Clerk's identification ids, derived from
// the user, the address and which occurrence of the address it is.
func emailID(userID, addr string, n int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	h := fnv.New64a()
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write([]byte(addr))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(n)))
	x := h.Sum64()
	b := make([]byte, 0, 31)
	b = append(b, "idn_"...)
	for range 27 {
		x = splitmix(x)
		b = append(b, digits[x%62])
	}
	return string(b)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// addrs returns the addresses as given.
func (ident identity) addrs() []string {
	if len(ident.emails) == 0 {
		return nil
	}
	out := make([]string, len(ident.emails))
	for i, e := range ident.emails {
		out[i] = e.addr
	}
	return out
}

// emailKey is how the list filter compares addresses: without regard to case.
func emailKey(addr string) string { return strings.ToLower(addr) }

// index finds users by external id and by email address, for the list filters. It is changed
// only when a user's identity is set or the user is deleted, never by metadata writes.
type index struct {
	byExternal map[string]map[*record]struct{}
	byEmail    map[string]map[*record]struct{} // by emailKey
}

func (ix *index) add(rec *record, ident identity) {
	if ident.externalID != "" {
		addTo(&ix.byExternal, ident.externalID, rec)
	}
	for _, e := range ident.emails {
		addTo(&ix.byEmail, emailKey(e.addr), rec)
	}
}

func (ix *index) remove(rec *record, ident identity) {
	if ident.externalID != "" {
		removeFrom(ix.byExternal, ident.externalID, rec)
	}
	for _, e := range ident.emails {
		removeFrom(ix.byEmail, emailKey(e.addr), rec)
	}
}

func addTo(m *map[string]map[*record]struct{}, k string, rec *record) {
	if *m == nil {
		*m = map[string]map[*record]struct{}{}
	}
	set := (*m)[k]
	if set == nil {
		set = map[*record]struct{}{}
		(*m)[k] = set
	}
	set[rec] = struct{}{}
}

func removeFrom(m map[string]map[*record]struct{}, k string, rec *record) {
	if set := m[k]; set != nil {
		delete(set, rec)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// appendEmails renders the addresses as Clerk's email_addresses: each verified by an admin, as
// addresses created through the Backend API are.
func appendEmails(b []byte, ident identity) []byte {
	b = append(b, '[')
	for i, e := range ident.emails {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, e.id)
		b = append(b, `,"object":"email_address","email_address":`...)
		b = appendString(b, e.addr)
		b = append(b, `,"reserved":false,"verification":{"status":"verified","strategy":"admin",`+
			`"attempts":null,"expire_at":null},"linked_to":[],"matches_sso_connection":false,"created_at":`...)
		b = strconv.AppendInt(b, e.created, 10)
		b = append(b, `,"updated_at":`...)
		b = strconv.AppendInt(b, e.created, 10)
		b = append(b, '}')
	}
	return append(b, ']')
}
