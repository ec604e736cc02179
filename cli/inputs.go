package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/linkbolt/linkbolt/store"
)

// checkInputFile returns a usage error unless path, the value of the flag
// named flag, is a regular file that the process can open for reading. The
// error for another type of file ends with rule, such as "import reads
// only regular files". The type is checked before the file is opened,
// because opening a named pipe waits for a writer.
func checkInputFile(flag, path, rule string) error {
	return checkPath(flag, path, rule, os.O_RDONLY)
}

// checkDatabasePath returns a usage error when path, the value of the flag
// named flag, cannot be a database file that the command opens for
// writing or creates. An existing file must be a regular file that can be
// opened for reading and writing. A missing one needs its directory.
func checkDatabasePath(flag, path, rule string) error {
	_, err := os.Stat(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return checkPath(flag, path, rule, os.O_RDWR)
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err != nil {
		return usageError{fmt.Errorf("%s %s: directory %s: %w", flag, path, dir, pathCause(err))}
	}
	return nil
}

// checkPath returns a usage error unless path is a regular file that can
// be opened with flags.
func checkPath(flag, path, rule string, flags int) error {
	info, err := os.Stat(path)
	if err != nil {
		return usageError{fmt.Errorf("%s %s: %w", flag, path, pathCause(err))}
	}
	if !info.Mode().IsRegular() {
		return usageError{fmt.Errorf("%s %s is %s: %s", flag, path, store.DescribeFileType(info.Mode()), rule)}
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return usageError{fmt.Errorf("%s %s: %w", flag, path, pathCause(err))}
	}
	return f.Close()
}

// pathCause returns the cause of a failed stat or open, such as "no such
// file or directory", without the operation and path, which the message
// names already.
func pathCause(err error) error {
	if pathErr, ok := errors.AsType[*fs.PathError](err); ok {
		return pathErr.Err
	}
	return err
}
