package store

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// compactTxMaxSize bounds the bytes of keys and values that one commit of
// a compaction copies, so that its memory stays bounded on large files.
const compactTxMaxSize = 64 << 20

// CompactResult is the outcome of Compact. Sizes are in bytes.
type CompactResult struct {
	// Path is the compacted file: the original path, or the output path.
	Path string

	// Before is the size of the original file.
	Before int64

	// After is the size of the compacted file.
	After int64
}

// Compact copies the database file at path into a new file that has no
// free pages, and fsyncs it. With an empty out the copy then replaces path
// by a rename in the same directory, so that path holds either the old or
// the new file at every moment. Otherwise the copy is written to out, which
// must not exist, and path is left as it is.
//
// The original is opened read-only, so Compact returns an error wrapping
// ErrInUse while a server holds it. opts sets the lock timeout; its other
// fields are ignored.
//
// NOTE: a process that opened path before the rename and was still waiting
// for its lock gets the replaced file once Compact releases the lock.
func Compact(path, out string, opts *Options) (CompactResult, error) {
	ro := Options{ReadOnly: true}
	if opts != nil {
		ro.Timeout = opts.Timeout
	}
	// The stat comes first because its error names a missing file once,
	// where the error of Open names it twice.
	info, err := os.Stat(path)
	if err != nil {
		return CompactResult{}, err
	}
	src, err := Open(path, &ro)
	if err != nil {
		return CompactResult{}, err
	}
	// The lock on the original is held until the copy has replaced it.
	defer src.Close()

	res := CompactResult{Path: path, Before: info.Size()}
	// Compacting a damaged file would copy the damage, stop halfway, or
	// read outside the memory map.
	problems, _, err := scanPages(path)
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if len(problems) > 0 {
		return res, fmt.Errorf("compact %s: %w: %s; run linkbolt check for the full list", path, ErrCorrupt, problems[0])
	}
	if err := src.db.View(checkForeign); err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if out != "" {
		if _, err := os.Lstat(out); err == nil {
			return res, fmt.Errorf("compact to %s: %w; choose a new output path", out, fs.ErrExist)
		}
		res.Path = out
	}

	tmp, err := compactToTemp(src.db, res.Path, info.Mode().Perm())
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	tmpInfo, err := os.Stat(tmp)
	if err == nil {
		err = os.Rename(tmp, res.Path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(res.Path))
	}
	if err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	res.After = tmpInfo.Size()
	return res, nil
}

// compactToTemp copies src into a new file beside target and fsyncs it. It
// returns the path of the new file, and removes it on failure.
func compactToTemp(src *bolt.DB, target string, perm fs.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".compact-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = copyCompacted(src, tmp, perm)
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// copyCompacted writes every bucket of src into the empty file at path.
// Its commits skip fsync, because the caller fsyncs the finished file once.
func copyCompacted(src *bolt.DB, path string, perm fs.FileMode) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)

	err = src.View(func(tx *bolt.Tx) error {
		var first error
		for checkErr := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("%w: %s; run linkbolt check for the full list", ErrCorrupt, boltCheckMessage(checkErr))
			}
		}
		return first
	})
	if err != nil {
		return err
	}

	dst, err := bolt.Open(path, perm, &bolt.Options{
		Timeout:      DefaultOpenTimeout,
		NoSync:       true,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return err
	}
	defer dst.Close()
	err = bolt.Compact(dst, src, compactTxMaxSize)
	if closeErr := dst.Close(); err == nil {
		err = closeErr
	}
	return err
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// syncDir fsyncs a directory, so that a rename inside it survives a crash.
func syncDir(dir string) error {
	return syncFile(dir)
}
