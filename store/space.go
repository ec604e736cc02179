package store

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultSpaceProbeInterval is how often a store whose writes fail with
// ErrNoSpace tries a probe commit. A probe writes probeBytes, so probing
// costs little even on a disk that stays full for hours.
const DefaultSpaceProbeInterval = 5 * time.Second

// probeBytes is the size of the value that a probe commit writes and then
// deletes. It needs 16 new 4 KiB pages, which a file at the end of its disk
// or at MaxSize usually cannot find among its free pages, and leaves them
// free for the writes that follow a successful probe.
const probeBytes = 64 << 10

// metaSpaceProbe is the meta key of the probe value. It exists only
// between the two commits of a probe.
var metaSpaceProbe = []byte("space_probe")

// isNoSpace reports whether a commit error means that the file could not
// grow: bbolt's MaxSize, or ENOSPC or EDQUOT from writing the pages. Such a
// commit failed before bbolt wrote its meta page and no fsync failed, so
// the open file still matches the disk and a later commit may succeed.
//
// The same errors from fsync are not a lack of space here: after a failed
// fsync the kernel may have dropped the dirty pages, so the file in memory
// can no longer be trusted.
//
// NOTE: bbolt v1.5.0 formats the error of growing the file with %s, so an
// ENOSPC from ftruncate does not match and stops writes until a restart.
// Growing a file with ftruncate allocates no blocks on Linux file systems,
// so it rarely fails for lack of space.
func isNoSpace(err error) bool {
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return true
	}
	var pathErr *fs.PathError
	if !errors.As(err, &pathErr) || pathErr.Op != "write" {
		return false
	}
	return errors.Is(pathErr.Err, syscall.ENOSPC) || errors.Is(pathErr.Err, syscall.EDQUOT)
}

// stopWrites records the commit error that stops writes and returns the
// error that writes get from then on.
func (s *Store) stopWrites(cause error) error {
	var err error
	if isNoSpace(cause) {
		err = fmt.Errorf("%w: %w: commit failed: %w", ErrUnavailable, ErrNoSpace, cause)
	} else {
		err = fmt.Errorf("%w: commit failed: %w", ErrUnavailable, cause)
	}
	s.failed.Store(&err)
	s.afterStateChange(err)
	return err
}

// probeSpace tries to write and then delete probeBytes. Writes resume when
// both commits succeed. Another lack of space keeps the store as it is, and
// any other error stops writes until a restart.
func (s *Store) probeSpace() {
	payload := make([]byte, probeBytes)
	err := s.timedUpdate(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSpaceProbe, payload)
	})
	if err == nil {
		err = s.timedUpdate(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Delete(metaSpaceProbe)
		})
	}
	switch {
	case err == nil:
		s.failed.Store(nil)
		s.afterStateChange(nil)
	case isNoSpace(err):
	default:
		s.stopWrites(err)
	}
}

// timedUpdate runs one commit of the writer's own and reports it to the
// commit hook.
func (s *Store) timedUpdate(fn func(*bolt.Tx) error) error {
	start := time.Now()
	err := s.commitTx(fn)
	s.afterCommit(time.Since(start), err)
	return err
}
