package input

import "bytes"

// CSVSplitter finds where CSV records end in a stream of bytes, exactly
// where encoding/csv's Reader (as CSVReader sets it up, with Comma the
// same) ends them: at the line break that ends a record's last line, or at the
// end of the input. A quoted field may hold line breaks and doubled
// quotes; CRLF is a line break; an empty line ("\n" or "\r\n") between
// records is skipped and is no record, while a line of spaces is one. A
// record encoding/csv rejects (a bare quote, a quote that does not close
// its field) ends, as encoding/csv resumes, at the end of the line it
// went wrong on; a quote left open runs to the end of the input.
//
// It keeps one byte of state and allocates nothing, so it can count
// the records of a large file as it streams past. It knows nothing of a
// byte order mark: drop one first, as CSVReader does.
//
// The zero value is ready to use, at the start of an input whose cells
// are separated by commas.
type CSVSplitter struct {
	// Comma is the cell delimiter, one of those Options take (',', ';',
	// tab); 0 is ','. A quote opens a quoted field only at the start of a
	// record or after a delimiter, so records end elsewhere when it is
	// wrong: take it from the file (PeekDelimiter), as its reader did.
	Comma rune

	state csvState
}

// csvState is where a CSVSplitter is in the grammar, after the bytes it
// has seen.
type csvState uint8

const (
	csvLineStart   csvState = iota // between records: a line break here is an empty line
	csvLineStartCR                 // a CR at csvLineStart: an empty line if LF or the end follows
	csvField                       // at the start of a field after a delimiter
	csvUnquoted                    // in an unquoted field
	csvQuoted                      // in a quoted field
	csvQuote                       // at a quote in a quoted field: it closes the field or doubles
	csvQuoteCR                     // a CR after a closing quote: fine if LF or the end follows
	csvBad                         // after a syntax error: the record ends with the line
)

// Split scans p, the bytes of the input that follow those scanned before,
// and returns the length of p's prefix up to and including the line break
// that ends the first record to end in p, or -1 if no record ends in p (all
// of p was scanned). The bytes after a record's end were not scanned: pass
// them to the next call. A record's bytes run from the end of the one
// before it, empty lines between them included.
func (s *CSVSplitter) Split(p []byte) int {
	comma := byte(',')
	if s.Comma != 0 {
		comma = byte(s.Comma)
	}
	st := s.state
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch st {
		case csvQuoted:
			// Most of a JSON cell: jump to its next quote.
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				s.state = st
				return -1
			}
			i += j
			st = csvQuote
			continue
		case csvBad:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				s.state = st
				return -1
			}
			s.state = csvLineStart
			return i + j + 1
		case csvLineStart:
			switch c {
			case '\n':
				continue // an empty line
			case '\r':
				st = csvLineStartCR
				continue
			}
			st = csvField // c starts the record's first field
		case csvLineStartCR:
			if c == '\n' {
				st = csvLineStart // an empty line, CRLF
				continue
			}
			st = csvUnquoted // the record's first field starts with that CR
		case csvQuoteCR:
			if c == '\n' {
				s.state = csvLineStart
				return i + 1
			}
			st = csvBad // a stray CR after the closing quote
			continue
		}
		// st is csvField, csvUnquoted or csvQuote, and c is next.
		switch {
		case c == '\n':
			s.state = csvLineStart
			return i + 1
		case c == comma:
			st = csvField
		case c == '"' && st == csvUnquoted:
			st = csvBad // a bare quote
		case c == '"':
			st = csvQuoted // opens the field, or a doubled quote
		case st == csvQuote && c == '\r':
			st = csvQuoteCR
		case st == csvQuote:
			st = csvBad // the closing quote does not end the field
		default:
			st = csvUnquoted
		}
	}
	s.state = st
	return -1
}

// End reports whether the end of the input, right after the bytes
// scanned, ends one more record: one whose last line has no line break.
func (s *CSVSplitter) End() bool {
	return s.state != csvLineStart && s.state != csvLineStartCR
}
