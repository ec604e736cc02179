package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// newLimitServer starts a server on a new store and stops both when the
// test ends.
func newLimitServer(t *testing.T) (*Server, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "limits.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		st.Close()
	})
	return srv, st
}

func serveRequest(srv http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestMaxClicksExactUnderConcurrency(t *testing.T) {
	srv, st := newLimitServer(t)
	const limit = 10
	link, err := st.CreateURL(store.URL{ShortCode: "limited", OriginalURL: "https://example.com/", IsActive: true, MaxClicks: limit})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := serveRequest(srv, http.MethodGet, "/limited").Code
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()

	if statuses[http.StatusFound] != limit || statuses[http.StatusGone] != 100-limit {
		t.Errorf("statuses = %v, want %d redirects and %d 410s", statuses, limit, 100-limit)
	}
	rec := serveRequest(srv, http.MethodGet, "/urls/1")
	if !strings.Contains(rec.Body.String(), `"click_count":10`) {
		t.Errorf("GET /urls/%d = %s, want click_count 10", link.ID, rec.Body)
	}
	if code := serveRequest(srv, http.MethodHead, "/limited").Code; code != http.StatusGone {
		t.Errorf("HEAD at the limit = %d, want 410", code)
	}
}

func TestExpiredLinkIsGone(t *testing.T) {
	srv, st := newLimitServer(t)
	past := time.Now().Add(-time.Minute).UTC()
	future := time.Now().Add(time.Hour).UTC()
	for code, expires := range map[string]time.Time{"old": past, "fresh": future} {
		if _, err := st.CreateURL(store.URL{ShortCode: code, OriginalURL: "https://example.com/", IsActive: true, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{"expired get", http.MethodGet, "/old", http.StatusGone},
		{"expired head", http.MethodHead, "/old", http.StatusGone},
		{"not yet expired", http.MethodGet, "/fresh", http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serveRequest(srv, tt.method, tt.path)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

// TestClickLimitFollowsAPIWrites uses up part of a link's click limit with
// redirects, then changes its clicks through the API. The redirect must
// follow the stored count: click events added with POST /events or a bulk
// import count toward the limit, and clicks that a bulk import turns into
// other events give room again.
func TestClickLimitFollowsAPIWrites(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/", "short_code": "lim", "max_clicks": 4})
	id := jsonID(t, link["id"])
	wantStatus(t, a.get(t, "/lim"), http.StatusFound)

	// Two clicks through the API leave one of the four.
	for range 2 {
		body := fmt.Sprintf(`{"event_type":"click","url_id":%d}`, id)
		wantStatus(t, a.send(t, http.MethodPost, "/events", body), http.StatusCreated)
	}
	wantStatus(t, a.get(t, "/lim"), http.StatusFound)
	wantStatus(t, a.get(t, "/lim"), http.StatusGone)

	// The import turns every click of the link into a view, so the stored
	// count falls to 0 and the limit allows four clicks again.
	evs := a.events(t, fmt.Sprintf("url_id=%d&event_type=click", id))
	csv := "id,url_id,user_id,event_type,timestamp,details\n"
	for _, ev := range evs {
		csv += fmt.Sprintf("%d,%d,,view,2026-12-04 10:00:00,\n", jsonID(t, ev["id"]), id)
	}
	wantStatus(t, a.postCSV(t, "/events/bulk", csv), http.StatusCreated)
	for i := range 4 {
		if got := a.get(t, "/lim").status; got != http.StatusFound {
			t.Fatalf("redirect %d after the import: status %d, want 302", i+1, got)
		}
	}
	wantStatus(t, a.get(t, "/lim"), http.StatusGone)
}
