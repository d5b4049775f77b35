//go:build !unix && !windows

package reports

import "os"

// tryLock does nothing here: these systems (Plan 9, js, WASI) offer no
// advisory file lock, so nothing keeps a second process out of a run
// folder.
func tryLock(*os.File) error { return nil }
