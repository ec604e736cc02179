package cache_test

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/linkbolt/linkbolt/cache"
)

// benchEntries is the number of links in the cache of the benchmarks, a
// tenth of the default size.
const benchEntries = 10_000

func benchCodes(n int) []string {
	codes := make([]string, n)
	for i := range codes {
		codes[i] = "c" + strconv.Itoa(i)
	}
	return codes
}

// filledCache returns a default-sized cache that holds an entry for each
// code.
func filledCache(b *testing.B, codes []string) *cache.Cache {
	b.Helper()
	c, err := cache.New(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	gen := c.Generation()
	for i, code := range codes {
		c.Add(code, cache.Entry{URLID: uint64(i + 1), Location: []string{"https://example.com/" + code}, Active: true}, gen)
	}
	return c
}

// BenchmarkGetHitParallel reads cached codes from every processor at once,
// as concurrent redirects do.
func BenchmarkGetHitParallel(b *testing.B) {
	codes := benchCodes(benchEntries)
	c := filledCache(b, codes)
	var start atomic.Uint64

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(start.Add(7919))
		for pb.Next() {
			if _, res := c.Get(codes[i%len(codes)]); res != cache.Hit {
				b.Errorf("code %s: result %v, want a hit", codes[i%len(codes)], res)
				return
			}
			i++
		}
	})
}

// BenchmarkGetMiss looks up codes that the cache holds nowhere, as the
// first redirect of a link does.
func BenchmarkGetMiss(b *testing.B) {
	c := filledCache(b, benchCodes(benchEntries))
	unknown := make([]string, benchEntries)
	for i := range unknown {
		unknown[i] = "u" + strconv.Itoa(i)
	}

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, res := c.Get(unknown[i%len(unknown)]); res != cache.Unknown {
			b.Fatalf("code %s: result %v, want unknown", unknown[i%len(unknown)], res)
		}
		i++
	}
}

// BenchmarkAdd fills a cache of the default size with new codes, so that
// once it is full every Add evicts an entry.
func BenchmarkAdd(b *testing.B) {
	codes := benchCodes(4 * cache.DefaultSize)
	c, err := cache.New(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	entry := cache.Entry{URLID: 1, Location: []string{"https://example.com/docs"}, Active: true}

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Add(codes[i%len(codes)], entry, c.Generation())
		i++
	}
}
