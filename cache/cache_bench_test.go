package cache_test

import (
	"flag"
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

	// The 2Q cache moves an entry to its frequent list on the first hit,
	// which allocates a list element. One read of every code first makes
	// the timed reads hits on entries already moved, as for a link that
	// is requested again.
	for _, code := range codes {
		c.Get(code)
	}

	// Filling and warming the cache allocate, and would otherwise count in
	// the figures per operation of a short run.
	b.ReportAllocs()
	b.ResetTimer()
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

// TestGetHitParallelExcludesSetup runs BenchmarkGetHitParallel for 500
// operations, so that the allocations of filling the cache would show in
// the figures per operation if they were counted.
func TestGetHitParallelExcludesSetup(t *testing.T) {
	benchtime := flag.Lookup("test.benchtime")
	saved := benchtime.Value.String()
	if err := benchtime.Value.Set("500x"); err != nil {
		t.Fatal(err)
	}
	defer benchtime.Value.Set(saved)

	res := testing.Benchmark(BenchmarkGetHitParallel)
	if res.N == 0 {
		t.Fatal("the benchmark did not run")
	}
	if n := res.AllocsPerOp(); n != 0 {
		t.Errorf("%d allocations per operation over %d operations, want 0", n, res.N)
	}

	// RunParallel's own goroutines and closures take under 1 KiB, at most
	// 2 B per operation here. Filling the cache takes about 6 KiB per
	// operation, and first hits about 250 B.
	if n := res.AllocedBytesPerOp(); n > 16 {
		t.Errorf("%d bytes allocated per operation over %d operations, want at most 16", n, res.N)
	}
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
