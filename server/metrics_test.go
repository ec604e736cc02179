package server

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
)

// TestRequestDurationBuckets checks that the redirect route exports every
// bucket of requestDurationBuckets, from 25 µs up, and that the buckets
// count the redirects served.
func TestRequestDurationBuckets(t *testing.T) {
	api := startAPI(t, Options{})
	link := api.createURL(t, map[string]any{"original_url": "https://example.com/buckets"})
	code := link["short_code"].(string)
	const redirects = 5
	for range redirects {
		wantStatus(t, api.get(t, "/"+code), http.StatusFound)
	}

	resp := api.get(t, "/metrics")
	wantStatus(t, resp, http.StatusOK)
	series := func(suffix, le string) string {
		name := "linkbolt_http_request_duration_seconds" + suffix + "{route=" + strconv.Quote(codeRoute)
		if le != "" {
			name += `,le="` + le + `"`
		}
		return name + "}"
	}

	if requestDurationBuckets[0] != 0.000025 {
		t.Errorf("the smallest bucket is %v s, want 25 µs", requestDurationBuckets[0])
	}
	previous := 0.0
	for _, bound := range requestDurationBuckets {
		got := metricValue(t, resp.body, series("_bucket", fmt.Sprint(bound)))
		if got < previous {
			t.Errorf("bucket le=%v counts %v, fewer than the bucket below it (%v)", bound, got, previous)
		}
		previous = got
	}
	if got := metricValue(t, resp.body, series("_bucket", "+Inf")); got != redirects {
		t.Errorf("bucket le=+Inf counts %v, want %d redirects", got, redirects)
	}
	if got := metricValue(t, resp.body, series("_count", "")); got != redirects {
		t.Errorf("count is %v, want %d redirects", got, redirects)
	}
	if got := metricValue(t, resp.body, series("_bucket", "10")); got != redirects {
		t.Errorf("bucket le=10 counts %v, want all %d redirects", got, redirects)
	}
}

// TestStoreFileSizeMetric checks that linkbolt_store_file_size_bytes is the
// size that stat reports for the database file, which bbolt grows ahead of
// the pages in use.
func TestStoreFileSizeMetric(t *testing.T) {
	api, srv := startAPIOnStore(t, Options{}, nil)
	for i := range 200 {
		api.createURL(t, map[string]any{"original_url": fmt.Sprintf("https://example.com/size/%d", i)})
	}

	got := api.metric(t, "linkbolt_store_file_size_bytes")
	info, err := os.Stat(srv.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got != float64(info.Size()) {
		t.Errorf("linkbolt_store_file_size_bytes = %v, want the file's size %d", got, info.Size())
	}
	if pages := srv.store.Size(); int64(got) < pages {
		t.Errorf("linkbolt_store_file_size_bytes = %v, less than the %d bytes of pages in use", got, pages)
	}
}
