package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// serverMetrics are the metrics of one server, kept in their own set so
// that several servers in one process (as in tests) do not share them. No
// metric carries a label taken from a code, URL, user or client.
type serverMetrics struct {
	set *metrics.Set

	redirectHit      *metrics.Counter
	redirectMiss     *metrics.Counter
	redirectNotFound *metrics.Counter
	redirectInactive *metrics.Counter
	redirectExpired  *metrics.Counter
	redirectError    *metrics.Counter

	clicksFlushed *metrics.Counter
	clicksDropped *metrics.Counter

	commitDuration *metrics.PrometheusHistogram
	commitErrors   *metrics.Counter
}

func newServerMetrics(s *Server) *serverMetrics {
	// The library writes a "# TYPE" line and an empty "# HELP" line before
	// each family. The setting is global to the process, and every server
	// sets it alike.
	// NOTE: VictoriaMetrics/metrics v1.45.0 has no way to give help text,
	// so promtool's lint reports "no help text" for every family.
	metrics.ExposeMetadata(true)
	set := metrics.NewSet()
	outcome := func(name string) *metrics.Counter {
		return set.NewCounter(`linkbolt_redirects_total{outcome="` + name + `"}`)
	}
	m := &serverMetrics{
		set:              set,
		redirectHit:      outcome("hit"),
		redirectMiss:     outcome("miss"),
		redirectNotFound: outcome("not_found"),
		redirectInactive: outcome("inactive"),
		redirectExpired:  outcome("expired"),
		redirectError:    outcome("error"),
		clicksFlushed:    set.NewCounter("linkbolt_clicks_flushed_total"),
		clicksDropped:    set.NewCounter("linkbolt_clicks_dropped_total"),
		commitDuration:   set.NewPrometheusHistogram("linkbolt_store_commit_duration_seconds"),
		commitErrors:     set.NewCounter("linkbolt_store_commit_errors_total"),
	}
	s.store.SetCommitHook(func(d time.Duration, err error) {
		m.commitDuration.Update(d.Seconds())
		if err != nil {
			m.commitErrors.Inc()
		}
	})
	set.RegisterMetricsWriter(func(w io.Writer) { writeStateMetrics(w, s) })
	return m
}

// writeStateMetrics writes the metrics read from the cache, the store and
// the recorder at scrape time.
func writeStateMetrics(w io.Writer, s *Server) {
	st := s.cache.Stats()
	metrics.WriteCounterUint64(w, "linkbolt_cache_hits_total", st.Hits)
	metrics.WriteCounterUint64(w, "linkbolt_cache_misses_total", st.Misses)
	metrics.WriteCounterUint64(w, "linkbolt_cache_evictions_total", st.Evictions)
	metrics.WriteGaugeUint64(w, "linkbolt_cache_entries", uint64(s.cache.Len()))
	metrics.WriteGaugeUint64(w, "linkbolt_click_queue_depth", uint64(max(0, s.clicks.queued())))
	metrics.WriteGaugeUint64(w, "linkbolt_clicks_unindexed", uint64(max(0, s.store.PendingClicks())))
	metrics.WriteGaugeUint64(w, "linkbolt_store_file_size_bytes", storeFileSize(s))

	up := uint64(1)
	if s.store.Err() != nil {
		up = 0
	}
	metrics.WriteGaugeUint64(w, "linkbolt_store_writable", up)
	if free, ok := diskFreeBytes(s.store.Path()); ok {
		metrics.WriteGaugeUint64(w, "linkbolt_store_disk_free_bytes", free)
	}

	metrics.WriteGaugeUint64(w, "linkbolt_ready", readyValue(s))
	if c, err := s.store.Counts(); err == nil {
		metrics.WriteGaugeUint64(w, "linkbolt_users", c.Users)
		metrics.WriteGaugeUint64(w, "linkbolt_links", c.URLs)
		metrics.WriteGaugeUint64(w, "linkbolt_events", c.Events)
	}
}

// storeFileSize returns the size of the database file that stat reports,
// as ls -l shows it. Store.Size, bbolt's Tx.Size, is smaller: it counts
// the pages up to the highest one in use, while bbolt grows the file ahead
// of them (to its next mmap size, and by 16 MiB at a time past 16 MiB).
// When stat fails, it returns Store.Size.
func storeFileSize(s *Server) uint64 {
	info, err := os.Stat(s.store.Path())
	if err != nil {
		return uint64(s.store.Size())
	}
	return uint64(info.Size())
}

// readyValue returns 1 when GET /ready responds 200 and 0 otherwise. It
// runs the handler itself, so that the gauge follows every condition of
// the endpoint.
func readyValue(s *Server) uint64 {
	r, err := http.NewRequest(http.MethodGet, "/ready", nil)
	if err != nil {
		return 0
	}
	var w statusRecorder
	if err := s.ready(&w, r); err != nil || w.status != http.StatusOK {
		return 0
	}
	return 1
}

// statusRecorder is a ResponseWriter that keeps the status and discards
// the body.
type statusRecorder struct {
	header http.Header
	status int
}

func (w *statusRecorder) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// requestDurationBuckets are the upper bounds, in seconds, of the request
// duration histogram. They start at 25 µs because a cached redirect takes
// tens of microseconds, all of which the library's default buckets (5 ms
// and up) count in their lowest bucket.
var requestDurationBuckets = []float64{
	0.000025, 0.00005,
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// routeMetrics are the request metrics of one route.
type routeMetrics struct {
	set      *metrics.Set
	route    string
	duration *metrics.PrometheusHistogram

	// counters holds one counter per method and status class, created on
	// first use so that routes export only the series they served.
	counters [len(methodLabels)][6]atomic.Pointer[metrics.Counter]
}

// methodLabels are the method label values; any other method is "other".
var methodLabels = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "other"}

func (m *serverMetrics) forRoute(pattern string) *routeMetrics {
	route := strconv.Quote(pattern)
	name := `linkbolt_http_request_duration_seconds{route=` + route + `}`
	return &routeMetrics{
		set:      m.set,
		route:    route,
		duration: m.set.NewPrometheusHistogramExt(name, requestDurationBuckets),
	}
}

// observe counts one request and its duration.
func (m *routeMetrics) observe(method string, status int, start time.Time) {
	m.duration.UpdateDuration(start)
	mi := len(methodLabels) - 1
	for i, label := range methodLabels[:mi] {
		if label == method {
			mi = i
			break
		}
	}
	class := min(max(status/100, 1), 5)
	slot := &m.counters[mi][class]
	c := slot.Load()
	if c == nil {
		name := fmt.Sprintf(`linkbolt_http_requests_total{route=%s,method="%s",code="%dxx"}`, m.route, methodLabels[mi], class)
		c = m.set.GetOrCreateCounter(name)
		slot.Store(c)
	}
	c.Inc()
}

// serveMetrics writes the metrics in the Prometheus text format, with the
// Go runtime and process metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
	return nil
}
