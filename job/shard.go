package job

import (
	"hash/fnv"

	"github.com/replace-metadata/replace-metadata/input"
)

// Shard names one of Count disjoint parts of the input.
type Shard struct{ Index, Count int }

// owns reports whether the row belongs to this shard. Every row of a key
// (a user id, an external id, an email address without regard to case)
// goes to the same shard, so per-user order holds across shards; two
// different keys of one user (two of its addresses) may not. Rows with no
// key go by row number.
func (s Shard) owns(row *input.Row) bool {
	if s.Count <= 1 {
		return true
	}
	key := row.Key.Canonical()
	if key == "" {
		return row.N%s.Count == s.Index
	}
	return ShardOf(key, s.Count) == s.Index
}

// ShardOf returns the shard of a user id among count: FNV-1a, the same in
// every process.
func ShardOf(userID string, count int) int {
	h := fnv.New64a()
	h.Write([]byte(userID))
	return int(h.Sum64() % uint64(count))
}
