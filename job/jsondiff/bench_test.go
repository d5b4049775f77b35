package jsondiff

import (
	"bytes"
	"encoding/json"
	"testing"
)

// field is a member of a metadata object for the benchmarks: val is raw JSON, or obj an
// object of its own.
type field struct {
	key string
	val string
	obj []field
}

// metadata is a realistic public_metadata of about 1.5 KB: profile, onboarding state,
// preferences, roles, flags, billing with a 64-bit id, a few non-ASCII strings.
var metadata = []field{
	{key: "profile", obj: []field{
		{key: "display_name", val: `"Zoë Ångström"`},
		{key: "locale", val: `"sv-SE"`},
		{key: "timezone", val: `"Europe/Stockholm"`},
		{key: "avatar_url", val: `"https:\/\/cdn.example.com\/avatars\/9f8e7d6c5b4a.png"`},
		{key: "bio", val: `"Backend engineer, \u00e9tudiante \u2014 likes \ud83d\ude80 and long walks"`},
	}},
	{key: "onboarding", obj: []field{
		{key: "step", val: `4`},
		{key: "completed", val: `false`},
		{key: "started_at", val: `"2024-03-18T09:12:44Z"`},
		{key: "checklist", val: `[{"id":"verify_email","done":true},{"id":"invite_team","done":false},{"id":"connect_repo","done":true}]`},
	}},
	{key: "preferences", obj: []field{
		{key: "theme", val: `"dark"`},
		{key: "density", val: `"compact"`},
		{key: "notifications", obj: []field{
			{key: "email", val: `true`},
			{key: "push", val: `false`},
			{key: "digest", val: `"weekly"`},
			{key: "channels", val: `["security","billing","product-updates"]`},
		}},
		{key: "shortcuts", val: `{"search":"mod+k","new":"c","archive":"e"}`},
	}},
	{key: "roles", val: `["admin","billing_manager","support"]`},
	{key: "org_ids", val: `["org_2abcDEF123ghi","org_2xyzUVW987rst"]`},
	{key: "feature_flags", obj: []field{
		{key: "new_dashboard", val: `true`},
		{key: "beta_search", val: `false`},
		{key: "rollout_bucket", val: `0.375`},
		{key: "experiments", val: `{"pricing_page":"variant_b","signup_flow":"control"}`},
	}},
	{key: "billing", obj: []field{
		{key: "plan", val: `"team"`},
		{key: "seats", val: `25`},
		{key: "external_id", val: `18446744073709551615`},
		{key: "mrr_cents", val: `125000`},
		{key: "trial_ends_at", val: `null`},
		{key: "address", val: `{"line1":"Drottninggatan 1","city":"Göteborg","postal_code":"411 14","country":"SE"}`},
	}},
	{key: "legacy_user_id", val: `9007199254740993`},
	{key: "tags", val: `["vip","early-adopter","eu","migrated-2023"]`},
	{key: "notes", val: `"Migrated from the old auth system on 2023-11-02; keep the legacy id for support lookups."`},
	{key: "last_seen", val: `{"ip_country":"SE","at":"2024-05-30T17:45:01Z","client":"web"}`},
}

// render writes fields as JSON, members in order or reversed, compact or indented.
func render(fields []field, reversed, indented bool) []byte {
	var b bytes.Buffer
	var write func(fs []field)
	write = func(fs []field) {
		b.WriteByte('{')
		for n := range fs {
			f := fs[n]
			if reversed {
				f = fs[len(fs)-1-n]
			}
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + f.key + `":`)
			if f.obj != nil {
				write(f.obj)
			} else {
				b.WriteString(f.val)
			}
		}
		b.WriteByte('}')
	}
	write(fields)
	if !indented {
		return b.Bytes()
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// changed is metadata with what a typical replace does: a key gone, one new, a few values
// changed, one nested object gone.
func changed() []field {
	fs := clone(metadata)
	fs = fs[:len(fs)-1]                                 // last_seen removed
	fs = append(fs, field{key: "plan_v2", val: `true`}) // added
	fs[1].obj[0].val = `5`                              // onboarding.step
	fs[1].obj[1].val = `true`                           // onboarding.completed
	fs[2].obj[2].obj = nil                              // preferences.notifications: null
	fs[2].obj[2].val = `null`
	fs[5].obj[2].val = `0.5` // feature_flags.rollout_bucket
	return fs
}

func clone(fs []field) []field {
	out := make([]field, len(fs))
	for n, f := range fs {
		out[n] = f
		if f.obj != nil {
			out[n].obj = clone(f.obj)
		}
	}
	return out
}

func TestBenchmarkInputs(t *testing.T) {
	t.Parallel()
	a := render(metadata, false, false)
	if !json.Valid(a) || len(a) < 1024 || len(a) > 2048 {
		t.Fatalf("metadata is %d bytes (valid %v), want valid JSON of 1-2 KB", len(a), json.Valid(a))
	}
	if !Equal(a, render(metadata, true, true)) {
		t.Error("metadata reversed and indented is not Equal")
	}
	if Equal(a, render(changed(), false, false)) {
		t.Error("changed metadata is Equal")
	}
}

func BenchmarkEqual(b *testing.B) {
	a := render(metadata, false, false)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"same-bytes", bytes.Clone(a)},
		{"same-order-indented", render(metadata, false, true)},
		{"reversed-indented", render(metadata, true, true)},
		{"changed", render(changed(), false, false)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(a)))
			b.ReportAllocs()
			for b.Loop() {
				Equal(a, c.b)
			}
		})
	}
}

func BenchmarkCompare(b *testing.B) {
	before := render(metadata, false, false)
	for _, c := range []struct {
		name  string
		after []byte
	}{
		{"unchanged-reversed", render(metadata, true, false)},
		{"changed", render(changed(), true, false)},
		{"to-null", []byte(`null`)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(before)))
			b.ReportAllocs()
			for b.Loop() {
				Compare("public_metadata", before, c.after)
			}
		})
	}
}
