package reports

import (
	"cmp"
	"slices"
)

// KeyCounts are the paths removed, added and changed by a run's rows.
type KeyCounts struct {
	Removed int `json:"removed_keys"`
	Added   int `json:"added_keys"`
	Changed int `json:"changed_keys"`
}

func (k *KeyCounts) add(r *Result) {
	k.Removed += r.RemovedKeys
	k.Added += r.AddedKeys
	k.Changed += r.ChangedKeys
}

func (k *KeyCounts) sub(r *Result) {
	k.Removed -= r.RemovedKeys
	k.Added -= r.AddedKeys
	k.Changed -= r.ChangedKeys
}

// PathCount is a removed path and how many users lost it.
type PathCount struct {
	Path  string `json:"path"`
	Users int    `json:"users"`
}

// maxPaths bounds the distinct paths counted: metadata with ids for keys
// would otherwise grow the count with the input. Paths first seen after
// the bound are not counted.
const maxPaths = 10000

// PathCounts counts, for each removed path, the rows that removed it.
type PathCounts struct{ n map[string]int }

func newPathCounts(prior []PathCount) *PathCounts {
	p := &PathCounts{n: map[string]int{}}
	p.addAll(prior)
	return p
}

// TopPaths is how many of the most removed paths a summary lists.
const TopPaths = 10

func (p *PathCounts) addAll(pcs []PathCount) {
	for _, pc := range pcs {
		p.n[pc.Path] += pc.Users
	}
}

func (p *PathCounts) add(r *Result) {
	for _, c := range r.Changes {
		for _, path := range c.Removed {
			if _, ok := p.n[path]; ok || len(p.n) < maxPaths {
				p.n[path]++
			}
		}
	}
}

// top returns the n paths counted most, most first (ties by path).
func (p *PathCounts) top(n int) []PathCount {
	all := make([]PathCount, 0, len(p.n))
	for path, users := range p.n {
		all = append(all, PathCount{path, users})
	}
	slices.SortFunc(all, func(a, b PathCount) int {
		return cmp.Or(cmp.Compare(b.Users, a.Users), cmp.Compare(a.Path, b.Path))
	})
	return all[:min(n, len(all))]
}
