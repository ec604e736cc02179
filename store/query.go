package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// pager counts the matches of a list query and keeps the ids of the
// requested page.
type pager struct {
	page  Page
	skip  int
	total uint64
	ids   []uint64
}

func newPager(p Page) *pager {
	return &pager{page: p, skip: p.offset()}
}

// add counts one match and keeps it if it falls on the page.
func (pg *pager) add(id uint64) {
	pg.total++
	if pg.skip > 0 {
		pg.skip--
		return
	}
	if len(pg.ids) < pg.page.PerPage {
		pg.ids = append(pg.ids, id)
	}
}

// addIf adds id when it matches. It always continues the scan, because the
// total counts every match.
func (pg *pager) addIf(id uint64, match func(uint64) bool) bool {
	if match(id) {
		pg.add(id)
	}
	return true
}

// addUntilFull adds id without counting it, for scans whose total is known
// beforehand, and stops the scan once the page is full.
func (pg *pager) addUntilFull(id uint64) bool {
	if pg.skip > 0 {
		pg.skip--
		return true
	}
	pg.ids = append(pg.ids, id)
	return len(pg.ids) < pg.page.PerPage
}

// scanPrefix calls fn with the id at the end of every key of b that starts
// with prefix, in key order, until fn returns false.
func scanPrefix(b *bolt.Bucket, prefix []byte, fn func(id uint64) bool) {
	c := b.Cursor()
	k, _ := c.First()
	if prefix != nil {
		k, _ = c.Seek(prefix)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		if !fn(btoi(k[len(prefix):])) {
			return
		}
	}
}
