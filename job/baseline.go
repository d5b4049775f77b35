package job

import (
	"cmp"
	"hash/maphash"
	"slices"

	"github.com/replace-metadata/replace-metadata/clerkapi"
	"github.com/replace-metadata/replace-metadata/job/jsondiff"
)

// Baseline is what each field of each user is expected to hold just
// before a write: what a reviewed plan read (run --plan), or the last value
// the run being rolled back wrote (rollback). A row whose field holds
// anything else has drifted: someone changed the user since, and the write
// is not sent. Values are kept as jsondiff hashes, 8 bytes a field, so a
// million users fit in about 40 MB; ids as two 64-bit hashes.
//
// Build it with Expect and Missing, then Seal; after Seal it is read only
// and safe for concurrent use.
type Baseline struct {
	seed1, seed2 maphash.Seed
	entries      []baselineEntry
	sealed       bool
}

type baselineEntry struct {
	id1, id2 uint64
	hash     [clerkapi.NumFields]uint64 // 0: no expectation for the field
	missing  bool                       // the user did not exist
}

// NewBaseline returns an empty baseline.
func NewBaseline() *Baseline {
	return &Baseline{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
}

func (b *Baseline) key(id string) (uint64, uint64) {
	return maphash.String(b.seed1, id), maphash.String(b.seed2, id)
}

// Expect records that user's fields set in m are expected to hold those
// values. A later call for the same user and field replaces it.
func (b *Baseline) Expect(userID string, m clerkapi.Metadata) {
	e := baselineEntry{}
	e.id1, e.id2 = b.key(userID)
	for f, v := range m {
		e.hash[f] = jsondiff.Hash(v)
	}
	b.entries = append(b.entries, e)
}

// Missing records that user did not exist.
func (b *Baseline) Missing(userID string) {
	e := baselineEntry{missing: true}
	e.id1, e.id2 = b.key(userID)
	b.entries = append(b.entries, e)
}

// Seal sorts the entries and merges a user's, later ones winning.
func (b *Baseline) Seal() {
	slices.SortStableFunc(b.entries, func(x, y baselineEntry) int {
		return cmp.Or(cmp.Compare(x.id1, y.id1), cmp.Compare(x.id2, y.id2))
	})
	out := b.entries[:0]
	for _, e := range b.entries {
		if n := len(out); n > 0 && out[n-1].id1 == e.id1 && out[n-1].id2 == e.id2 {
			last := &out[n-1]
			for f, h := range e.hash {
				if h != 0 {
					last.hash[f] = h
				}
			}
			last.missing = last.missing && e.missing || e.missing && last.hash == [clerkapi.NumFields]uint64{}
			continue
		}
		out = append(out, e)
	}
	b.entries = slices.Clip(out)
	b.sealed = true
}

// Len returns how many users the baseline knows.
func (b *Baseline) Len() int { return len(b.entries) }

// lookup returns what is expected of user: per field the hash of the
// value expected (0: no expectation), and whether the user was missing.
func (b *Baseline) lookup(userID string) (hash [clerkapi.NumFields]uint64, missing bool) {
	id1, id2 := b.key(userID)
	i, ok := slices.BinarySearchFunc(b.entries, baselineEntry{id1: id1, id2: id2}, func(x, y baselineEntry) int {
		return cmp.Or(cmp.Compare(x.id1, y.id1), cmp.Compare(x.id2, y.id2))
	})
	if !ok {
		return hash, false
	}
	return b.entries[i].hash, b.entries[i].missing
}
