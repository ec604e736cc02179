//go:build !unix

package cli

// openFileLimit returns "unknown" where the system has no open-file limit
// that this process can read.
func openFileLimit() string {
	return "unknown"
}
