package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/replace-metadata/replace-metadata/input"
)

// source is the input file, opened.
type source struct {
	name   string // for messages
	format input.Format
	opts   input.Options // how to read it: open rows with opts.Open
	r      io.Reader
	file   *os.File // nil for standard input
	// sha256 and rows are known before the run for a file: a resumed run
	// is checked against the first, progress counts down the second.
	sha256 string
	rows   int
	// hash takes standard input's bytes as they are read.
	hash hash.Hash
}

func openSource(cfg config, e env, survey bool) (*source, error) {
	if cfg.Input == "" {
		return nil, usagef("no input: set --input (or input in config.yaml); only --sandbox runs the shipped example without one")
	}
	s := &source{name: cfg.Input, opts: cfg.inputOptions()}
	var err error
	switch {
	case cfg.Format != "":
		s.format, err = input.ParseFormat(cfg.Format)
	case cfg.Input == "-":
		err = fmt.Errorf("--format is needed when the input is standard input")
	default:
		s.format, err = input.FormatOf(cfg.Input)
	}
	if err != nil {
		return nil, &usageError{err}
	}
	if cfg.Input == "-" {
		s.name = "stdin"
		s.hash = sha256.New()
		s.r = io.TeeReader(e.stdin, s.hash)
		return s, nil
	}
	f, err := os.Open(e.path(cfg.Input))
	if err != nil {
		return nil, usagef("open input: %v", err)
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, usagef("input %s is not a file", cfg.Input)
	}
	s.file, s.r = f, f
	if survey {
		if err := s.survey(); err != nil {
			f.Close()
			return nil, usagef("read input: %v", err)
		}
	}
	return s, nil
}

// survey reads the file once to hash it and count its rows, then rewinds.
func (s *source) survey() error {
	h := sha256.New()
	br := bufio.NewReaderSize(s.file, 1<<20)
	c := &rowCounter{csv: s.format == input.CSV}
	if b, _ := br.Peek(len(utf8BOM)); string(b) == utf8BOM {
		c.skip = len(utf8BOM) // the readers drop it too
	}
	if c.csv {
		// Records end where the file's delimiter says: the one its
		// reader will use.
		c.split.Comma = s.opts.Delimiter
		if c.split.Comma == 0 {
			c.split.Comma = input.PeekDelimiter(br)
		}
	}
	if _, err := io.Copy(io.MultiWriter(h, c), br); err != nil {
		return err
	}
	s.sha256 = hex.EncodeToString(h.Sum(nil))
	s.rows = c.total()
	_, err := s.file.Seek(0, io.SeekStart)
	return err
}

// digest returns the input's sha256 once known: for standard input, after
// the whole of it was read.
func (s *source) digest(complete bool) string {
	if s.sha256 != "" || s.hash == nil || !complete {
		return s.sha256
	}
	return hex.EncodeToString(s.hash.Sum(nil))
}

func (s *source) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

// rowCounter counts the rows of an input as it streams past, as the
// readers number them: the records of a CSV input as encoding/csv reads
// them, less the header; the non-blank lines of an NDJSON input. It is an
// estimate for progress only: a run's total is the rows it read.
type rowCounter struct {
	csv     bool
	skip    int // bytes still to drop: the input's byte order mark
	split   input.CSVSplitter
	records int
	// NDJSON
	nonBlank bool // the line so far holds more than blanks
	lines    int
}

const utf8BOM = "\xEF\xBB\xBF"

func (c *rowCounter) Write(p []byte) (int, error) {
	n := len(p)
	k := min(c.skip, len(p))
	c.skip -= k
	p = p[k:]
	if c.csv {
		for {
			i := c.split.Split(p)
			if i < 0 {
				break
			}
			c.records++
			p = p[i:]
		}
		return n, nil
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.nonBlank = c.nonBlank || !blank(p)
			break
		}
		if c.nonBlank || !blank(p[:i]) {
			c.lines++
		}
		c.nonBlank = false
		p = p[i+1:]
	}
	return n, nil
}

func (c *rowCounter) total() int {
	if c.csv {
		n := c.records
		if c.split.End() {
			n++
		}
		return max(n-1, 0) // less the header
	}
	n := c.lines
	if c.nonBlank {
		n++
	}
	return n
}

// blank is the NDJSON reader's rule for a line that is no row.
func blank(p []byte) bool {
	return len(bytes.Trim(p, " \t\r")) == 0
}
