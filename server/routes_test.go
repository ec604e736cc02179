package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// TestShortLinkPathMatchesMux checks that every request ServeHTTP serves
// without the mux is one the mux would send to the short link route, with
// the same code.
func TestShortLinkPathMatchesMux(t *testing.T) {
	srv, _ := newStoreServer(t)

	paths := []string{
		"/abc", "/ABC", "/a", "/abc/", "/abc/def", "/%61bc", "/a%2Fb",
		"/health", "/HEALTH", "/ready", "/metrics", "/openapi.json",
		"/users", "/urls", "/events", "/admin", "/ui", "/urls/abc/redirect",
		"/users/1", "/.", "/..", "/", "/a.b", "/a~b",
	}
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}
	fast := 0
	for _, path := range paths {
		for _, method := range methods {
			r := httptest.NewRequest(method, path, nil)
			code, ok := srv.shortLinkPath(r)
			_, pattern := srv.mux.Handler(r)
			if !ok {
				continue
			}
			fast++
			if pattern != codeRoute {
				t.Errorf("%s %s: served as a short link, but the mux matches %q", method, path, pattern)
				continue
			}
			// Handler only finds the pattern, so match again to read
			// the code the mux would pass on.
			probe := httptest.NewRequest(method, path, nil)
			var muxCode string
			mux := http.NewServeMux()
			mux.HandleFunc(codeRoute, func(_ http.ResponseWriter, r *http.Request) { muxCode = r.PathValue("code") })
			mux.ServeHTTP(httptest.NewRecorder(), probe)
			if muxCode != code {
				t.Errorf("%s %s: code %q, the mux gives %q", method, path, code, muxCode)
			}
		}
	}
	if fast == 0 {
		t.Fatal("no request took the short link path")
	}
}

// TestRedirectCacheHitAllocations checks that a redirect of a cached link
// allocates nothing in the server, for HEAD and for GET, which also queues
// a click.
func TestRedirectCacheHitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	// testing.AllocsPerRun counts the allocations of the whole process.
	// The GET requests queue clicks, and with the default flush interval
	// the click writer could commit them, and allocate, during the runs.
	srv, st := newStoreServerWith(t, Options{Clicks: RecorderOptions{Flush: time.Hour}})
	if _, err := st.CreateURL(store.URL{ShortCode: "alloc1", OriginalURL: "https://example.com/a?b=c", IsActive: true}); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		req := httptest.NewRequest(method, "/alloc1", nil)
		req.Header.Set("User-Agent", "Mozilla/5.0")
		w := &discardWriter{header: http.Header{}}
		srv.ServeHTTP(w, req) // fills the cache
		if got := w.header.Get("Location"); got != "https://example.com/a?b=c" {
			t.Fatalf("%s: Location %q", method, got)
		}
		allocs := testing.AllocsPerRun(200, func() { srv.ServeHTTP(w, req) })
		if allocs != 0 {
			t.Errorf("%s of a cached link: %.1f allocations per request, want 0", method, allocs)
		}
	}
}
