package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// This file holds what a cluster needs from the store of one shard: id
// sequences shared across shards, user checks by name, and the transfer of
// links with their events and click counts from one shard to another.

// Sequences are the highest ids in use, per kind of record, inside the
// store's id range.
type Sequences struct {
	Users  uint64 `json:"users"`
	URLs   uint64 `json:"urls"`
	Events uint64 `json:"events"`
}

// Sequences returns the id sequences of the store.
func (s *Store) Sequences() (Sequences, error) {
	var seq Sequences
	err := s.view(func(tx *bolt.Tx) error {
		seq.Users = tx.Bucket(bucketUsers).Sequence()
		seq.URLs = tx.Bucket(bucketURLs).Sequence()
		seq.Events = tx.Bucket(bucketEvents).Sequence()
		return nil
	})
	return seq, err
}

// ReserveIDs marks the ids up to seq as used, for each kind of record whose
// value lies inside the store's range, so that new ids are drawn above
// them. Values outside the range change nothing, as with imported ids.
func (s *Store) ReserveIDs(seq Sequences) error {
	return s.update(func(tx *bolt.Tx) error {
		pairs := []struct {
			bucket []byte
			id     uint64
		}{{bucketUsers, seq.Users}, {bucketURLs, seq.URLs}, {bucketEvents, seq.Events}}
		for _, p := range pairs {
			if p.id == 0 || p.id > MaxImportID {
				continue
			}
			if err := s.useID(tx.Bucket(p.bucket), p.id); err != nil {
				return err
			}
		}
		return nil
	})
}

// CheckUserUnique returns ErrConflict when a user other than except has the
// username or the email, without regard to case. Empty values are not
// checked.
func (s *Store) CheckUserUnique(username, email string, except uint64) error {
	return s.view(func(tx *bolt.Tx) error {
		if username != "" && indexHolder(tx.Bucket(bucketUserNames), foldKey(username), except) != 0 {
			return fmt.Errorf("%w: username %q is already taken", ErrConflict, username)
		}
		if email != "" && indexHolder(tx.Bucket(bucketUserEmails), foldKey(email), except) != 0 {
			return fmt.Errorf("%w: email %q is already taken", ErrConflict, email)
		}
		return nil
	})
}

// DisownURLs sets the owner of every URL of user to none, as DeleteUser
// does on the shard of the user, and returns their short codes.
func (s *Store) DisownURLs(user uint64) ([]string, error) {
	var codes []string
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		codes, err = disownURLs(tx, user)
		return err
	})
	return codes, err
}

// HasURLs returns the ids of ids that name a URL of this store, in the
// order given.
func (s *Store) HasURLs(ids []uint64) ([]uint64, error) {
	return s.hasIDs(bucketURLs, ids)
}

// HasUsers returns the ids of ids that name a user of this store, in the
// order given.
func (s *Store) HasUsers(ids []uint64) ([]uint64, error) {
	return s.hasIDs(bucketUsers, ids)
}

// HasEvents returns the ids of ids that name an event of this store, in
// the order given.
func (s *Store) HasEvents(ids []uint64) ([]uint64, error) {
	return s.hasIDs(bucketEvents, ids)
}

func (s *Store) hasIDs(bucket []byte, ids []uint64) ([]uint64, error) {
	var found []uint64
	err := s.view(func(tx *bolt.Tx) error {
		found = found[:0]
		b := tx.Bucket(bucket)
		for _, id := range ids {
			if b.Get(itob(id)) != nil {
				found = append(found, id)
			}
		}
		return nil
	})
	return found, err
}

// Link is a URL with its events, as one shard hands it to another. The
// URL's ClickCount is its click count.
type Link struct {
	URL    URL
	Events []Event
}

// ExportLinks returns up to limit links with ids above after, in id order,
// whose short code move reports true for, and the id to pass as after for
// the next call; 0 means that no link is left.
func (s *Store) ExportLinks(after uint64, limit int, move func(code string) bool) ([]Link, uint64, error) {
	var links []Link
	var next uint64
	err := s.viewIndexed(func(tx *bolt.Tx) error {
		links, next = links[:0], 0
		c := tx.Bucket(bucketURLs).Cursor()
		k, _ := c.Seek(itob(after + 1))
		for ; k != nil; k, _ = c.Next() {
			if len(links) == limit {
				next = btoi(k) - 1
				return nil
			}
			u, err := getURL(tx, btoi(k))
			if err != nil {
				return err
			}
			if !move(u.ShortCode) {
				continue
			}
			events, err := urlEvents(tx, u.ID)
			if err != nil {
				return err
			}
			links = append(links, Link{URL: u, Events: events})
		}
		return nil
	})
	return links, next, err
}

// GetLinks returns the links of ids, with their events and click counts,
// in the order given. Ids that name no URL are skipped.
func (s *Store) GetLinks(ids []uint64) ([]Link, error) {
	var links []Link
	err := s.viewIndexed(func(tx *bolt.Tx) error {
		links = links[:0]
		for _, id := range ids {
			u, err := getURL(tx, id)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			events, err := urlEvents(tx, id)
			if err != nil {
				return err
			}
			links = append(links, Link{URL: u, Events: events})
		}
		return nil
	})
	return links, err
}

