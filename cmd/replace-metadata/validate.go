package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/replace-metadata/replace-metadata/input"
)

// validate is the validate command (and run --dry-run): it reads the whole
// input offline, prints a line per invalid row and a summary, and sends
// nothing. The verdicts are the ones run gives: the same reader, the same
// duplicate rule.
func validate(cfg config, e env) error {
	src, err := openSource(cfg, e, false)
	if err != nil {
		return err
	}
	defer src.Close()
	rows, err := src.opts.Open(src.r, src.name, src.format)
	if err != nil {
		return &usageError{err}
	}
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	defer out.Flush()
	var index input.Index
	defer index.Close()
	var total, invalid, repeats int
	for {
		row, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.Flush()
			return usagef("%v", err)
		}
		total++
		if index.Check(&row, cfg.RejectDuplicates) {
			repeats++
		}
		if row.Err == nil {
			continue
		}
		invalid++
		code := input.CodeInvalidJSON
		var re *input.RowError
		if errors.As(row.Err, &re) {
			code = re.Code
		}
		fmt.Fprintf(out, "%s:%d: row %d: invalid (%s): %s\n", src.name, row.Line, row.N, code, row.Err)
	}
	fmt.Fprintf(out, "%s: %s: %d valid, %d invalid, %d %s a user of an earlier row%s\n",
		src.name, plural(total, "row", "rows"), total-invalid, invalid, repeats, verb(repeats, "repeats", "repeat"), howRead(rows))
	if invalid > 0 {
		return &exitError{code: exitRows}
	}
	return nil
}

// howRead says how the rows were read, when it is not the default (a
// comma-separated file, users by user_id), so a spreadsheet's file shows
// whether its delimiter was told right.
func howRead(rows input.Reader) string {
	var notes []string
	switch input.Delimiter(rows) {
	case ';':
		notes = append(notes, "cells separated by ';'")
	case '\t':
		notes = append(notes, "cells separated by tabs")
	}
	if k := rows.KeyKind(); k != input.UserID && k != 0 {
		notes = append(notes, "users named by "+k.String())
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, ", ") + ")"
}
