// Package tempfile creates temporary files that the process holds locked
// while it writes them, and finds the ones that no process holds any more,
// such as those of a command that was killed with SIGKILL.
//
// The lock is a flock(2) on the open file, so it ends with the process
// that holds it, however the process ends. Create takes the lock before it
// returns the file, so a file that has content and that another process
// can lock exclusively is stale. An empty file without a lock may be one
// that Create has made and not yet locked, so it counts as stale only once
// it is older than newEmptyAge. On platforms without flock no file is ever
// found stale.
package tempfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// newEmptyAge is the age below which an empty file that no process holds
// is taken for a file that Create has just made and is about to lock.
// Create locks a file within microseconds of making it, unless its process
// is stopped in between, as with SIGSTOP.
const newEmptyAge = time.Minute

// createAttempts bounds the names that Create draws when another process
// takes each new file away between its creation and its lock.
const createAttempts = 100

// errNameTaken reports a new file that another process locked or removed
// before Create could lock it.
var errNameTaken = errors.New("the new file was locked or removed by another process")

// Create creates a new file in dir named prefix, a random decimal number
// and suffix, as os.CreateTemp does, and locks it until the file is
// closed. The lock is exclusive unless shared is set. A shared lock lets
// the process open the file read-only again, for example with bbolt, and
// still keeps the file from being found stale.
//
// A file system that rejects flock leaves the file unlocked. Stale then
// cannot lock it either, so it does not report the file.
func Create(dir, prefix, suffix string, shared bool) (*os.File, error) {
	var err error
	for range createAttempts {
		var f *os.File
		f, err = os.CreateTemp(dir, prefix+"*"+suffix)
		if err != nil {
			return nil, err
		}
		if err = lockNew(f, shared); err == nil {
			return f, nil
		}
		f.Close()
		if !errors.Is(err, errNameTaken) {
			os.Remove(f.Name())
			return nil, err
		}
	}
	return nil, err
}

// lockNew locks a file that Create has just created. RemoveStale may find
// the file between its creation and the lock, take the lock and remove
// the name. So the lock is taken without waiting, and the name must still
// lead to the file once it is held.
func lockNew(f *os.File, shared bool) error {
	locked, err := tryLock(f, shared)
	switch {
	case err != nil:
		// flock is not supported here; no other process can lock it either.
		return nil
	case !locked:
		return errNameTaken
	}
	info, err := f.Stat()
	if err != nil {
		return err
	}
	named, err := os.Lstat(f.Name())
	if err != nil || !os.SameFile(info, named) {
		return errNameTaken
	}
	return nil
}

// Stale returns the paths of the files in dir that Create made with prefix
// and suffix and that are stale, as the package comment defines it: no
// process holds them locked. It changes nothing.
func Stale(dir, prefix, suffix string) ([]string, error) {
	return eachStale(dir, prefix, suffix, func(string) bool { return true })
}

// RemoveStale removes the files that Stale returns, each while it holds
// the file's lock, so that a process cannot lock the file again before it
// is removed. It returns the paths removed.
func RemoveStale(dir, prefix, suffix string) ([]string, error) {
	return eachStale(dir, prefix, suffix, func(path string) bool { return os.Remove(path) == nil })
}

// eachStale calls fn for each stale file while it holds the file's lock,
// and returns the paths for which fn returned true.
func eachStale(dir, prefix, suffix string, fn func(path string) bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsName(e.Name(), prefix, suffix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if withStaleLock(path, func(f *os.File) bool { return isStale(f) && fn(path) }) {
			done = append(done, path)
		}
	}
	return done, nil
}

// isStale reports whether f, which the caller holds locked, is stale: it
// has content, or it is an empty file older than newEmptyAge.
func isStale(f *os.File) bool {
	info, err := f.Stat()
	if err != nil {
		return false
	}
	return info.Size() > 0 || time.Since(info.ModTime()) > newEmptyAge
}

// IsName reports whether name has the form of a file that Create makes
// with prefix and suffix: the random part is one or more decimal digits.
// A name such as prefix + "old" + suffix, which a person chose, does not.
func IsName(name, prefix, suffix string) bool {
	digits, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	digits, ok = strings.CutSuffix(digits, suffix)
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
