package store

import (
	"errors"
	"fmt"
	"strings"
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

// MaxListedConflicts is the number of rows that a *ConflictsError lists.
const MaxListedConflicts = maxRowErrors

// ConflictsError is an import in which more than one row conflicts with
// the stored records, such as two links whose short codes other links
// hold. Rows lists the MaxListedConflicts of them with the lowest ids, in
// id order, and Total counts all of them.
type ConflictsError struct {
	Rows  []*ImportError
	Total int
}

// Error gives the count and the id and reason of each listed row.
func (e *ConflictsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows conflict with stored records: ", e.Total)
	for i, row := range e.Rows {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(row.Error())
	}
	if more := e.Total - len(e.Rows); more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

// Unwrap returns the error of each listed row, so that errors.Is matches
// ErrConflict.
func (e *ConflictsError) Unwrap() []error {
	errs := make([]error, len(e.Rows))
	for i, row := range e.Rows {
		errs[i] = row
	}
	return errs
}

// conflicts collects the rows of an import that conflict with stored
// records, so that one response names them all.
type conflicts struct {
	rows  []*ImportError
	total int
}

func (c *conflicts) add(id uint64, err error) {
	c.total++
	if len(c.rows) < MaxListedConflicts {
		c.rows = append(c.rows, &ImportError{ID: id, Err: err})
	}
}

// err returns nil without conflicts, the *ImportError of a lone one, and
// a *ConflictsError for more.
func (c *conflicts) err() error {
	switch c.total {
	case 0:
		return nil
	case 1:
		return c.rows[0]
	}
	return &ConflictsError{Rows: c.rows, Total: c.total}
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
