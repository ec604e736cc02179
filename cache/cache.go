// Package cache holds the redirect targets of recently used short codes in
// memory, with a small cache of codes known not to exist.
package cache

import (
	"fmt"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Default sizes, in entries.
const (
	// DefaultSize is the number of links the cache holds. An entry takes
	// about 200 bytes plus its target URL.
	DefaultSize = 100_000

	// MinSize is the smallest cache: the 2Q cache needs room in each of
	// its queues.
	MinSize = 16

	// DefaultMissingSize is the number of unknown codes remembered, so
	// that a scan of random codes neither reaches the store each time nor
	// evicts hot links.
	DefaultMissingSize = 10_000
)

// Entry is the part of a link that a redirect reads.
type Entry struct {
	URLID  uint64
	UserID uint64

	// Location is the Location header's value, already encoded, as the
	// header map holds it. Responses share the slice, so it must not be
	// modified.
	Location []string
	Active   bool

	// ExpiresAt is a Unix time in seconds; zero means never.
	ExpiresAt int64

	// MaxClicks is the click limit; zero means none.
	MaxClicks uint64

	// Status is the redirect status code; zero means the server default.
	Status int
}

// Result is the outcome of a lookup.
type Result int

// Lookup outcomes.
const (
	// Unknown means the cache has no entry for the code.
	Unknown Result = iota
	// Hit means the entry was found.
	Hit
	// Missing means the code is known not to exist.
	Missing
)

// Stats are cumulative counters of a cache.
type Stats struct {
	Hits      uint64
	Misses    uint64
	Evictions uint64
}

// Cache maps short codes to entries. It is safe for concurrent use.
//
// A reader that misses loads the link from the store and fills the cache.
// To keep such a fill from undoing an invalidation that happened while it
// read, the reader takes Generation before reading and passes it to Add or
// AddMissing, which drop the fill if any Remove or Purge came in between.
type Cache struct {
	links   *lru.TwoQueueCache[string, Entry]
	missing *lru.Cache[string, struct{}]
	size    int
	gen     atomic.Uint64

	hits, misses, evictions atomic.Uint64
}

// New returns a cache of size links and missingSize unknown codes. Zero
// sizes mean the defaults; any other size below MinSize is an error.
func New(size, missingSize int) (*Cache, error) {
	if size < 0 || missingSize < 0 || size > 0 && size < MinSize || missingSize > 0 && missingSize < MinSize {
		return nil, fmt.Errorf("cache sizes must be 0 for the default or at least %d, got %d and %d", MinSize, size, missingSize)
	}
	if size == 0 {
		size = DefaultSize
	}
	if missingSize == 0 {
		missingSize = DefaultMissingSize
	}
	links, err := lru.New2Q[string, Entry](size)
	if err != nil {
		return nil, err
	}
	missing, err := lru.New[string, struct{}](missingSize)
	if err != nil {
		return nil, err
	}
	return &Cache{links: links, missing: missing, size: size}, nil
}

// Get looks up a code.
func (c *Cache) Get(code string) (Entry, Result) {
	if e, ok := c.links.Get(code); ok {
		c.hits.Add(1)
		return e, Hit
	}
	if _, ok := c.missing.Get(code); ok {
		c.hits.Add(1)
		return Entry{}, Missing
	}
	c.misses.Add(1)
	return Entry{}, Unknown
}

// Generation returns the invalidation counter to pass to Add or AddMissing.
func (c *Cache) Generation() uint64 {
	return c.gen.Load()
}

// Add stores the entry of a code read from the store at generation gen.
func (c *Cache) Add(code string, e Entry, gen uint64) {
	if c.gen.Load() != gen {
		return
	}
	if c.links.Len() >= c.size && !c.links.Contains(code) {
		c.evictions.Add(1)
	}
	c.links.Add(code, e)

	// A Remove that ran between the check above and the Add did not see
	// this entry, so the entry is taken back.
	if c.gen.Load() != gen {
		c.links.Remove(code)
	}
}

// AddMissing records that a code did not exist at generation gen.
func (c *Cache) AddMissing(code string, gen uint64) {
	if c.gen.Load() != gen {
		return
	}
	c.missing.Add(code, struct{}{})
	if c.gen.Load() != gen {
		c.missing.Remove(code)
	}
}

// Remove drops the entries of a code, after a write that changed or
// created it.
func (c *Cache) Remove(code string) {
	c.gen.Add(1)
	c.links.Remove(code)
	c.missing.Remove(code)
}

// Purge drops every entry, after a bulk import.
func (c *Cache) Purge() {
	c.gen.Add(1)
	c.links.Purge()
	c.missing.Purge()
}

// Len returns the number of links held, not counting unknown codes.
func (c *Cache) Len() int {
	return c.links.Len()
}

// Stats returns the counters since the cache was made.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load()}
}
