package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/replace-metadata/replace-metadata/input"
	"github.com/replace-metadata/replace-metadata/job/emulator"
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

func startSandbox(cfg config, src *source) (*sandbox, error) {
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
	if src.file != nil {
		if err := s.seed(cfg.Input, src.format); err != nil {
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
func (s *sandbox) seed(path string, f input.Format) error {
	file, err := os.Open(path)
	if err != nil {
		return usagef("open input: %v", err)
	}
	defer file.Close()
	rows, err := input.Open(file, path, f)
	if err != nil {
		return &usageError{err}
	}
	var seen input.Index
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return usagef("read input: %v", err)
		}
		if input.CheckUserID(row.UserID) != nil || seen.Add(row.UserID) {
			continue
		}
		s.srv.AddUser(row.UserID, seedPublic, seedPrivate, seedUnsafe)
	}
}

// dump writes the seeded users' metadata as the sandbox holds it now.
func (s *sandbox) dump(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	users := s.srv.Users()
	for _, u := range users {
		b, err := json.Marshal(struct {
			ID      string          `json:"id"`
			Public  json.RawMessage `json:"public_metadata"`
			Private json.RawMessage `json:"private_metadata"`
			Unsafe  json.RawMessage `json:"unsafe_metadata"`
		}{u.ID, orNull(u.Public), orNull(u.Private), orNull(u.Unsafe)})
		if err != nil {
			f.Close()
			return err
		}
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func orNull(b json.RawMessage) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return b
}

func (s *sandbox) Close() error { return s.srv.Close() }
