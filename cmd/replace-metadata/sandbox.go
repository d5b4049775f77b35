package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/replace-metadata/replace-metadata/clerkapi/emulator"
	"github.com/replace-metadata/replace-metadata/input"
)

// sandbox is the built-in Clerk emulator that run --sandbox writes to: a
// production-sized instance on loopback, seeded with the input's users so
// a first run shows real outcomes without a Clerk account.
type sandbox struct {
	srv *emulator.Server
	url string
	key string
}

// Seed metadata, so the dump shows what a replace kept and what it dropped.
var (
	seedPublic  = json.RawMessage(`{"seeded":true,"plan":"trial"}`)
	seedPrivate = json.RawMessage(`{"seeded":true}`)
	seedUnsafe  = json.RawMessage(`{"seeded":true}`)
)

// startSandbox starts the sandbox seeded from seed: the input's users (an
// input file), or, with users set, a users file such as a run folder's
// sandbox-users.ndjson, so a run's verify or rollback sees what it left.
func startSandbox(seed string, users bool, src *source) (*sandbox, error) {
	s := &sandbox{key: "sk_test_sandbox" + rand.Text()}
	s.srv = emulator.New(emulator.Config{
		Keys:           []string{s.key},
		InstanceLimit:  1000,
		InstanceWindow: 10 * time.Second,
		UserLimit:      10,
		UserWindow:     10 * time.Second,
		Latency:        10 * time.Millisecond,
		Jitter:         20 * time.Millisecond,
		// Standard input cannot be read twice to seed it.
		AutoCreate: src.file == nil,
	})
	switch {
	case users:
		f, err := os.Open(seed)
		if err != nil {
			return nil, usagef("sandbox users: %v", err)
		}
		_, err = s.srv.LoadUsers(f)
		f.Close()
		if err != nil {
			return nil, usagef("sandbox users %s: %v", seed, err)
		}
	case src.file != nil:
		if err := s.seed(seed, src.format, src.opts); err != nil {
			return nil, err
		}
	}
	url, err := s.srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	s.url = url
	return s, nil
}

// seed adds a user for every well-formed user id of the input.
func (s *sandbox) seed(path string, f input.Format, o input.Options) error {
	file, err := os.Open(path)
	if err != nil {
		return usagef("open input: %v", err)
	}
	defer file.Close()
	rows, err := o.Open(file, path, f)
	if err != nil {
		return &usageError{err}
	}
	var seen input.Index
	defer seen.Close()
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return usagef("read input: %v", err)
		}
		if row.Key.Check() != nil || seen.Add(row.Key.Canonical()) {
			continue
		}
		u := emulator.User{ID: row.UserID, Public: seedPublic, Private: seedPrivate, Unsafe: seedUnsafe}
		switch row.Key.Kind {
		case input.ExternalID: // a user that has it, with an id of its own
			u.ID, u.ExternalID = sandboxID(seen.Len()), row.Key.Value
		case input.Email:
			u.ID, u.Emails = sandboxID(seen.Len()), []string{row.Key.Value}
		}
		s.srv.SetUser(u)
	}
}

// sandboxID makes up the Clerk id of the n-th user seeded by a key that is
// not an id.
func sandboxID(n int) string { return fmt.Sprintf("user_sandbox%06d", n) }

// dump writes the sandbox's users as NDJSON, each field's stored bytes as
// they are (not re-encoded), a never-set field as {} as Clerk reads it.
func (s *sandbox) dump(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, u := range s.srv.Users() {
		id, _ := json.Marshal(u.ID)
		fmt.Fprintf(w, `{"id":%s,"public_metadata":%s,"private_metadata":%s,"unsafe_metadata":%s}`+"\n",
			id, orEmpty(u.Public), orEmpty(u.Private), orEmpty(u.Unsafe))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func orEmpty(b json.RawMessage) []byte {
	if b == nil {
		return []byte("{}")
	}
	return bytes.ReplaceAll(b, []byte("\n"), []byte(" ")) // stay one line
}

func (s *sandbox) Close() error { return s.srv.Close() }
