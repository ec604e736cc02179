//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package tempfile

import (
	"errors"
	"os"
)

// errNoFlock reports a platform without flock.
var errNoFlock = errors.New("flock is not available on this platform")

// tryLock reports that no lock can be taken on this platform.
func tryLock(*os.File, bool) (bool, error) { return false, errNoFlock }

// withStaleLock never calls fn: without flock, no file can be shown to be
// free of other processes.
//
// NOTE: so on this platform temporary files of killed commands stay until
// someone removes them.
func withStaleLock(string, func(*os.File) bool) bool { return false }
