package store

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the store, wrapped with context. Check them
// with errors.Is. The wrapped messages name the value at fault and are safe
// to show to clients.
var (
	// ErrNotFound is returned when a user, URL or event does not exist.
	ErrNotFound = errors.New("not found")

	// ErrConflict is returned when a write would break a uniqueness rule:
	// a username, an email or a short code that is already taken.
	ErrConflict = errors.New("conflict")

	// ErrInUse is returned by Open when another process holds the file.
	ErrInUse = errors.New("database is in use by another process")

	// ErrUnavailable is returned by writes after the store was closed or a
	// commit failed. A store in that state recovers by itself only when the
	// error also wraps ErrNoSpace; otherwise the process must reopen the
	// file.
	ErrUnavailable = errors.New("store is unavailable")

	// ErrNoSpace is returned, wrapped together with ErrUnavailable, by
	// writes while the disk is full or the file has reached
	// Options.MaxSize. The store then probes for space every
	// Options.SpaceProbeInterval and accepts writes again after a probe
	// commit succeeds.
	ErrNoSpace = errors.New("no space left for the database file")

	// ErrIDsExhausted is returned when the id range of the store is used up.
	ErrIDsExhausted = errors.New("id range exhausted")

	// ErrCorrupt is returned when a record cannot be decoded.
	ErrCorrupt = errors.New("corrupt data")

	// ErrForeign is returned when a file is a bbolt database that another
	// program wrote, which linkbolt does not open for writing.
	ErrForeign = errors.New("not a linkbolt database")
)

// ImportError reports the record of a bulk import that could not be
// written. Nothing of that import was written.
type ImportError struct {
	ID  uint64
	Err error
}

// Error returns the id of the record and the reason.
func (e *ImportError) Error() string {
	return fmt.Sprintf("row with id %d: %v", e.ID, e.Err)
}

// Unwrap returns the reason, so that errors.Is matches ErrConflict.
func (e *ImportError) Unwrap() error {
	return e.Err
}

func isNotFound(err error) bool {
	return errors.Is(err, ErrNotFound)
}

// listedRecord words the error of reading a record whose id an index or
// a list walk gave. A missing record there is damage to the file, not a
// wrong id from the client.
func listedRecord(err error, noun string, id uint64) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: the index lists %s %d, which has no record; run linkbolt check", ErrCorrupt, noun, id)
	}
	return err
}
