package main

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"
)

// newLogger returns the one logger of a run: zerolog JSON on w, or the
// console format when asked or when w is a terminal.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), usagef("log_level must be debug, info, warn or error, not %q", level)
	}
	out := w
	if format == "console" || (format == "auto" && isTerminal(w)) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	}
	// Events are written whole, one at a time, whatever the writer.
	return zerolog.New(zerolog.SyncWriter(out)).Level(lvl).With().Timestamp().Logger(), nil
}

func isTerminal(v any) bool {
	f := terminalFile(v)
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// terminalFile returns the file under v's writers (the scrubbing, the
// progress display), or nil.
func terminalFile(v any) *os.File {
	for {
		switch w := v.(type) {
		case *scrubbed:
			v = w.w
		case *display:
			v = w.out
		case *os.File:
			return w
		default:
			return nil
		}
	}
}

// secrets are the strings no output may show: the secret key.
type secrets struct {
	mu   sync.Mutex
	list [][]byte
}

func (s *secrets) add(secret string) {
	if len(secret) < 8 {
		return // too short to be a key; replacing it would garble text
	}
	s.mu.Lock()
	s.list = append(s.list, []byte(secret))
	s.mu.Unlock()
}

func (s *secrets) scrub(p []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.list {
		if bytes.Contains(p, k) {
			p = bytes.ReplaceAll(p, k, []byte("[REDACTED]"))
		}
	}
	return p
}

// scrubbed is a writer that replaces secrets in what passes through it.
// Loggers write whole events, so a secret is never split across writes.
type scrubbed struct {
	w io.Writer
	s *secrets
}

func (s *scrubbed) Write(p []byte) (int, error) {
	if _, err := s.w.Write(s.s.scrub(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
