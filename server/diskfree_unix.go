//go:build darwin || freebsd || linux

package server

import (
	"path/filepath"
	"syscall"
)

// diskFreeBytes returns the bytes available to unprivileged users on the
// file system that holds the file at path. ok is false when statfs fails.
func diskFreeBytes(path string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, false
	}

	// The field types differ between systems, and FreeBSD reports a
	// negative count once the reserved blocks are in use.
	avail := int64(st.Bavail)
	if avail < 0 {
		return 0, true
	}
	return uint64(avail) * uint64(st.Bsize), true
}
