package job

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/replace-metadata/replace-metadata/reports"
)

// guard is --max-removed-keys: the run stops before sending the write that
// would take its total of removed paths over the limit. A write reserves
// its removed paths before it is sent and gives them back if it was not
// applied, so concurrent writes can never go over together.
type guard struct {
	limit int64 // < 0: none
	used  atomic.Int64
}

func newGuard(on bool, limit, before int) *guard {
	g := &guard{limit: -1}
	if on {
		g.limit = int64(max(limit, 0))
	}
	g.used.Store(int64(before))
	return g
}

// take reserves n removed paths, or reports false when that would go over.
func (g *guard) take(n int) bool {
	if g.limit < 0 || n == 0 {
		g.used.Add(int64(n))
		return true
	}
	for {
		cur := g.used.Load()
		if cur+int64(n) > g.limit {
			return false
		}
		if g.used.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

// give returns n paths a write reserved and did not remove.
func (g *guard) give(n int) { g.used.Add(-int64(n)) }

// topRemover is a Recorder that can tell the paths removed most.
type topRemover interface {
	TopRemoved(n int) []reports.PathCount
}

func (g *guard) stopError(rec Recorder) *StopError {
	msg := fmt.Sprintf("--max-removed-keys: the next write would take the paths removed over %d (%d so far); nothing more is written", g.limit, g.used.Load())
	if tr, ok := rec.(topRemover); ok {
		if top := tr.TopRemoved(5); len(top) > 0 {
			var b strings.Builder
			for i, pc := range top {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s (%d)", pc.Path, pc.Users)
			}
			msg += "; removed most: " + b.String()
		}
	}
	return &StopError{Reason: msg + "; check the plan, then resume with a higher --max-removed-keys (or none)"}
}
