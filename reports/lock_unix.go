//go:build unix

package reports

import (
	"os"
	"syscall"
)

// tryLock takes an exclusive lock on f without waiting for it. The lock
// is the open file's: it goes when f is closed or the process dies, and a
// second Open in the same process is refused as another process would be.
func tryLock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
