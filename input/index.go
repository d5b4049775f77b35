package input

import "hash/maphash"

// Index remembers the user ids seen so far, to tell a user's later rows
// from its first. It is the one thing in the pipeline that grows with the
// input, so it keeps only a 64-bit hash per user in an open-addressing
// table: 8 bytes a slot, at most 16 bytes a user between growths. Two ids
// sharing a hash (odds about 1 in 30 million at a million users) would make
// the later one count as a duplicate.
type Index struct {
	slots []uint64 // 0 marks an empty slot
	n     int
	seed  maphash.Seed
}

// Add records id and reports whether it had been added before.
func (x *Index) Add(id string) (seen bool) {
	if x.slots == nil {
		x.seed = maphash.MakeSeed()
		x.slots = make([]uint64, 1024)
	}
	h := maphash.String(x.seed, id)
	if h == 0 {
		h = 1
	}
	if x.insert(h) {
		return true
	}
	x.n++
	if x.n*4 > len(x.slots)*3 {
		x.grow()
	}
	return false
}

// Len returns the number of distinct ids added.
func (x *Index) Len() int { return x.n }

func (x *Index) insert(h uint64) (found bool) {
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch x.slots[i] {
		case h:
			return true
		case 0:
			x.slots[i] = h
			return false
		}
	}
}

func (x *Index) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	for _, h := range old {
		if h != 0 {
			x.insert(h)
		}
	}
}

// Check notes row's user and reports whether the user appeared on an
// earlier row. With reject set, such a row becomes invalid. Rows without a
// well-formed user id are not counted.
func (x *Index) Check(row *Row, reject bool) (repeat bool) {
	if CheckUserID(row.UserID) != nil {
		return false
	}
	repeat = x.Add(row.UserID)
	if repeat && reject && row.Err == nil {
		row.Err = rowErr(CodeDuplicateUser, "user_id %s already appeared on an earlier row (duplicates are rejected)", row.UserID)
	}
	return repeat
}
