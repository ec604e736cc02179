//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package tempfile

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes a flock on f without waiting. It returns false when
// another open file holds a conflicting lock, and an error when the file
// system does not support flock.
func tryLock(f *os.File, shared bool) (bool, error) {
	mode := syscall.LOCK_EX
	if shared {
		mode = syscall.LOCK_SH
	}
	err := syscall.Flock(int(f.Fd()), mode|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// withStaleLock calls fn with the file at path while it holds an
// exclusive lock on it, and returns fn's result. It returns false without
// calling fn when another process holds a lock on the file or the file
// cannot be locked.
func withStaleLock(path string, fn func(*os.File) bool) bool {
	// O_NONBLOCK keeps the open from waiting, should the name have been
	// replaced by a named pipe since the directory was read.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if locked, err := tryLock(f, false); !locked || err != nil {
		return false
	}
	return fn(f)
}
