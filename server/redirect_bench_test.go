package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
