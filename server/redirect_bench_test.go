package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// discardWriter is a ResponseWriter that keeps only the header map, so the
// benchmark measures the handler rather than a recorder.
type discardWriter struct {
	header http.Header
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func BenchmarkRedirectCacheHit(b *testing.B) {
	srv, st := newStoreServer(b)
	if _, err := st.CreateURL(store.URL{ShortCode: "bench1", OriginalURL: "https://example.com/a?b=c", IsActive: true}); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodHead, "/bench1", nil)
	w := &discardWriter{header: http.Header{}}
	srv.ServeHTTP(w, req) // fills the cache

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		srv.ServeHTTP(w, req)
	}
}

// BenchmarkListEvents serves GET /events?event_type=click&per_page=1000
// from a store of 1,000 click events, JSON encoding included.
func BenchmarkListEvents(b *testing.B) {
	srv, st := newStoreServer(b)
	link, err := st.CreateURL(store.URL{ShortCode: "bench1", OriginalURL: "https://example.com/a?b=c", IsActive: true})
	if err != nil {
		b.Fatal(err)
	}
	clicks := make([]store.Click, 1000)
	for i := range clicks {
		clicks[i] = store.Click{
			URLID:     link.ID,
			Time:      time.Now(),
			Referrer:  "https://news.example.org/item?id=42",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		}
	}
	if err := st.RecordClicks(clicks); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/events?event_type=click&per_page=1000", nil)

	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// newStoreServer returns a server with default options on a new store,
// both closed when the test or benchmark ends.
func newStoreServer(tb testing.TB) (*Server, *store.Store) {
	tb.Helper()
	return newStoreServerWith(tb, Options{})
}

// newStoreServerWith is newStoreServer with opts, whose Store it sets.
func newStoreServerWith(tb testing.TB, opts Options) (*Server, *store.Store) {
	tb.Helper()
	st, err := store.Open(tb.TempDir()+"/server.db", nil)
	if err != nil {
		tb.Fatal(err)
	}
	opts.Store = st
	srv, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		srv.clicks.close()
		st.Close()
	})
	return srv, st
}
