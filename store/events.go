package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clickDetails are the details of a click event. The client address is
// never stored.
type clickDetails struct {
	Referrer  string `json:"referrer"`
	UserAgent string `json:"user_agent"`
	Bot       bool   `json:"bot,omitempty"`
}

// putEvent writes ev and its index entries, replacing old if not nil.
func putEvent(tx *bolt.Tx, ev *Event, old *Event) error {
	return writeEvent(txBuckets{tx}, ev, old)
}

func writeEvent(b buckets, ev *Event, old *Event) error {
	byURL, byUser, byType := b.bucket(bucketEventURLs), b.bucket(bucketEventUsers), b.bucket(bucketEventTypes)
	if old != nil {
		if err := byURL.Delete(pairKey(itob(old.URLID), old.ID)); err != nil {
			return err
		}
		if err := byUser.Delete(pairKey(itob(old.UserID), old.ID)); err != nil {
			return err
		}
		if err := byType.Delete(pairKey([]byte(old.Type), old.ID)); err != nil {
			return err
		}
	}
	if err := byURL.Put(pairKey(itob(ev.URLID), ev.ID), nil); err != nil {
		return err
	}
	if ev.UserID != 0 {
		if err := byUser.Put(pairKey(itob(ev.UserID), ev.ID), nil); err != nil {
			return err
		}
	}
	if err := byType.Put(pairKey([]byte(ev.Type), ev.ID), nil); err != nil {
		return err
	}
	return b.bucket(bucketEvents).Put(itob(ev.ID), encodeEvent(ev))
}

// appendEvent writes a new event with a new id.
func (s *Store) appendEvent(tx *bolt.Tx, urlID, userID uint64, typ string, ts time.Time, details any) error {
	raw, err := marshalDetails(details)
	if err != nil {
		return err
	}
	ev := Event{URLID: urlID, UserID: userID, Type: typ, Timestamp: ts, Details: raw}
	return s.insertEvent(tx, &ev)
}

// insertEvent gives ev a new id and writes it.
func (s *Store) insertEvent(tx *bolt.Tx, ev *Event) error {
	id, err := s.nextID(tx.Bucket(bucketEvents))
	if err != nil {
		return err
	}
	ev.ID = id
	if err := putEvent(tx, ev, nil); err != nil {
		return err
	}
	return addCount(tx, metaEvents, 1)
}

func getEvent(tx *bolt.Tx, id uint64) (Event, error) {
	return readEvent(txBuckets{tx}, id)
}

func readEvent(b buckets, id uint64) (Event, error) {
	v := b.bucket(bucketEvents).Get(itob(id))
	if v == nil {
		return Event{}, fmt.Errorf("%w: no event with id %d", ErrNotFound, id)
	}
	return decodeEvent(id, v)
}

// CreateEvent stores a new event with a new id and returns it. The URL must
// exist, and the user too unless UserID is zero; otherwise it returns
// ErrNotFound (the user is not checked with Options.RemoteUsers). Empty
// Details become {} and a zero Timestamp becomes now. A
// click event that is not from a bot adds to the URL's click count, as a
// redirect would.
func (s *Store) CreateEvent(ev Event) (Event, error) {
	if len(ev.Details) == 0 {
		ev.Details = json.RawMessage("{}")
	}
	if ev.Timestamp.IsZero() {
		ev.Timestamp = now()
	}
	err := s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketURLs).Get(itob(ev.URLID)) == nil {
			return fmt.Errorf("%w: url_id %d names no url", ErrNotFound, ev.URLID)
		}
		if ev.UserID != 0 && !s.remoteUsers && !userExists(tx, ev.UserID) {
			return fmt.Errorf("%w: user_id %d names no user", ErrNotFound, ev.UserID)
		}
		if err := s.insertEvent(tx, &ev); err != nil {
			return err
		}
		if !countsAsClick(&ev) {
			return nil
		}
		counts, key := tx.Bucket(bucketClicks), itob(ev.URLID)
		return counts.Put(key, itob(btoi(counts.Get(key))+1))
	})
	return ev, err
}

// GetEvent returns the event with the given id, or ErrNotFound.
func (s *Store) GetEvent(id uint64) (Event, error) {
	var ev Event
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		ev, err = getEvent(tx, id)
		return err
	})
	return ev, err
}

