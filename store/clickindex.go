package store

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Clicks are indexed late. RecordClicks commits each click's event with
// its entry by type, both of which append to their buckets, and one entry
// in bucketClickIndex for the whole batch. The entries by URL and by user
// and the click counts land on pages spread over their buckets, one page
// per link clicked. So they are written later, for many clicks at once:
// after DefaultClickIndexDelay, at the start of any other write, before a
// read that needs them, and when the store is opened or closed. A crash
// loses nothing, because the pending entries are in the file and the next
// open indexes them.

// DefaultClickIndexDelay is how long a recorded click may wait for its
// index entries and click count.
const DefaultClickIndexDelay = time.Second

// maxPendingClicks is the max number of clicks left unindexed. A click
// commit that goes past it indexes them all.
const maxPendingClicks = 1 << 16

// pendingClickLen is the length of one click in a value of
// bucketClickIndex: the URL id, the user id and a flag byte. The key is the
// event id of the batch's first click, and the clicks of a batch have
// consecutive event ids.
const pendingClickLen = 17

// pendingBot is the flag of a click from a bot, which adds no count.
const pendingBot = 1

// pendingClick is one click waiting to be indexed.
type pendingClick struct {
	event, url, user uint64
	bot              bool
}

func appendPendingClick(buf []byte, c *Click) []byte {
	buf = binary.BigEndian.AppendUint64(buf, c.URLID)
	buf = binary.BigEndian.AppendUint64(buf, c.UserID)
	var flags byte
	if c.Bot {
		flags = pendingBot
	}
	return append(buf, flags)
}

// readPendingClicks returns the clicks waiting to be indexed, in event id
// order. A store opened read-only on a file written before late indexing
// has no such bucket and none waiting.
func readPendingClicks(tx *bolt.Tx) ([]pendingClick, error) {
	b := tx.Bucket(bucketClickIndex)
	if b == nil {
		return nil, nil
	}
	var clicks []pendingClick
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(k) != 8 || len(v) == 0 || len(v)%pendingClickLen != 0 {
			return nil, fmt.Errorf("%w: pending clicks %x = %.40x... is not an 8-byte event id and a value of %d bytes per click", ErrCorrupt, k, v, pendingClickLen)
		}
		first := btoi(k)
		for i := 0; i < len(v); i += pendingClickLen {
			c := v[i : i+pendingClickLen]
			clicks = append(clicks, pendingClick{
				event: first + uint64(i/pendingClickLen),
				url:   binary.BigEndian.Uint64(c),
				user:  binary.BigEndian.Uint64(c[8:]),
				bot:   c[16]&pendingBot != 0,
			})
		}
	}
	return clicks, nil
}

// indexClicks indexes the pending clicks of the transaction that the
// writer builds, and does nothing when it has none.
func (s *Store) indexClicks(tx *bolt.Tx) error {
	if s.txPending == 0 {
		return nil
	}
	if err := indexPendingClicks(tx); err != nil {
		return err
	}
	s.txPending = 0
	return nil
}

// indexPendingClicks writes the index entries by URL and by user and the
// click counts of every pending click, in key order, and empties the
// pending bucket.
func indexPendingClicks(tx *bolt.Tx) error {
	clicks, err := readPendingClicks(tx)
	if err != nil || len(clicks) == 0 {
		return err
	}

	// bbolt keeps the keys until the commit, so they share one buffer
	// that is never written over.
	keys := make([]byte, 0, 2*16*len(clicks))
	pair := func(prefix, id uint64) []byte {
		start := len(keys)
		keys = binary.BigEndian.AppendUint64(keys, prefix)
		keys = binary.BigEndian.AppendUint64(keys, id)
		return keys[start:len(keys):len(keys)]
	}

	slices.SortFunc(clicks, func(a, b pendingClick) int {
		return cmp.Or(cmp.Compare(a.url, b.url), cmp.Compare(a.event, b.event))
	})
	byURL, counts, urls := tx.Bucket(bucketEventURLs), tx.Bucket(bucketClicks), tx.Bucket(bucketURLs)
	for i := 0; i < len(clicks); {
		url := clicks[i].url
		var n uint64
		for ; i < len(clicks) && clicks[i].url == url; i++ {
			if err := byURL.Put(pair(url, clicks[i].event), nil); err != nil {
				return err
			}
			if !clicks[i].bot {
				n++
			}
		}
		// A click whose URL was deleted keeps its event but adds no count.
		key := itob(url)
		if n == 0 || urls.Get(key) == nil {
			continue
		}
		if err := counts.Put(key, itob(btoi(counts.Get(key))+n)); err != nil {
			return err
		}
	}

	slices.SortFunc(clicks, func(a, b pendingClick) int {
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.event, b.event))
	})
	byUser := tx.Bucket(bucketEventUsers)
	for _, c := range clicks {
		if c.user == 0 {
			continue
		}
		if err := byUser.Put(pair(c.user, c.event), nil); err != nil {
			return err
		}
	}

	if err := tx.DeleteBucket(bucketClickIndex); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketClickIndex)
	if err != nil {
		return err
	}
	b.FillPercent = 1
	return nil
}

// viewIndexed runs fn in a read transaction after indexing the pending
// clicks, for reads of click counts or of events by URL or user. A store
// that accepts no writes reads as it is.
func (s *Store) viewIndexed(fn func(*bolt.Tx) error) error {
	if s.pending.Load() > 0 && s.Err() == nil {
		if err := s.update(func(*bolt.Tx) error { return nil }); err != nil {
			return err
		}
	}
	return s.view(fn)
}

// PendingClicks returns the number of recorded clicks whose index entries
// and click counts are not yet written.
func (s *Store) PendingClicks() int64 {
	return s.pending.Load()
}
