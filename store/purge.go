package store

import (
	"io"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PurgeFilter selects what Purge removes. Links are selected when they
// match Inactive or Expired (either, when both are set) and also every
// other field that is set. Deleted selects the events that deleted links
// left behind.
type PurgeFilter struct {
	// Inactive selects links that are not active.
	Inactive bool

	// Expired selects links past their expires_at or at their click limit.
	Expired bool

	// Deleted selects the events of links deleted earlier.
	Deleted bool

	// CreatedBefore, when not zero, keeps only links created before it.
	CreatedBefore time.Time

	// UserID, when not zero, keeps only links of that user.
	UserID uint64

	// Now is the time expiry is judged at; zero means the current time.
	Now time.Time
}

// PurgeResult counts what Purge removed, or would remove on a dry run.
type PurgeResult struct {
	Links  uint64
	Events uint64

	// Codes are the short codes of the purged links, whose cache entries
	// are stale.
	Codes []string
}

// Purge removes the links that f selects, with their events and click
// counts, and the events of deleted links when f.Deleted is set. Purged
// codes stay reserved as tombstones. With dryRun it only counts. A filter
// with nothing set selects nothing.
func (s *Store) Purge(f PurgeFilter, dryRun bool) (PurgeResult, error) {
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	var res PurgeResult
	run := func(tx *bolt.Tx) error {
		res = PurgeResult{}
		if err := purgeLinks(tx, f, dryRun, &res); err != nil {
			return err
		}
		if f.Deleted {
			return purgeOrphanEvents(tx, dryRun, &res)
		}
		return nil
	}
	if dryRun {
		return res, s.viewIndexed(run)
	}
	return res, s.update(run)
}

// selectsLinks reports whether f selects any link at all.
func (f PurgeFilter) selectsLinks() bool {
	return f.Inactive || f.Expired || !f.CreatedBefore.IsZero() || f.UserID != 0
}

func (f PurgeFilter) matches(u *URL) bool {
	if f.Inactive || f.Expired {
		inactive := f.Inactive && !u.IsActive
		expired := f.Expired && (!u.ExpiresAt.IsZero() && !f.Now.Before(u.ExpiresAt) ||
			u.MaxClicks != 0 && u.ClickCount >= u.MaxClicks)
		if !inactive && !expired {
			return false
		}
	}
	if !f.CreatedBefore.IsZero() && !u.CreatedAt.Before(f.CreatedBefore) {
		return false
	}
	return f.UserID == 0 || u.UserID == f.UserID
}

// purgeLinks removes the selected links and their events.
func purgeLinks(tx *bolt.Tx, f PurgeFilter, dryRun bool, res *PurgeResult) error {
	if !f.selectsLinks() {
		return nil
	}
	var victims []URL
	c := tx.Bucket(bucketURLs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		u, err := decodeURL(btoi(k), v)
		if err != nil {
			return err
		}
		u.ClickCount = btoi(tx.Bucket(bucketClicks).Get(k))
		if f.matches(&u) {
			victims = append(victims, u)
		}
	}

	for i := range victims {
		u := &victims[i]
		res.Links++
		res.Codes = append(res.Codes, u.ShortCode)
		n, err := removeURLEvents(tx, u.ID, dryRun)
		if err != nil {
			return err
		}
		res.Events += n
		if dryRun {
			continue
		}
		if err := deleteURL(tx, u); err != nil {
			return err
		}
	}
	return nil
}

// purgeOrphanEvents removes the events whose URL no longer exists.
func purgeOrphanEvents(tx *bolt.Tx, dryRun bool, res *PurgeResult) error {
	urls := tx.Bucket(bucketURLs)
	var orphans []uint64
	var last uint64
	first := true
	c := tx.Bucket(bucketEventURLs).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		// Index keys are sorted by URL id, so each URL is looked up once.
		id := btoi(k[:8])
		if !first && id == last {
			continue
		}
		first, last = false, id
		if urls.Get(k[:8]) == nil {
			orphans = append(orphans, id)
		}
	}
	for _, id := range orphans {
		n, err := removeURLEvents(tx, id, dryRun)
		if err != nil {
			return err
		}
		res.Events += n
	}
	return nil
}

// removeURLEvents removes every event of a URL and returns how many there
// were. With dryRun it only counts.
func removeURLEvents(tx *bolt.Tx, urlID uint64, dryRun bool) (uint64, error) {
	var ids []uint64
	scanPrefix(tx.Bucket(bucketEventURLs), itob(urlID), func(id uint64) bool {
		ids = append(ids, id)
		return true
	})
	if dryRun {
		return uint64(len(ids)), nil
	}
	for _, id := range ids {
		ev, err := getEvent(tx, id)
		if err != nil {
			return 0, listedRecord(err, "event", id)
		}
		if err := deleteEvent(tx, &ev); err != nil {
			return 0, err
		}
	}
	return uint64(len(ids)), nil
}

func deleteEvent(tx *bolt.Tx, ev *Event) error {
	steps := []struct {
		bucket []byte
		key    []byte
	}{
		{bucketEvents, itob(ev.ID)},
		{bucketEventURLs, pairKey(itob(ev.URLID), ev.ID)},
		{bucketEventUsers, pairKey(itob(ev.UserID), ev.ID)},
		{bucketEventTypes, pairKey([]byte(ev.Type), ev.ID)},
	}
	for _, st := range steps {
		if err := tx.Bucket(st.bucket).Delete(st.key); err != nil {
			return err
		}
	}
	return addCount(tx, metaEvents, -1)
}

// Backup writes a consistent copy of the whole database file to w from one
// read transaction, so writes go on meanwhile. size, known before the first
// byte is written, is the length of the copy.
func (s *Store) Backup(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