// ListEvents returns one page of the events that match f, in id order, and
// the number of all matches.
func (s *Store) ListEvents(f EventFilter, p Page) ([]Event, uint64, error) {
	var events []Event
	var total uint64
	err := s.viewIndexed(func(tx *bolt.Tx) error {
		ids, n := listEventIDs(tx, f, p)
		total = n
		for _, id := range ids {
			ev, err := getEvent(tx, id)
			if err != nil {
				return listedRecord(err, "event", id)
			}
			events = append(events, ev)
		}
		return nil
	})
	return events, total, err
}

// listEventIDs walks the index of one filter and checks the others against
// their indexes.
func listEventIDs(tx *bolt.Tx, f EventFilter, p Page) ([]uint64, uint64) {
	pg := newPager(p)
	byURL, byUser, byType := tx.Bucket(bucketEventURLs), tx.Bucket(bucketEventUsers), tx.Bucket(bucketEventTypes)
	match := func(id uint64) bool {
		if f.URLID != nil && byURL.Get(pairKey(itob(*f.URLID), id)) == nil {
			return false
		}
		if f.UserID != nil && byUser.Get(pairKey(itob(*f.UserID), id)) == nil {
			return false
		}
		if f.Type != nil && byType.Get(pairKey([]byte(*f.Type), id)) == nil {
			return false
		}
		return true
	}
	add := func(id uint64) bool { return pg.addIf(id, match) }

	switch {
	case f.URLID != nil:
		scanPrefix(byURL, itob(*f.URLID), add)
	case f.UserID != nil:
		scanPrefix(byUser, itob(*f.UserID), add)
	case f.Type != nil:
		scanPrefix(byType, []byte(*f.Type), add)
	default:
		pg.total = btoi(tx.Bucket(bucketMeta).Get(metaEvents))
		scanPrefix(tx.Bucket(bucketEvents), nil, pg.addUntilFull)
	}
	return pg.ids, pg.total
}

// RecordClicks writes one click event per click in one commit. Their index
// entries by URL and by user, and the counts of the clicks that are not
// from bots, follow within the store's click index delay, and before any
// read that needs them. A click whose URL was deleted after the redirect
// keeps its event, like every event of a deleted URL.
func (s *Store) RecordClicks(clicks []Click) error {
	return s.queue(&write{fn: s.recordClicks(clicks), deferIndex: true})
}

// FlushClicks writes clicks like RecordClicks and, in the same commit,
// the index entries and counts of these and of every click recorded
// before, for a reader that needs them at once.
func (s *Store) FlushClicks(clicks []Click) error {
	return s.queue(&write{fn: s.recordClicks(clicks), deferIndex: true, indexAll: true})
}

// clickEntryLen is an upper bound of the bytes of a click's keys, without
// its event record.
const clickEntryLen = 8 + len(EventClick) + 8

func (s *Store) recordClicks(clicks []Click) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if len(clicks) == 0 {
			return nil
		}
		events, byType, pending := tx.Bucket(bucketEvents), tx.Bucket(bucketEventTypes), tx.Bucket(bucketClickIndex)

		// bbolt keeps keys and values until the commit, so each click's
		// bytes are cut from one buffer that is never written over. The
		// pending entry of the batch has a buffer of its own.
		buf := make([]byte, 0, len(clicks)*(clickEntryLen+clickRecordLen))
		cut := func(start int) []byte { return buf[start:len(buf):len(buf)] }
		batch := make([]byte, 0, len(clicks)*pendingClickLen)
		var first []byte
		var details []byte
		for i := range clicks {
			c := &clicks[i]
			id, err := s.nextID(events)
			if err != nil {
				return err
			}
			details = appendClickDetails(details[:0], c)

			start := len(buf)
			buf = binary.BigEndian.AppendUint64(buf, id)
			key := cut(start)
			if first == nil {
				first = key
			}
			start = len(buf)
			buf = appendClickEvent(buf, c, details)
			if err := events.Put(key, cut(start)); err != nil {
				return err
			}
			start = len(buf)
			buf = append(buf, EventClick...)
			buf = binary.BigEndian.AppendUint64(buf, id)
			if err := byType.Put(cut(start), nil); err != nil {
				return err
			}
			batch = appendPendingClick(batch, c)
		}
		// nextID gave the batch consecutive ids, so the first id and the
		// order of the clicks name every event.
		if err := pending.Put(first, batch); err != nil {
			return err
		}
		s.txPending += int64(len(clicks))
		return addCount(tx, metaEvents, int64(len(clicks)))
	}
}
