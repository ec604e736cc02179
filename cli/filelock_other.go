//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package cli

// fileLocked reports whether a process holds a lock on the file at path.
//
// NOTE: on this platform it always reports false, so backup --force does
// not detect a live database file here.
func fileLocked(string) bool { return false }
