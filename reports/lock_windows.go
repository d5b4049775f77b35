package reports

import (
	"math"
	"os"

	"golang.org/x/sys/windows"
)

// tryLock takes an exclusive lock on the whole of f without waiting for
// it. The lock is the handle's: it goes when f is closed or the process
// dies, and a second Open in the same process is refused as another
// process would be.
func tryLock(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
		0, math.MaxUint32, math.MaxUint32, new(windows.Overlapped))
}
