package input

import (
	"strings"
	"testing"
)

// Rows that name their user by user_id, external_id or email_address.

func TestKeyKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		f      Format
		data   string
		kind   KeyKind
		values []string
	}{
		{"csv user_id", CSV, "user_id,public_metadata\nuser_1,{}\n", UserID, []string{"user_1"}},
		{"csv external_id", CSV, "external_id;public_metadata\ncrm-42;{}\n\"id with, comma\";{}\n", ExternalID, []string{"crm-42", "id with, comma"}},
		{"csv email_address", CSV, "public_metadata,email_address\n{},Ann@Example.com\n", Email, []string{"Ann@Example.com"}},
		{"ndjson user_id", NDJSON, `{"user_id":"user_1","public_metadata":{}}`, UserID, []string{"user_1"}},
		{"ndjson external_id", NDJSON, `{"external_id":"crm-42","public_metadata":{}}` + "\n" + `{"public_metadata":{},"external_id":"x\u00e9"}`, ExternalID, []string{"crm-42", "xé"}},
		{"ndjson email_address", NDJSON, `{"email_address":"ann+tag@example.com","private_metadata":null}`, Email, []string{"ann+tag@example.com"}},
		{"ndjson escaped key name", NDJSON, `{"external\u005fid":"a","public_metadata":{}}`, ExternalID, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, r := readWith(t, Options{}, tt.f, tt.data)
			if got := r.KeyKind(); got != tt.kind {
				t.Errorf("KeyKind = %v, want %v", got, tt.kind)
			}
			if len(rows) != len(tt.values) {
				t.Fatalf("got %d rows, want %d", len(rows), len(tt.values))
			}
			for i, row := range rows {
				if row.Err != nil {
					t.Errorf("row %d: %v", i+1, row.Err)
				}
				if row.Key != (Key{tt.kind, tt.values[i]}) {
					t.Errorf("row %d Key = %+v, want %v %q", i+1, row.Key, tt.kind, tt.values[i])
				}
				wantID := ""
				if tt.kind == UserID {
					wantID = tt.values[i]
				}
				if row.UserID != wantID {
					t.Errorf("row %d UserID = %q, want %q", i+1, row.UserID, wantID)
				}
			}
		})
	}
	for k, want := range map[KeyKind]string{UserID: "user_id", ExternalID: "external_id", Email: "email_address", 0: ""} {
		if got := k.String(); got != want {
			t.Errorf("KeyKind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind         KeyKind
		value        string
		code, reason string
	}{
		{ExternalID, "", CodeInvalidExternalID, "external_id is empty"},
		{ExternalID, "+crm-1", CodeInvalidExternalID, `external_id "+crm-1" begins with "+", which Clerk's user filter reads as include or exclude`},
		{ExternalID, "-crm-1", CodeInvalidExternalID, `begins with "-"`},
		{ExternalID, "crm\x001", CodeInvalidExternalID, "has a control character"},
		{ExternalID, "crm\n1", CodeInvalidExternalID, "has a control character"},
		{ExternalID, "crm\u00851", CodeInvalidExternalID, "has a control character"},
		{ExternalID, "crm\x7f", CodeInvalidExternalID, "has a control character"},
		{ExternalID, " crm-1", CodeInvalidExternalID, "surrounding whitespace"},
		{ExternalID, "crm-1\u00a0", CodeInvalidExternalID, "surrounding whitespace"},
		{ExternalID, "crm\xff", CodeInvalidExternalID, "not valid UTF-8"},
		{Email, "", CodeInvalidEmail, "email_address is empty"},
		{Email, "ann.example.com", CodeInvalidEmail, `email_address "ann.example.com" is not an email address (want one @ with text on both sides)`},
		{Email, "ann@b@example.com", CodeInvalidEmail, "want one @"},
		{Email, "@example.com", CodeInvalidEmail, "want one @"},
		{Email, "ann@", CodeInvalidEmail, "want one @"},
		{Email, "ann @example.com", CodeInvalidEmail, "has a space or a control character"},
		{Email, "ann@example.com ", CodeInvalidEmail, "has a space"},
		{Email, "ann@exa\tmple.com", CodeInvalidEmail, "has a space"},
		{Email, "ann@example.com\x00", CodeInvalidEmail, "control character"},
		{Email, "ann@\u2028example.com", CodeInvalidEmail, "has a space"},
		{Email, "ann\xff@example.com", CodeInvalidEmail, "not valid UTF-8"},
		{UserID, "crm-1", CodeInvalidUserID, "not a Clerk user id"},
	}
	for _, tt := range tests {
		if e := (Key{tt.kind, tt.value}).Check(); e == nil || e.Code != tt.code || !strings.Contains(e.Reason, tt.reason) {
			t.Errorf("%v %q: %v, want %s: %s", tt.kind, tt.value, e, tt.code, tt.reason)
		}
	}
	for _, ok := range []Key{
		{ExternalID, "crm-1"}, {ExternalID, "a b"}, {ExternalID, "1+2"}, {ExternalID, "école/42?x#y"},
		{Email, "ann@example.com"}, {Email, "-ann@example.com"}, {Email, "ann+tag@localhost"}, {Email, "ü@bü.de"},
	} {
		if e := ok.Check(); e != nil {
			t.Errorf("%v %q: %v, want valid", ok.Kind, ok.Value, e)
		}
	}

	// The same rules, through each reader.
	ndjson := `{"external_id":"+crm-1","public_metadata":{}}` + "\n" +
		`{"external_id":12,"public_metadata":{}}` + "\n" +
		`{"external_id":"crm\n2","public_metadata":{}}` + "\n" +
		`{"external_id":"crm-3","public_metadata":{}}` + "\n"
	rows, r := readWith(t, Options{}, NDJSON, ndjson)
	for i, want := range []string{CodeInvalidExternalID, CodeInvalidExternalID, CodeInvalidExternalID, ""} {
		if got := code(rows[i]); got != want {
			t.Errorf("ndjson row %d: %q (%v), want %q", i+1, got, rows[i].Err, want)
		}
	}
	if !strings.Contains(rows[1].Err.Error(), "external_id must be a string, got a number") {
		t.Errorf("row 2: %v", rows[1].Err)
	}
	if r.KeyKind() != ExternalID {
		t.Errorf("KeyKind %v: an invalid row still names its kind of key", r.KeyKind())
	}
	csv := "email_address,public_metadata\nann.example.com,{}\n\"ann @example.com\",{}\n,{}\nann@example.com,{}\n"
	rows = readAll(t, CSV, csv)
	for i, want := range []string{CodeInvalidEmail, CodeInvalidEmail, CodeInvalidEmail, ""} {
		if got := code(rows[i]); got != want {
			t.Errorf("csv row %d: %q (%v), want %q", i+1, got, rows[i].Err, want)
		}
	}
}

// TestNDJSONMixedKeys: a file names its users one way; the first row that
// names one sets it, valid or not.
func TestNDJSONMixedKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []string
		codes []string
		kinds []KeyKind // KeyKind after each row
	}{
		{"another key than the first row's",
			[]string{`{"user_id":"user_1","public_metadata":{}}`, `{"email_address":"a@example.com","public_metadata":{}}`, `{"user_id":"user_2","public_metadata":{}}`},
			[]string{"", CodeMixedKeys, ""}, []KeyKind{UserID, UserID, UserID}},
		{"two keys in one row",
			[]string{`{"user_id":"user_1","external_id":"x","public_metadata":{}}`, `{"external_id":"x","public_metadata":{}}`},
			[]string{CodeMixedKeys, ""}, []KeyKind{0, ExternalID}},
		{"an invalid first row sets the kind",
			[]string{`{"external_id":"+x","public_metadata":[]}`, `{"user_id":"user_1","public_metadata":{}}`},
			[]string{CodeMetadataType, CodeMixedKeys}, []KeyKind{ExternalID, ExternalID}},
		{"a broken first row does not",
			[]string{`{"external_id":"x","public_metadata":{`, `{"user_id":"user_1","public_metadata":{}}`, `{"external_id":"x","public_metadata":{}}`},
			[]string{CodeInvalidJSON, "", CodeMixedKeys}, []KeyKind{0, UserID, UserID}},
		{"nor a row with no key",
			[]string{`{"public_metadata":{}}`, `{"email_address":"a@example.com","public_metadata":{}}`, `{"public_metadata":{}}`},
			[]string{CodeMissingUserID, "", CodeMissingUserID}, []KeyKind{0, Email, Email}},
		{"mixed beats other problems of the row",
			[]string{`{"user_id":"user_1","public_metadata":{}}`, `{"external_id":"-x","public_metadata":1,"nope":1}`},
			[]string{"", CodeMixedKeys}, []KeyKind{UserID, UserID}},
		{"but not a syntax error",
			[]string{`{"user_id":"user_1","public_metadata":{}}`, `{"external_id":"x","public_metadata":{}} x`},
			[]string{"", CodeInvalidJSON}, []KeyKind{UserID, UserID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewNDJSON(strings.NewReader(strings.Join(tt.lines, "\n")), "in.ndjson")
			for i := range tt.lines {
				row, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if got := code(row); got != tt.codes[i] {
					t.Errorf("row %d: code %q (%v), want %q", i+1, got, row.Err, tt.codes[i])
				}
				if got := r.KeyKind(); got != tt.kinds[i] {
					t.Errorf("after row %d: KeyKind %v, want %v", i+1, got, tt.kinds[i])
				}
			}
		})
	}
	rows := readAll(t, NDJSON, `{"user_id":"user_1","public_metadata":{}}`+"\n\n"+`{"email_address":"a@example.com","public_metadata":{}}`)
	want := "row names its user by email_address, but the file names users by user_id (from line 1 on): a file uses one kind of key"
	if rows[1].Err == nil || rows[1].Err.Error() != want {
		t.Errorf("reason %v, want %q", rows[1].Err, want)
	}
	if rows[1].UserID != "" || rows[1].Key != (Key{Email, "a@example.com"}) {
		t.Errorf("mixed row: UserID %q Key %+v, want the row's own key", rows[1].UserID, rows[1].Key)
	}
	rows = readAll(t, NDJSON, `{"email_address":"a@example.com","user_id":"user_1","public_metadata":{}}`)
	if want := "row names its user by both email_address and user_id: use one"; rows[0].Err == nil || rows[0].Err.Error() != want {
		t.Errorf("reason %v, want %q", rows[0].Err, want)
	}
	rows = readAll(t, NDJSON, `{"email_address":"a@example.com","public_metadata":{}}`+"\n"+`{"public_metadata":{}}`)
	if want := "email_address is missing"; rows[1].Err == nil || rows[1].Err.Error() != want {
		t.Errorf("reason %v, want %q", rows[1].Err, want)
	}
	rows = readAll(t, NDJSON, `{"public_metadata":{}}`)
	if want := "row names no user: it has none of user_id, external_id or email_address"; rows[0].Err == nil || rows[0].Err.Error() != want {
		t.Errorf("reason %v, want %q", rows[0].Err, want)
	}
}

