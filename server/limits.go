package server

import (
	"sync"
)

// clickLimits counts the clicks of links that have a click limit, in
// memory, so that the limit is exact under concurrent redirects without a
// store write per click. It is safe for concurrent use.
type clickLimits struct {
	mu     sync.Mutex
	counts map[uint64]uint64
}

func newClickLimits() *clickLimits {
	return &clickLimits{counts: make(map[uint64]uint64)}
}

// take counts one click of link id if fewer than limit were counted, and
// reports whether it did. load returns the link's stored click count; it
// is called once per link, on its first limited click.
func (l *clickLimits) take(id, limit uint64, load func() uint64) bool {
	return l.count(id, limit, 1, load)
}

// allows reports whether link id is below its limit, counting nothing, for
// HEAD requests.
func (l *clickLimits) allows(id, limit uint64, load func() uint64) bool {
	return l.count(id, limit, 0, load)
}

func (l *clickLimits) count(id, limit, add uint64, load func() uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.counts[id]
	if !ok {
		n = load()
	}
	if n >= limit {
		l.counts[id] = n
		return false
	}
	l.counts[id] = n + add
	return true
}

// forget drops the count of link id, so that its next limited click loads
// the stored count again: after the link is deleted or updated, or gets a
// click event through the API.
func (l *clickLimits) forget(id uint64) {
	l.mu.Lock()
	delete(l.counts, id)
	l.mu.Unlock()
}

// reset drops every count, after a bulk import that may change the click
// counts of any link.
func (l *clickLimits) reset() {
	l.mu.Lock()
	clear(l.counts)
	l.mu.Unlock()
}
