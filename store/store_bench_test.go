package store_test

import (
	"fmt"
	"math/rand"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// benchLinks is the number of links in the store of the read benchmarks.
const benchLinks = 10_000

// openBenchStore opens a store on a new file that holds n links with the
// codes benchCode(1) to benchCode(n), imported in one transaction. It is
// closed when the benchmark ends.
func openBenchStore(b *testing.B, n int) *store.Store {
	b.Helper()
	s, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })

	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	urls := make([]store.URL, n)
	for i := range urls {
		id := uint64(i + 1)
		urls[i] = store.URL{
			ID:          id,
			ShortCode:   benchCode(id),
			OriginalURL: fmt.Sprintf("https://example.com/docs/%d?a=1&a=2#intro", id),
			IsActive:    true,
			CreatedAt:   created,
		}
	}
	if err := s.ImportURLs(urls); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchCode(id uint64) string {
	return fmt.Sprintf("b%06d", id)
}

func BenchmarkGetURLByCode(b *testing.B) {
	s := openBenchStore(b, benchLinks)
	codes := make([]string, benchLinks)
	for i := range codes {
		codes[i] = benchCode(uint64(i + 1))
	}

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GetURLByCode(codes[i%len(codes)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateURL measures one create at a time. Each waits for its
// own commit and fsync, so the disk sets the pace.
func BenchmarkCreateURL(b *testing.B) {
	s := openBenchStore(b, 0)

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		u := store.URL{OriginalURL: fmt.Sprintf("https://example.com/new/%d", i), IsActive: true}
		if _, err := s.CreateURL(u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateURLParallel measures creates from GOMAXPROCS*64
// goroutines, as from many clients at once, whose writes share commits.
func BenchmarkCreateURLParallel(b *testing.B) {
	s := openBenchStore(b, 0)
	var n atomic.Uint64

	b.ReportAllocs()
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := store.URL{OriginalURL: fmt.Sprintf("https://example.com/new/%d", n.Add(1)), IsActive: true}
			if _, err := s.CreateURL(u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkListURLs reads a page of 100 links, at the start of the list
// and at its end, where the pages before it are skipped.
func BenchmarkListURLs(b *testing.B) {
	s := openBenchStore(b, benchLinks)
	const perPage = 100
	for _, page := range []int{1, benchLinks / perPage} {
		b.Run(fmt.Sprintf("page=%d", page), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				urls, total, err := s.ListURLs(store.URLFilter{}, store.Page{Page: page, PerPage: perPage})
				if err != nil {
					b.Fatal(err)
				}
				if len(urls) != perPage || total != benchLinks {
					b.Fatalf("got %d links of %d, want %d of %d", len(urls), total, perPage, benchLinks)
				}
			}
		})
	}
}

// BenchmarkListEvents reads a page of 1,000 click events by type, the
// largest page of GET /events, from a store of 4,096 clicks with
// browser-sized referrers and user agents. Decoding checks that each
// event's details are a JSON object of valid UTF-8.
func BenchmarkListEvents(b *testing.B) {
	s := openBenchStore(b, benchLinks)
	clicks := make([]store.Click, 4096)
	now := time.Now()
	for i := range clicks {
		clicks[i] = store.Click{
			URLID:     uint64(i*37%benchLinks + 1),
			Time:      now,
			Referrer:  "https://news.example.org/item?id=42",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		}
	}
	if err := s.RecordClicks(clicks); err != nil {
		b.Fatal(err)
	}
	click := store.EventClick
	filter := store.EventFilter{Type: &click}

	b.ReportAllocs()
	for b.Loop() {
		events, total, err := s.ListEvents(filter, store.Page{Page: 1, PerPage: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(events) != 1000 || total != uint64(len(clicks)) {
			b.Fatalf("got %d events of %d, want 1000 of %d", len(events), total, len(clicks))
		}
	}
}

// BenchmarkRecordClicks writes clicks in batches of 256, the size of a
// busy recorder's flush, spread over the links of the bench store. It
// reports the time per click.
func BenchmarkRecordClicks(b *testing.B) {
	s := openBenchStore(b, benchLinks)
	const batchSize = 256
	batch := make([]store.Click, batchSize)
	now := time.Now()
	for i := range batch {
		batch[i] = store.Click{
			URLID:     uint64(i*37%benchLinks + 1),
			Time:      now,
			Referrer:  "https://news.example.org/item?id=42",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		}
	}

	b.ReportAllocs()
	for b.Loop() {
		if err := s.RecordClicks(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize), "ns/click")
}

// BenchmarkRecordClicksZipf writes batches of 128 clicks, about what the
// recorder collects in one flush interval under load, on 100,000 links
// drawn from a Zipf distribution with s = 1.1, as in the large-set load
// run. A read of a click count after every 100 batches, and one at the
// end, makes the store index the clicks, as its timer does about once a
// second under such a load. Besides the time per click, which the fsync
// of each commit dominates, it reports the CPU time of the whole process
// per click.
func BenchmarkRecordClicksZipf(b *testing.B) {
	const links, batchSize, batchesPerIndex = 100_000, 128, 100
	s := openBenchStore(b, links)
	zipf := rand.NewZipf(rand.New(rand.NewSource(1)), 1.1, 1, links-1)
	batch := make([]store.Click, batchSize)
	now := time.Now()
	countClicks := func() {
		if _, err := s.GetURL(1); err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	cpu := processCPU(b)
	n := 0
	for b.Loop() {
		if n++; n%batchesPerIndex == 0 {
			countClicks()
		}
		for i := range batch {
			batch[i] = store.Click{
				URLID:     zipf.Uint64() + 1,
				Time:      now,
				Referrer:  "https://news.example.org/item?id=42",
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
			}
		}
		if err := s.RecordClicks(batch); err != nil {
			b.Fatal(err)
		}
	}
	countClicks()
	clicks := float64(b.N * batchSize)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/clicks, "ns/click")
	b.ReportMetric(float64((processCPU(b)-cpu).Nanoseconds())/clicks, "cpu-ns/click")
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
