package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"

	"github.com/replace-metadata/replace-metadata/clerkapi"
)

// BackupFile holds the value every field had before a run first replaced
// it: each line is an input row ({"user_id":…,"public_metadata":…}) with
// just the fields that line backs up, so the file is itself the input of
// a run that puts them back.
const BackupFile = "backup.ndjson"

// BackupLine returns the backup line of user's fields set in prior, or
// nil when none is set. Values are compacted, their bytes otherwise as
// read: escapes, key order and number spellings stay.
func BackupLine(userID string, prior clerkapi.Metadata) []byte {
	if prior.Set() == 0 {
		return nil
	}
	size := len(`{"user_id":""}`+"\n") + len(userID)
	for f, v := range prior {
		if v != nil {
			size += len(clerkapi.FieldNames[f]) + len(v) + 4
		}
	}
	b := make([]byte, 0, size)
	b = append(b, `{"user_id":`...)
	b = appendJSONString(b, userID)
	for f, v := range prior {
		if v == nil {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, clerkapi.FieldNames[f]...)
		b = append(b, '"', ':')
		b = appendCompact(b, v)
	}
	return append(b, '}', '\n')
}

// appendJSONString appends s as json.Marshal writes a string: as it is
// between quotes when it is plain ASCII with nothing json escapes (every
// valid user id), else through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendCompact appends the JSON value v as json.Compact writes it, and v
// as read when it is not JSON (a resume will say so). Without whitespace
// outside its strings, a value is already compact: it goes in as it is.
func appendCompact(b []byte, v []byte) []byte {
	inString := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			var buf bytes.Buffer
			if json.Compact(&buf, v) == nil {
				return append(b, buf.Bytes()...)
			}
			return append(b, v...)
		}
	}
	return append(b, v...)
}

// backedUp is the set of fields a run has backed up, by user: two 64-bit
// hashes of the id (odds of two ids sharing both are about 2^-100 for a
// run of a million users) and three bits for the fields, 16 bytes a slot.
// A run that changes every user holds every user here, so it is kept as
// input.Index keeps the users seen: 256 open-addressing tables picked by
// the first hash's top byte, each doubled on its own at three quarters
// full (a growth copies 1/256 of the set), mapped outside the Go heap on
// Unix, so the collector's headroom does not double it. A million users
// take 32 MB; on the heap, in one table, they peaked at three times that
// (old and new table while it grew, and the collector's goal twice the
// live heap).
type backedUp struct {
	seed1, seed2 maphash.Seed
	shards       [backupShards]backupShard
	n            int
}

const (
	backupShards    = 256
	backupShardBits = 8
	// backupFirst slots is one page: 4 KiB.
	backupFirst = 256
)

type backupShard struct {
	slots []backupSlot
	n     int
}

type backupSlot struct{ h1, h2 uint64 } // h2's low 3 bits: the fields; h1 0: empty

func newBackedUp() *backedUp {
	return &backedUp{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
}

func (s *backedUp) hash(id string) (uint64, uint64) {
	h1 := maphash.String(s.seed1, id) | 1 // never 0
	return h1, maphash.String(s.seed2, id) &^ 7
}

func (s *backedUp) shard(h1 uint64) *backupShard {
	return &s.shards[h1>>(64-backupShardBits)]
}

// slot returns the slot of (h1, h2), empty if it is not in the table.
func (sh *backupShard) slot(h1, h2 uint64) *backupSlot {
	mask := uint64(len(sh.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		sl := &sh.slots[i]
		if sl.h1 == 0 || sl.h1 == h1 && sl.h2&^7 == h2 {
			return sl
		}
	}
}

// fields returns which of id's fields are backed up.
func (s *backedUp) fields(id string) (set [clerkapi.NumFields]bool) {
	h1, h2 := s.hash(id)
	sh := s.shard(h1)
	if sh.slots == nil {
		return set
	}
	sl := sh.slot(h1, h2)
	for f := range set {
		set[f] = sl.h1 != 0 && sl.h2&(1<<f) != 0
	}
	return set
}

// add marks id's fields as backed up.
func (s *backedUp) add(id string, fields [clerkapi.NumFields]bool) {
	h1, h2 := s.hash(id)
	sh := s.shard(h1)
	if sh.slots == nil {
		sh.slots = allocBackupSlots(backupFirst)
	}
	sl := sh.slot(h1, h2)
	if sl.h1 == 0 {
		if (sh.n+1)*4 > len(sh.slots)*3 {
			sh.grow()
			sl = sh.slot(h1, h2)
		}
		sl.h1, sl.h2 = h1, h2
		sh.n++
		s.n++
	}
	for f, set := range fields {
		if set {
			sl.h2 |= 1 << f
		}
	}
}

func (sh *backupShard) grow() {
	old := sh.slots
	sh.slots = allocBackupSlots(2 * len(old))
	for _, sl := range old {
		if sl.h1 != 0 {
			*sh.slot(sl.h1, sl.h2&^7) = sl
		}
	}
	freeBackupSlots(old)
}

// free returns the tables' memory; the set is empty after, n kept.
func (s *backedUp) free() {
	for i := range s.shards {
		freeBackupSlots(s.shards[i].slots)
		s.shards[i] = backupShard{}
	}
}

// loadBackup reads an earlier session's backup file into set, so no field
// in it is backed up again: after a crash, a read returns the run's own
// write, and the backup must keep the value from before the run. A torn
// last line (a crash mid-write) is cut off: its write was never sent.
func loadBackup(path string, set *backedUp) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open backup: %w", err)
	}
	defer f.Close()
	if err := cutTornLine(f); err != nil {
		return fmt.Errorf("repair %s: %w", path, err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		var row map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return fmt.Errorf("%s:%d: %w (move the run folder aside to start over)", path, line, err)
		}
		var id string
		if err := json.Unmarshal(row["user_id"], &id); err != nil || id == "" {
			return fmt.Errorf("%s:%d: no user_id", path, line)
		}
		var fields [clerkapi.NumFields]bool
		for f, name := range clerkapi.FieldNames {
			_, fields[f] = row[name]
		}
		set.add(id, fields)
	}
	return sc.Err()
}
