package clerkapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The parser of answers checks their syntax while it reads them, in one
// pass. These tests hold it to what it replaced, kept below as the
// reference: json.Valid, then a walk over the checked bytes.

// emulatorUser is a user as the emulator (and Clerk) answers it.
const emulatorUser = `{"id":"user_abc","object":"user","external_id":null,"primary_email_address_id":null,"username":null,` +
	`"profile_image_url":"https://www.gravatar.com/avatar?d=mp","has_image":false,"public_metadata":{"plan":"pro","tags":["beta","eu"],"seats":3},` +
	`"private_metadata":{"billing":{"vat":"DE1","country":"DE"},"ledger_id":9007199254740993},"unsafe_metadata":{},` +
	`"email_addresses":[{"id":"idn_1","object":"email_address","email_address":"a@example.com","verification":null,"linked_to":[]}],` +
	`"phone_numbers":[],"password_enabled":false,"mfa_enabled_at":null,"lockout_expires_in_seconds":null,"updated_at":1796112803866,"created_at":1796112803866}`

var parseSeeds = []string{
	"[]", " [ ] ", "[" + emulatorUser + "," + emulatorUser + "]", emulatorUser, "[" + emulatorUser + "] x",
	`[{"id":"user_b","object":"user","external_id":"ext 1","email_addresses":[{"id":"idn_1","email_address":"B@Example.com"}],` +
		`"public_metadata":{"z":9007199254740993,"a":[1.0e2]},"private_metadata":null,"unsafe_metadata":{}},` +
		` {"id":"user_a","external_id":null,"public_metadata":{"k\"q":"\u00e9"},"private_metadata":{},"unsafe_metadata":{"x":{}}}]`,
	`[{"i\u0064":"user_1","public_metadata":{}}]`, `[{"id":"us\u0065r_1","id":"user_2"}]`, `[{"id":1}]`, `[{"id":null}]`,
	`[{"id":"u","external_id":7}]`, `[{"id":"u","email_addresses":null}]`, `[{"id":"u","email_addresses":[null,{}]}]`,
	`[{"id":"u","email_addresses":[{"Email_Address":"x@y"}]}]`, `[{"id":"u","email_addresses":[{"email_address":1}]}]`,
	`[{"id":"u","email_addresses":[{"email_address":"a","email_address":null}]}]`, `[{"id":"u","email_addresses":"a"}]`,
	`[1]`, `{"data":[]}`, `<html>ok</html>`, `[{"id":"u",}]`, `[{"id":"u"]`, `[{"id":"u","n":-0.5e+3,"m":01}]`,
	`[{"id":"u","s":"\x"}]`, "[{\"id\":\"u\t\"}]", `[{"id":"u","v":[tru]}]`, `[{"id":"u","v":nul}]`, `[{"id":"u","v":"\ud800"}]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
}

// FuzzParseUsers: a list answer reads as the reference reads it, with the
// same error; ParseUser likewise; valid is json.Valid.
func FuzzParseUsers(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid %v", b, got, want)
		}
		got, gerr := parseUsers(b)
		want, werr := refParseUsers(b)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("parseUsers(%q)\n got %+v, %v\nwant %+v, %v", b, got, gerr, want, werr)
		}
		gu, gerr := ParseUser(b)
		wu, werr := refParseUserTop(b)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || gerr == nil && !reflect.DeepEqual(gu, wu) { // a user with an error is not read
			t.Fatalf("ParseUser(%q)\n got %+v, %v\nwant %+v, %v", b, gu, gerr, wu, werr)
		}
	})
}

func BenchmarkParseUsers(b *testing.B) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(emulatorUser+",", 100), ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseUsers(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRefParseUsers(b *testing.B) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(emulatorUser+",", 100), ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := refParseUsers(body); err != nil {
			b.Fatal(err)
		}
	}
}

// refParseUsers reads a JSON array of users.
func refParseUsers(b []byte) ([]User, error) {
	if !json.Valid(b) {
		return nil, errors.New("not JSON")
	}
	i := refSkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errors.New("not a JSON array")
	}
	var users []User
	i = refSkipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		end := refSkipValue(b, i)
		u, err := refParseUser(b[i:end])
		if err != nil {
			return nil, err
		}
		users = append(users, u)
		i = refSkipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = refSkipSpace(b, i+1)
		}
	}
	return users, nil
}

// refParseUserTop is the old ParseUser.
func refParseUserTop(b []byte) (User, error) {
	if !json.Valid(b) {
		return User{}, errors.New("not JSON")
	}
	return refParseUser(bytes.TrimSpace(b))
}

// parseUser reads the user object b (valid JSON, no surrounding space),
// keeping its metadata as the bytes it holds.
func refParseUser(b []byte) (User, error) {
	var u User
	if len(b) == 0 || b[0] != '{' {
		return u, errors.New("a user is not a JSON object")
	}
	var err error
	refEachMember(b, func(key string, v []byte) {
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

func refSkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// refSkipValue returns the index just past the value that starts at b[i].
func refSkipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return refSkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = refSkipString(b, i)
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

func refSkipString(b []byte, i int) int {
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

// refEachMember calls fn with the decoded key and the value's bytes of every
// member of the object b, in order.
func refEachMember(b []byte, fn func(key string, v []byte)) {
	i := refSkipSpace(b, 1)
	for i < len(b) && b[i] == '"' {
		ke := refSkipString(b, i)
		raw := b[i:ke]
		key := string(raw[1 : len(raw)-1])
		if bytes.IndexByte(raw, '\\') >= 0 {
			json.Unmarshal(raw, &key)
		}
		vs := refSkipSpace(b, refSkipSpace(b, ke)+1) // past the ':'
		ve := refSkipValue(b, vs)
		fn(key, b[vs:ve])
		i = refSkipSpace(b, ve)
		if i < len(b) && b[i] == ',' {
			i = refSkipSpace(b, i+1)
		}
	}
}

func BenchmarkParseUser(b *testing.B) {
	body := []byte(emulatorUser)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseUser(body); err != nil {
			b.Fatal(err)
		}
	}
}