func TestNDJSONUnknownKeySuggestion(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"public_metdata": `unknown field "public_metdata"; did you mean public_metadata?`,
		"publicMetadata": `unknown field "publicMetadata"; did you mean public_metadata?`,
		"externalId":     `unknown field "externalId"; did you mean external_id?`,
		"email":          `unknown field "email" (want user_id, external_id or email_address, and any of public_metadata, private_metadata, unsafe_metadata)`,
	} {
		rows := readAll(t, NDJSON, `{"user_id":"user_1","`+key+`":{},"public_metadata":{}}`)
		if code(rows[0]) != CodeUnknownField || rows[0].Err.Error() != want {
			t.Errorf("%s: %v, want %q", key, rows[0].Err, want)
		}
	}
}

// TestIndexByKey: repeats are found by key, emails without regard to
// case; a row of another kind than the file's is no user of it.
func TestIndexByKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		f       Format
		data    string
		repeats []bool
		reason  string // of the first rejected repeat
	}{
		{"external ids", CSV, "external_id,public_metadata\ncrm-1,{}\ncrm-2,{}\ncrm-1,{}\nCRM-1,{}\n",
			[]bool{false, false, true, false}, `external_id "crm-1" already appeared on an earlier row (duplicates are rejected)`},
		{"emails", NDJSON, `{"email_address":"Ann@Example.com","public_metadata":{}}` + "\n" +
			`{"email_address":"ann@example.com","public_metadata":{}}` + "\n" +
			`{"email_address":"bo@example.com","public_metadata":{}}` + "\n",
			[]bool{false, true, false}, `email_address "ann@example.com" already appeared on an earlier row (duplicates are rejected; addresses are compared without regard to case)`},
		{"user ids are compared as written", NDJSON, `{"user_id":"user_a","public_metadata":{}}` + "\n" +
			`{"user_id":"user_A","public_metadata":{}}` + "\n" + `{"user_id":"user_a","public_metadata":{}}` + "\n",
			[]bool{false, false, true}, `user_id user_a already appeared on an earlier row (duplicates are rejected)`},
		{"rows of another kind are not counted", NDJSON, `{"user_id":"user_a","public_metadata":{}}` + "\n" +
			`{"external_id":"user_a","public_metadata":{}}` + "\n" + `{"user_id":"user_a","public_metadata":{}}` + "\n",
			[]bool{false, false, true}, `user_id user_a already appeared`},
		{"malformed keys are not counted", CSV, "external_id,public_metadata\n+x,{}\n+x,{}\n",
			[]bool{false, false}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, reject := range []bool{false, true} {
				var x Index
				rows := readAll(t, tt.f, tt.data)
				reason := ""
				for i := range rows {
					valid := rows[i].Err == nil
					if got := x.Check(&rows[i], reject); got != tt.repeats[i] {
						t.Errorf("row %d: repeat %v, want %v", i+1, got, tt.repeats[i])
					}
					if reject && valid && tt.repeats[i] {
						if code(rows[i]) != CodeDuplicateUser {
							t.Errorf("row %d: code %q, want %q", i+1, code(rows[i]), CodeDuplicateUser)
						} else if reason == "" {
							reason = rows[i].Err.Error()
						}
					}
				}
				if reject && !strings.Contains(reason, tt.reason) {
					t.Errorf("reason %q, want %q", reason, tt.reason)
				}
				x.Close()
			}
		})
	}
	if got := (Key{Email, "Ann@EXAMPLE.com"}).Canonical(); got != "ann@example.com" {
		t.Errorf("Canonical = %q", got)
	}
	if got := (Key{ExternalID, "CRM-1"}).Canonical(); got != "CRM-1" {
		t.Errorf("Canonical = %q", got)
	}
	if got := (Key{UserID, "user_A"}).Canonical(); got != "user_A" {
		t.Errorf("Canonical = %q: a user id must shard and count as it did", got)
	}
}
