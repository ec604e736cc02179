package store

import (
	"encoding/json"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// ImportUsers upserts users by id in one transaction, keeping their ids and
// created_at: all are written or none. Like ImportURLs, it applies the
// writes in key order at the end. Usernames and emails may repeat, as
// they do in exported seed files; later creates still get ErrConflict on
// them. New users get ids above the highest imported id in the store's
// range.
func (s *Store) ImportUsers(users []User) error {
	return s.update(s.importUsers(users))
}

// CheckImportUsers returns the error that ImportUsers would return for
// users, and writes nothing.
func (s *Store) CheckImportUsers(users []User) error {
	return s.dryRun(s.importUsers(users))
}

func (s *Store) importUsers(users []User) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketUsers)
		sorted := newSortedTx(tx)
		for i := range users {
			u := &users[i]
			old, err := readUser(sorted, u.ID)
			switch {
			case err == nil:
				err = writeUser(sorted, u, &old)
			case isNotFound(err):
				err = writeUser(sorted, u, nil)
				if err == nil {
					err = addCount(tx, metaUsers, 1)
				}
			}
			if err != nil {
				return &ImportError{ID: u.ID, Err: err}
			}
			if err := s.useID(bucket, u.ID); err != nil {
				return &ImportError{ID: u.ID, Err: err}
			}
		}
		return sorted.apply()
	}
}

// ImportURLs upserts URLs by id in one transaction: all are written or
// none. The writes are applied in key order at the end, because bbolt
// inserts in random order are slow in a transaction this large. A short code held by another URL, or by another deleted one, gives
// an *ImportError wrapping ErrConflict. The user ids are kept as they are,
// even when they name no user yet, because seed files are loaded in any
// order.
func (s *Store) ImportURLs(urls []URL) error {
	return s.update(s.importURLs(urls))
}

// CheckImportURLs returns the error that ImportURLs would return for urls,
// such as a short code held by another URL, and writes nothing.
func (s *Store) CheckImportURLs(urls []URL) error {
	return s.dryRun(s.importURLs(urls))
}

func (s *Store) importURLs(urls []URL) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketURLs)
		sorted := newSortedTx(tx)
		// A row whose code another link holds is skipped and listed, so
		// that the error names every such row; the transaction then
		// writes nothing.
		var found conflicts
		for i := range urls {
			err := importURL(tx, sorted, &urls[i])
			if errors.Is(err, ErrConflict) {
				found.add(urls[i].ID, err)
				continue
			}
			if err != nil {
				return &ImportError{ID: urls[i].ID, Err: err}
			}
			if err := s.useID(bucket, urls[i].ID); err != nil {
				return &ImportError{ID: urls[i].ID, Err: err}
			}
		}
		if err := found.err(); err != nil {
			return err
		}
		return sorted.apply()
	}
}

// importURL upserts u through b, the buffered buckets of tx.
func importURL(tx *bolt.Tx, b buckets, u *URL) error {
	code := []byte(u.ShortCode)
	if err := codeConflict(b, code, u.ID); err != nil {
		return err
	}
	tombstones := b.bucket(bucketTombstones)
	if tombstones.Get(code) != nil {
		// The same URL comes back under its old id and code.
		if err := tombstones.Delete(code); err != nil {
			return err
		}
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}

	old, err := readURL(b, u.ID)
	if isNotFound(err) {
		if err := writeURL(b, u, nil); err != nil {
			return err
		}
		if err := countImportedClicks(tx, b, u.ID); err != nil {
			return err
		}
		return addCount(tx, metaURLs, 1)
	}
	if err != nil {
		return err
	}
	return writeURL(b, u, &old)
}

// countImportedClicks sets the click count of a URL that an import adds
// from the click events already stored for its id, such as those of an
// events file imported before the URLs, or of a URL deleted and imported
// again.
func countImportedClicks(tx *bolt.Tx, b buckets, id uint64) error {
	var n uint64
	events := tx.Bucket(bucketEvents)
	scanPrefix(tx.Bucket(bucketEventURLs), itob(id), func(evID uint64) bool {
		v := events.Get(itob(evID))
		if v == nil {
			return true
		}
		if ev, err := decodeEvent(evID, v); err == nil && countsAsClick(&ev) {
			n++
		}
		return true
	})
	if n == 0 {
		return nil
	}
	return b.bucket(bucketClicks).Put(itob(id), itob(n))
}

// addClickCount adds delta to the click count of ev's URL when ev is a
// click that counts and the URL exists. A count never falls below zero.
func addClickCount(b buckets, ev *Event, delta int64) error {
	key := itob(ev.URLID)
	if !countsAsClick(ev) || b.bucket(bucketURLs).Get(key) == nil {
		return nil
	}
	counts := b.bucket(bucketClicks)
	n := max(int64(btoi(counts.Get(key)))+delta, 0)
	return counts.Put(key, itob(uint64(n)))
}

// reserveDeletedCode keeps the code of a deleted URL reserved after an
// export and import: an exported file has no row for a deleted URL, but
// its created event names the code. A code that is taken stays as it is.
func reserveDeletedCode(b buckets, ev *Event) error {
	if ev.Type != EventCreated || b.bucket(bucketURLs).Get(itob(ev.URLID)) != nil {
		return nil
	}
	var d createdDetails
	if json.Unmarshal(ev.Details, &d) != nil || !ValidCode(d.ShortCode) {
		return nil
	}
	code := []byte(d.ShortCode)
	tombstones := b.bucket(bucketTombstones)
	if b.bucket(bucketURLCodes).Get(code) != nil || tombstones.Get(code) != nil {
		return nil
	}
	return tombstones.Put(code, itob(ev.URLID))
}

// ImportEvents upserts events by id in one transaction: all are written or
// none, in key order at the end as in ImportURLs. The URL and user ids are
// kept as they are, even when they name no record, as in the seed files.
// The click counts follow the click events that are not from bots: a
// replaced event's click leaves its URL's count and the new one's is
// added. The created event of a URL that does not exist reserves that
// URL's code.
func (s *Store) ImportEvents(events []Event) error {
	return s.update(s.importEvents(events))
}

// CheckImportEvents returns the error that ImportEvents would return for
// events, and writes nothing.
func (s *Store) CheckImportEvents(events []Event) error {
	return s.dryRun(s.importEvents(events))
}

func (s *Store) importEvents(events []Event) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketEvents)
		sorted := newSortedTx(tx)
		for i := range events {
			ev := &events[i]
			if len(ev.Details) == 0 {
				ev.Details = json.RawMessage("{}")
			}
			old, err := readEvent(sorted, ev.ID)
			switch {
			case err == nil:
				err = writeEvent(sorted, ev, &old)
				if err == nil {
					err = addClickCount(sorted, &old, -1)
				}
				if err == nil {
					err = addClickCount(sorted, ev, 1)
				}
			case isNotFound(err):
				err = writeEvent(sorted, ev, nil)
				if err == nil {
					err = addCount(tx, metaEvents, 1)
				}
				if err == nil {
					err = addClickCount(sorted, ev, 1)
				}
			}
			if err == nil {
				err = reserveDeletedCode(sorted, ev)
			}
			if err != nil {
				return &ImportError{ID: ev.ID, Err: err}
			}
			if err := s.useID(bucket, ev.ID); err != nil {
				return &ImportError{ID: ev.ID, Err: err}
			}
		}
		return sorted.apply()
	}
}
