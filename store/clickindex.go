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

// clickIndexChunk is about how many clicks one commit of a timed index
// pass indexes. bbolt holds each leaf page that a commit changes in
// memory until the commit ends, and clicks on many links change one page
// each. So the pass takes the clicks in URL order and commits every
// clickIndexChunk of them, each commit changing the pages of its own range
// of URLs.
const clickIndexChunk = 4096

// metaClickIndexMark is the meta key of an index pass cut into several
// commits: an event id and a URL id, 16 bytes. Every pending click whose
// event id and URL id are both at most these is indexed already. The
// pass that indexes the last pending click removes the key.
var metaClickIndexMark = []byte("click_index_mark")

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

// pendingSet is the content of the pending bucket, read with the mark of
// a cut pass.
type pendingSet struct {
	clicks  []pendingClick // not indexed yet, in event id order
	last    uint64         // the highest event id in the bucket, indexed or not
	markURL uint64         // the URL id of the mark, or 0 without a mark
}

// readPendingClicks returns the clicks waiting to be indexed, without
// those that an earlier commit of a cut pass indexed. A store opened
// read-only on a file written before late indexing has no pending bucket
// and no click waiting.
func readPendingClicks(tx *bolt.Tx) (pendingSet, error) {
	var set pendingSet
	b := tx.Bucket(bucketClickIndex)
	if b == nil {
		return set, nil
	}
	var markEvent uint64
	if mark := tx.Bucket(bucketMeta).Get(metaClickIndexMark); mark != nil {
		if len(mark) != 16 {
			return set, fmt.Errorf("%w: meta %s = %x is not an event id and a URL id of 8 bytes each", ErrCorrupt, metaClickIndexMark, mark)
		}
		markEvent, set.markURL = btoi(mark[:8]), btoi(mark[8:])
	}
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(k) != 8 || len(v) == 0 || len(v)%pendingClickLen != 0 {
			return set, fmt.Errorf("%w: pending clicks %x = %.40x... is not an 8-byte event id and a value of %d bytes per click", ErrCorrupt, k, v, pendingClickLen)
		}
		first := btoi(k)
		for i := 0; i < len(v); i += pendingClickLen {
			c := v[i : i+pendingClickLen]
			p := pendingClick{
				event: first + uint64(i/pendingClickLen),
				url:   binary.BigEndian.Uint64(c),
				user:  binary.BigEndian.Uint64(c[8:]),
				bot:   c[16]&pendingBot != 0,
			}
			set.last = p.event
			if p.event <= markEvent && p.url <= set.markURL {
				continue
			}
			set.clicks = append(set.clicks, p)
		}
	}
	return set, nil
}

// indexClicks indexes the pending clicks of the transaction that the
// writer builds, and does nothing when it has none.
func (s *Store) indexClicks(tx *bolt.Tx) error {
	if s.txPending == 0 {
		return nil
	}
	if _, _, err := indexPendingClicks(tx, 0); err != nil {
		return err
	}
	s.txPending = 0
	return nil
}

// indexClickChunk indexes about clickIndexChunk of the pending clicks, in
// URL order, as one commit of a timed pass.
//
// NOTE: each chunk reads and sorts all the pending clicks again, so a pass
// of n clicks reads the pending bucket about n/clickIndexChunk times.
func (s *Store) indexClickChunk(tx *bolt.Tx) error {
	n, done, err := indexPendingClicks(tx, clickIndexChunk)
	switch {
	case err != nil:
		return err
	case done:
		// The pass is over, even if the in-memory count differs.
		s.txPending = 0
	default:
		s.txPending = max(s.txPending-int64(n), 0)
	}
	return nil
}

// indexPendingClicks writes the index entries by URL and by user and the
// click counts of the pending clicks, in key order, and returns how many
// it indexed and whether none is left. With limit 0 it indexes them all.
// Otherwise it stops after at least limit clicks at the end of a URL, and
// records in metaClickIndexMark how far it got. Once no click is left it
// empties the pending bucket and removes the mark.
func indexPendingClicks(tx *bolt.Tx, limit int) (n int, done bool, err error) {
	set, err := readPendingClicks(tx)
	if err != nil {
		return 0, false, err
	}
	clicks := set.clicks
	if len(clicks) == 0 {
		if set.last == 0 {
			return 0, true, nil
		}
		return 0, true, clearPendingClicks(tx)
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
	all := len(clicks)
	if limit > 0 {
		clicks = clicks[:chunkEnd(clicks, limit, set.markURL)]
	}
	byURL, counts, urls := tx.Bucket(bucketEventURLs), tx.Bucket(bucketClicks), tx.Bucket(bucketURLs)
	for i := 0; i < len(clicks); {
		url := clicks[i].url
		var counted uint64
		for ; i < len(clicks) && clicks[i].url == url; i++ {
			if err := byURL.Put(pair(url, clicks[i].event), nil); err != nil {
				return 0, false, err
			}
			if !clicks[i].bot {
				counted++
			}
		}
		// A click whose URL was deleted keeps its event but adds no count.
		key := itob(url)
		if counted == 0 || urls.Get(key) == nil {
			continue
		}
		if err := counts.Put(key, itob(btoi(counts.Get(key))+counted)); err != nil {
			return 0, false, err
		}
	}
	lastURL := clicks[len(clicks)-1].url

	slices.SortFunc(clicks, func(a, b pendingClick) int {
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.event, b.event))
	})
	byUser := tx.Bucket(bucketEventUsers)
	for _, c := range clicks {
		if c.user == 0 {
			continue
		}
		if err := byUser.Put(pair(c.user, c.event), nil); err != nil {
			return 0, false, err
		}
	}

	if len(clicks) < all {
		// Every pending click up to event last is indexed up to lastURL:
		// those before the mark were, and this chunk did the rest.
		mark := binary.BigEndian.AppendUint64(itob(set.last), lastURL)
		return len(clicks), false, tx.Bucket(bucketMeta).Put(metaClickIndexMark, mark)
	}
	return len(clicks), true, clearPendingClicks(tx)
}

// chunkEnd returns how many of the clicks, sorted by URL, one commit of a
// cut pass indexes: at least limit, up to the end of a URL. It goes on up
// to markURL, the URL of the mark of the commit before, so that the new
// mark covers every click that the old one did.
func chunkEnd(clicks []pendingClick, limit int, markURL uint64) int {
	end := min(limit, len(clicks))
	for end < len(clicks) && (clicks[end].url == clicks[end-1].url || clicks[end-1].url < markURL) {
		end++
	}
	return end
}

// clearPendingClicks empties the pending bucket and removes the mark of a
// cut pass, once every pending click is indexed.
func clearPendingClicks(tx *bolt.Tx) error {
	if err := tx.Bucket(bucketMeta).Delete(metaClickIndexMark); err != nil {
		return err
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
