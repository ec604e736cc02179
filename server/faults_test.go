package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// metricValue returns the value of the series named exactly name (with
// its labels) in a /metrics body.
func metricValue(t *testing.T, body []byte, name string) float64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		value, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric %s: %q is not a number", name, value)
		}
		return v
	}
	t.Fatalf("metric %s is missing from /metrics:\n%s", name, body)
	return 0
}

func (a *apiClient) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp := a.get(t, "/metrics")
	wantStatus(t, resp, http.StatusOK)
	return metricValue(t, resp.body, name)
}

// logBuffer collects a server's log for a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the log contains text.
func (b *logBuffer) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the log has no %q after 5s:\n%s", text, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitMetric waits until a metric has the value want.
func waitMetric(t *testing.T, api *apiClient, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for api.metric(t, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 5s, want %v", name, api.metric(t, name), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fillStore writes links with long URLs straight to the store until a
// commit fails for lack of space.
func fillStore(t *testing.T, st *store.Store) {
	t.Helper()
	pad := strings.Repeat("a", 16<<10)
	for i := range 500 {
		_, err := st.CreateURL(store.URL{OriginalURL: fmt.Sprintf("https://example.com/%d/%s", i, pad), IsActive: true})
		if errors.Is(err, store.ErrNoSpace) {
			return
		}
		if err != nil {
			t.Fatalf("filling the store: %v", err)
		}
	}
	t.Fatal("the store never ran out of space")
}

func TestFullStoreRefusesWritesServesReads(t *testing.T) {
	const queue = 8
	logs := &logBuffer{}
	opts := Options{
		Clicks: RecorderOptions{Queue: queue, Flush: 5 * time.Millisecond},
		Log:    slog.New(slog.NewJSONHandler(logs, nil)),
	}
	api, srv := startAPIOnStore(t, opts, &store.Options{MaxSize: 1 << 20, SpaceProbeInterval: 1500 * time.Millisecond})

	cached := api.createURL(t, map[string]any{"original_url": "https://example.com/cached"})
	cachedCode := cached["short_code"].(string)
	wantStatus(t, api.get(t, "/"+cachedCode), http.StatusFound)
	stored := api.createURL(t, map[string]any{"original_url": "https://example.com/stored"})
	waitMetric(t, api, "linkbolt_clicks_flushed_total", 1)

	fillStore(t, srv.store)
	logs.waitFor(t, "store stopped writes: the disk is full")
	if api.metric(t, "linkbolt_store_commit_errors_total") < 1 {
		t.Error("linkbolt_store_commit_errors_total < 1 after a failed commit")
	}
	if got := api.metric(t, "linkbolt_store_writable"); got != 0 {
		t.Errorf("linkbolt_store_writable = %v, want 0", got)
	}

	// Every write is refused with a JSON 503 and the probe interval,
	// rounded up, as Retry-After.
	writes := []apiRequest{
		{method: http.MethodPost, path: "/urls", contentType: "application/json", body: `{"original_url":"https://example.com/new"}`},
		{method: http.MethodPut, path: fmt.Sprintf("/urls/%d", jsonID(t, stored["id"])), contentType: "application/json", body: `{"title":"changed"}`},
		{method: http.MethodDelete, path: fmt.Sprintf("/urls/%d", jsonID(t, cached["id"]))},
		{method: http.MethodPost, path: "/users", contentType: "application/json", body: `{"username":"late","email":"late@example.com"}`},
	}
	for _, req := range writes {
		t.Run(req.method+" "+req.path, func(t *testing.T) {
			resp := api.do(t, req)
			body := wantError(t, resp, http.StatusServiceUnavailable, "")
			if msg, _ := body["error"].(string); !strings.Contains(msg, "disk is full") {
				t.Errorf("error %q does not say that the disk is full", msg)
			}
			if got := resp.header.Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After = %q, want 2", got)
			}
		})
	}

	ready := wantObject(t, api.get(t, "/ready"), http.StatusServiceUnavailable)
	if reason, _ := ready["reason"].(string); !strings.Contains(reason, "disk is full") {
		t.Errorf("/ready reason %q does not say that the disk is full", reason)
	}
	wantStatus(t, api.get(t, "/health"), http.StatusOK)

	// Redirects keep working, from the cache and from the file.
	misses := api.metric(t, `linkbolt_redirects_total{outcome="miss"}`)
	for _, link := range []map[string]any{cached, stored} {
		resp := api.get(t, "/"+link["short_code"].(string))
		wantStatus(t, resp, http.StatusFound)
		if got := resp.header.Get("Location"); got != link["original_url"] {
			t.Errorf("GET /%s: Location %q, want %q", link["short_code"], got, link["original_url"])
		}
	}
	if got := api.metric(t, `linkbolt_redirects_total{outcome="miss"}`); got != misses+1 {
		t.Errorf("redirect misses = %v, want %v: the stored link was read from the file once", got, misses+1)
	}

	// The batch of these two clicks fails, and the recorder holds it. Then
	// the queue fills up, and the clicks beyond it are dropped.
	logs.waitFor(t, "holding clicks until the disk has space")
	const more = 40
	for range more {
		wantStatus(t, api.get(t, "/"+cachedCode), http.StatusFound)
	}
	const clicks = 2 + more
	if got := api.metric(t, "linkbolt_click_queue_depth"); got != 2+queue {
		t.Errorf("linkbolt_click_queue_depth = %v, want the batch of 2 and the queue of %d", got, queue)
	}
	if got := api.metric(t, "linkbolt_clicks_dropped_total"); got != more-queue {
		t.Errorf("linkbolt_clicks_dropped_total = %v, want %d", got, more-queue)
	}
	if got := api.metric(t, "linkbolt_clicks_flushed_total"); got != 1 {
		t.Errorf("linkbolt_clicks_flushed_total = %v, want only the click before the disk was full", got)
	}

	// A shutdown cannot write the held clicks either, and counts them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if got := srv.metrics.clicksDropped.Get(); got != clicks {
		t.Errorf("clicks dropped after shutdown = %d, want all %d", got, clicks)
	}
}

// TestClicksIndexedBeforeReads redirects on a store that indexes clicks
// only when something needs them. The click is written, then waits
// unindexed, and a read of the link counts it and indexes it.
func TestClicksIndexedBeforeReads(t *testing.T) {
	opts := Options{Clicks: RecorderOptions{Flush: 10 * time.Millisecond}}
	api, _ := startAPIOnStore(t, opts, &store.Options{ClickIndexDelay: time.Hour})
	link := api.createURL(t, map[string]any{"original_url": "https://example.com/late", "short_code": "late"})
	wantStatus(t, api.get(t, "/late"), http.StatusFound)

	waitMetric(t, api, "linkbolt_clicks_flushed_total", 1)
	if got := api.metric(t, "linkbolt_clicks_unindexed"); got != 1 {
		t.Errorf("linkbolt_clicks_unindexed = %v after the write, want 1", got)
	}

	resp := api.get(t, fmt.Sprintf("/urls/%v", link["id"]))
	wantStatus(t, resp, http.StatusOK)
	var got struct {
		ClickCount int `json:"click_count"`
	}
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ClickCount != 1 {
		t.Errorf("click_count = %d, want 1", got.ClickCount)
	}
	if got := api.metric(t, "linkbolt_clicks_unindexed"); got != 0 {
		t.Errorf("linkbolt_clicks_unindexed = %v after the read, want 0", got)
	}
}
