// Package emulatortest holds what tests against the Clerk emulator share:
// a server on loopback for the test's life, and the comparison of stored
// metadata with what a row should have produced.
package emulatortest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
)

// Start serves an emulator on loopback until the test ends; it accepts
// key unless cfg names its own keys. It returns the server and its base
// URL (no /v1).
func Start(tb testing.TB, key string, cfg emulator.Config) (*emulator.Server, string) {
	tb.Helper()
	if cfg.Keys == nil {
		cfg.Keys = []string{key}
	}
	srv := emulator.New(cfg)
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	return srv, url
}

// SameJSON reports whether a and b are the same JSON for any parser: the
// same tokens in the same order, strings compared decoded, numbers by
// their text. Key order and integers above 2^53 count; insignificant
// whitespace and escape spellings do not.
func SameJSON(a, b []byte) bool {
	if !json.Valid(a) || !json.Valid(b) {
		return false
	}
	ta, ea := tokens(a)
	tb, eb := tokens(b)
	if ea != nil || eb != nil || len(ta) != len(tb) {
		return false
	}
	for i := range ta {
		if ta[i] != tb[i] {
			return false
		}
	}
	return true
}

func tokens(b []byte) ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%T:%v", tok, tok))
	}
}