// urlEvents returns the events of a URL in id order.
func urlEvents(tx *bolt.Tx, urlID uint64) ([]Event, error) {
	var events []Event
	var err error
	scanPrefix(tx.Bucket(bucketEventURLs), itob(urlID), func(id uint64) bool {
		var ev Event
		if ev, err = getEvent(tx, id); err != nil {
			return false
		}
		events = append(events, ev)
		return true
	})
	return events, err
}

// ImportLinks writes links handed over by another shard, in one
// transaction. A link that is new here is written with its click count and
// events as they are. A link that is already here keeps the newer of the
// two records by updated_at and gains the events it lacks. The clicks
// among those events add to its count, so that importing the same link again
// after more clicks loses and doubles none.
func (s *Store) ImportLinks(links []Link) error {
	return s.update(func(tx *bolt.Tx) error {
		for i := range links {
			if err := s.importLink(tx, &links[i]); err != nil {
				return &ImportError{ID: links[i].URL.ID, Err: err}
			}
		}
		return nil
	})
}

func (s *Store) importLink(tx *bolt.Tx, l *Link) error {
	u := l.URL
	old, err := getURL(tx, u.ID)
	exists := err == nil
	if err != nil && !isNotFound(err) {
		return err
	}

	if !exists || u.UpdatedAt.After(old.UpdatedAt) {
		if err := importURL(tx, txBuckets{tx}, &u); err != nil {
			return err
		}
	}
	if err := s.useID(tx.Bucket(bucketURLs), u.ID); err != nil {
		return err
	}

	clicks := btoi(tx.Bucket(bucketClicks).Get(itob(u.ID)))
	if !exists {
		clicks = u.ClickCount
	}
	for i := range l.Events {
		ev := &l.Events[i]
		if _, err := getEvent(tx, ev.ID); err == nil {
			continue
		}
		if err := putEvent(tx, ev, nil); err != nil {
			return err
		}
		if err := addCount(tx, metaEvents, 1); err != nil {
			return err
		}
		if err := s.useID(tx.Bucket(bucketEvents), ev.ID); err != nil {
			return err
		}
		if exists && countsAsClick(ev) {
			clicks++
		}
	}
	if clicks == 0 {
		return tx.Bucket(bucketClicks).Delete(itob(u.ID))
	}
	return tx.Bucket(bucketClicks).Put(itob(u.ID), itob(clicks))
}

// RemoveLinks removes URLs with their events and click counts, without
// tombstones or deleted events, once another shard holds them. Ids that
// name no URL are skipped. It returns the short codes removed.
func (s *Store) RemoveLinks(ids []uint64) ([]string, error) {
	var codes []string
	err := s.update(func(tx *bolt.Tx) error {
		codes = codes[:0]
		for _, id := range ids {
			u, err := getURL(tx, id)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := removeURLEvents(tx, id, false); err != nil {
				return err
			}
			if err := deleteURL(tx, &u); err != nil {
				return err
			}
			if err := tx.Bucket(bucketTombstones).Delete([]byte(u.ShortCode)); err != nil {
				return err
			}
			codes = append(codes, u.ShortCode)
		}
		return nil
	})
	return codes, err
}

// Tombstones returns the codes of deleted URLs that move reports true for,
// with the ids of those URLs.
func (s *Store) Tombstones(move func(code string) bool) (map[string]uint64, error) {
	out := make(map[string]uint64)
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTombstones).ForEach(func(k, v []byte) error {
			if move(string(k)) {
				out[string(k)] = btoi(v)
			}
			return nil
		})
	})
	return out, err
}

// ReserveCodes keeps codes of deleted URLs reserved, as tombstones. A code
// that is taken here stays as it is.
func (s *Store) ReserveCodes(codes map[string]uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTombstones)
		for code, id := range codes {
			if !ValidCode(code) || codeTaken(tx, code) {
				continue
			}
			if err := b.Put([]byte(code), itob(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveTombstones removes the tombstones of codes that another shard now
// keeps.
func (s *Store) RemoveTombstones(codes []string) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTombstones)
		for _, code := range codes {
			if err := b.Delete([]byte(code)); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveUsers removes users without touching their links, once another
// shard holds them. Ids that name no user are skipped.
func (s *Store) RemoveUsers(ids []uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			u, err := getUser(tx, id)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			names, emails := tx.Bucket(bucketUserNames), tx.Bucket(bucketUserEmails)
			if err := names.Delete(pairKey(foldKey(u.Username), id)); err != nil {
				return err
			}
			if err := emails.Delete(pairKey(foldKey(u.Email), id)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketUsers).Delete(itob(id)); err != nil {
				return err
			}
			if err := addCount(tx, metaUsers, -1); err != nil {
				return err
			}
		}
		return nil
	})
}
