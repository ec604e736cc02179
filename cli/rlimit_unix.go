//go:build unix

package cli

import (
	"strconv"
	"syscall"
)

// openFileLimit returns the soft limit of open files of this process, as
// text.
func openFileLimit() string {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "unknown"
	}
	return strconv.FormatUint(lim.Cur, 10)
}
