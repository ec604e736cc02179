//go:build !(darwin || freebsd || linux)

package server

// diskFreeBytes reports ok false, so that the free-space gauge is left out
// on systems where the server does not call statfs.
func diskFreeBytes(path string) (free uint64, ok bool) {
	return 0, false
}
