package input

import (
	"errors"
	"hash/maphash"
)

// Index remembers the users seen so far, by key (see Key.Canonical), to
// tell a user's later rows from its first. It is the one thing in the pipeline that grows with the
// input, so it is kept small and out of the garbage collector's way:
//
//   - a user is a 64-bit hash of its key, not the key: 8 bytes a slot. Two
//     keys sharing a hash (odds about 1 in 30 million at a million users)
//     would make the later one count as a duplicate;
//   - the slots are split into 256 open-addressing tables by the hash's top
//     byte, each grown (doubled) on its own at three quarters full, so a
//     growth copies 1/256 of the index, not all of it;
//   - on Unix the tables are mapped memory outside the Go heap, so the
//     collector's headroom (a heap may reach twice what is live) does not
//     double them.
//
// A user then costs 11 to 21 bytes, 16 on average, including the tables'
// empty slots.
type Index struct {
	shards [indexShards]indexShard
	n      int
	seed   maphash.Seed
	init   bool
}

const (
	indexShards    = 256
	indexShardBits = 8
	// indexFirst slots is one page: 4 KiB.
	indexFirst = 512
)

type indexShard struct {
	slots []uint64 // 0 marks an empty slot
	n     int
}

// Add records id and reports whether it had been added before.
func (x *Index) Add(id string) (seen bool) {
	if !x.init {
		x.seed = maphash.MakeSeed()
		x.init = true
	}
	h := maphash.String(x.seed, id)
	if h == 0 {
		h = 1
	}
	s := &x.shards[h>>(64-indexShardBits)]
	if s.slots == nil {
		s.slots = allocSlots(indexFirst)
	}
	if s.insert(h) {
		return true
	}
	s.n++
	x.n++
	if s.n*4 > len(s.slots)*3 {
		s.grow()
	}
	return false
}

// Len returns the number of distinct ids added.
func (x *Index) Len() int { return x.n }

// Close returns the index's memory. The Index must not be used after.
func (x *Index) Close() {
	for i := range x.shards {
		freeSlots(x.shards[i].slots)
		x.shards[i] = indexShard{}
	}
}

func (s *indexShard) insert(h uint64) (found bool) {
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			s.slots[i] = h
			return false
		}
	}
}

func (s *indexShard) grow() {
	old := s.slots
	s.slots = allocSlots(2 * len(old))
	for _, h := range old {
		if h != 0 {
			s.insert(h)
		}
	}
	freeSlots(old)
}

// Check notes row's user and reports whether the user appeared on an
// earlier row: one with the same key, an email address compared without
// regard to case. With reject set, such a row becomes invalid. Rows
// without a well-formed key are not counted.
//
// A file names its users by one kind of key, so keys of different kinds
// never meet here; a user named by two of its email addresses is two
// users until the addresses are resolved.
func (x *Index) Check(row *Row, reject bool) (repeat bool) {
	if row.Key.Check() != nil || isCode(row.Err, CodeMixedKeys) {
		return false // no user, or not one of the file's kind
	}
	repeat = x.Add(row.Key.Canonical())
	if repeat && reject && row.Err == nil {
		v, note := row.Key.Value, ""
		switch row.Key.Kind {
		case ExternalID:
			v = quote(v) // a user id is letters and digits; the others may hold anything
		case Email:
			v, note = quote(v), "; addresses are compared without regard to case"
		}
		row.Err = rowErr(CodeDuplicateUser, "%s %s already appeared on an earlier row (duplicates are rejected%s)", row.Key.Kind, v, note)
	}
	return repeat
}

// isCode reports whether err is a *RowError with the given code.
func isCode(err error, code string) bool {
	var re *RowError
	return errors.As(err, &re) && re.Code == code
}
