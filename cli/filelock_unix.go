//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package cli

import (
	"errors"
	"os"
	"syscall"
)

// fileLocked reports whether a process holds a flock on the file at path,
// as bbolt does on a database file it has open: exclusively for writing,
// shared for reading. A file that cannot be opened or locked for another
// reason counts as not locked.
func fileLocked(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()

	// An exclusive lock conflicts with a lock of either kind. Closing the
	// file releases it at once.
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}
