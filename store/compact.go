package store

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"

	"github.com/linkbolt/linkbolt/internal/tempfile"
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

	// RemovedTemps are the temporary files of earlier compactions into
	// Path that no process held any more, which Compact removed.
	RemovedTemps []string
}

// Compact copies the database file at path into a new file that has no
// free pages, and fsyncs it. With an empty out the copy then replaces path
// by a rename in the same directory, so that path holds either the old or
// the new file at every moment. Otherwise the copy is written to out, which
// must not exist, and path is left as it is.
//
// The copy is written to a temporary file beside its target, named
// .NAME.compact-DIGITS, which the process holds locked until the rename.
// Such files of earlier compactions into the same target that no process
// holds, as a compaction killed with SIGKILL leaves them, are removed
// first and listed in the result.
//
// When ctx ends, Compact stops copying, removes its temporary file and
// returns an error wrapping context.Cause(ctx); path is then unchanged.
//
// The original is opened read-only, so Compact returns an error wrapping
// ErrInUse while a server holds it. opts sets the lock timeout; its other
// fields are ignored.
//
// NOTE: a process that opened path before the rename and was still waiting
// for its lock gets the replaced file once Compact releases the lock.
func Compact(ctx context.Context, path, out string, opts *Options) (CompactResult, error) {
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
	if err := checkCompactSource(path, src.db); err != nil {
		return res, err
	}
	if out != "" {
		if _, err := os.Lstat(out); err == nil {
			return res, fmt.Errorf("compact to %s: %w; choose a new output path", out, fs.ErrExist)
		}
		res.Path = out
	}
	if err := checkBolt(src.db); err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := context.Cause(ctx); err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}

	res.RemovedTemps, _ = RemoveStaleCompactTemps(res.Path)
	res.After, err = compactInto(ctx, src.db, res.Path, info.Mode().Perm())
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	return res, nil
}

// checkCompactSource returns an error wrapping ErrCorrupt or ErrForeign
// when the pages of path are damaged or src, opened from path, is no
// linkbolt file. Compacting a damaged file would copy the damage, stop
// halfway, or read outside the memory map.
func checkCompactSource(path string, src *bolt.DB) error {
	problems, _, err := scanPages(path)
	if err != nil {
		return fmt.Errorf("compact %s: %w", path, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("compact %s: %w: %s; run linkbolt check for the full list", path, ErrCorrupt, problems[0])
	}
	if err := src.View(checkForeign); err != nil {
		return fmt.Errorf("compact %s: %w", path, err)
	}
	return nil
}

// checkBolt runs bbolt's consistency check on db and returns the first
// problem as an error wrapping ErrCorrupt.
func checkBolt(db *bolt.DB) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)

	return db.View(func(tx *bolt.Tx) error {
		var first error
		for checkErr := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("%w: %s; run linkbolt check for the full list", ErrCorrupt, boltCheckMessage(checkErr))
			}
		}
		return first
	})
}

// compactTempPrefix returns the start of the names of the temporary files
// of compactions into target, before their random digits.
func compactTempPrefix(target string) string {
	return "." + filepath.Base(target) + ".compact-"
}

// StaleCompactTemps returns the temporary files of compactions into
// target that no process holds: those of compactions that were killed
// before they could remove them. It changes nothing.
func StaleCompactTemps(target string) ([]string, error) {
	return tempfile.Stale(filepath.Dir(target), compactTempPrefix(target), "")
}

// RemoveStaleCompactTemps removes the files that StaleCompactTemps
// returns and returns their paths.
func RemoveStaleCompactTemps(target string) ([]string, error) {
	return tempfile.RemoveStale(filepath.Dir(target), compactTempPrefix(target), "")
}

// compactInto copies src into a new temporary file beside target, fsyncs
// it, renames it to target and returns its size. The file stays locked
// until it has its new name, so that no other compaction takes it for
// stale. On failure the temporary file is removed and target is left as
// it was.
func compactInto(ctx context.Context, src *bolt.DB, target string, perm fs.FileMode) (size int64, err error) {
	f, err := tempfile.Create(filepath.Dir(target), compactTempPrefix(target), "", false)
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return 0, err
	}

	// bbolt takes the open file, so that its lock is the one that
	// tempfile.Create took, and closes it. Its commits skip fsync, because
	// the finished file is synced once.
	dst, err := bolt.Open(tmp, perm, &bolt.Options{
		Timeout:      DefaultOpenTimeout,
		NoSync:       true,
		FreelistType: bolt.FreelistMapType,
		OpenFile:     func(string, int, os.FileMode) (*os.File, error) { return f, nil },
	})
	if err != nil {
		return 0, err
	}
	defer func() {
		if closeErr := dst.Close(); err == nil {
			err = closeErr
		}
	}()

	if err := copyBuckets(ctx, dst, src); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	// The rename comes before the close, so that the temporary name never
	// leads to an unlocked file that is still needed.
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, target); err != nil {
		return 0, err
	}
	renamed = true
	return info.Size(), syncDir(filepath.Dir(target))
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
