package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// maxErrorSamples is the number of kinds of error that a report keeps a
// sample of.
const maxErrorSamples = 5

// behindScheduleShare is the share of the scheduled requests below which a
// report is marked behind schedule. A run that keeps up sends all of them,
// give or take one at the end of the duration.
const behindScheduleShare = 0.9

// benchStats adds up the results of a load run. It is not safe for
// concurrent use: attack adds every result from one goroutine.
type benchStats struct {
	latency    vegeta.LatencyMetrics
	histogram  *vegeta.Histogram
	requests   uint64
	successful uint64
	noResponse uint64
	codes      map[int]uint64
	kinds      [numKinds]kindReport

	// samples contains the first message of each kind of error, up to
	// maxErrorSamples, and sampleIndex maps the kind to its place.
	samples     []errorSample
	sampleIndex map[string]int

	// noResponseSample is the error of the first request that got no
	// response.
	noResponseSample string

	// firstSent, lastSent and lastDone bound the run: the first and last
	// request sent, and the last response received.
	firstSent, lastSent, lastDone time.Time
}

func newBenchStats(bounds []time.Duration) *benchStats {
	s := &benchStats{codes: make(map[int]uint64), sampleIndex: make(map[string]int)}
	if len(bounds) > 0 {
		// A histogram needs a first bucket from zero.
		buckets := append(vegeta.Buckets{0}, bounds...)
		s.histogram = &vegeta.Histogram{Buckets: buckets}
	}
	return s
}

// resultError returns why a result is not what its request expects, or ""
// when it is. A redirect expects a redirect status with a Location (301,
// 302, 303, 307 or 308, not 304 or 300), a create a 201 whose JSON body has
// a short code, and the other kinds a 2xx. A result without a response has
// code 0 and the error of the request.
func resultError(kind benchKind, res *vegeta.Result) string {
	code := res.Code
	switch {
	case code == 0 && res.Error == "":
		return "no response"
	case code == 0:
		return res.Error
	case kind == kindRedirect && isRedirectStatus(code):
		return ""
	case kind == kindCreate && code == http.StatusCreated:
		if hasShortCode(res.Body) {
			return ""
		}
		return "create: status 201 without a short_code in a JSON body: " + bodyExcerpt(res.Body)
	case kind == kindCreate:
		return fmt.Sprintf("create: status %d, want 201", code)
	case kind != kindRedirect && code >= 200 && code < 300:
		return ""
	}
	return fmt.Sprintf("%s: status %d", kind, code)
}

// isRedirectStatus reports whether code sends the client to a Location.
func isRedirectStatus(code uint16) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// hasShortCode reports whether body is a JSON object with a short_code
// that is not empty, as linkbolt returns for a create.
func hasShortCode(body []byte) bool {
	var link struct {
		ShortCode string `json:"short_code"`
	}
	return json.Unmarshal(body, &link) == nil && link.ShortCode != ""
}

// errorKind returns the part of an error message that identifies its kind
// for a request that got no response. Go's wrapped network errors end with
// the innermost cause, after the last ": ", and the text before it contains
// the URL and the local port, which differ from one request to the next.
func errorKind(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// add counts one result of a request of the given kind.
func (s *benchStats) add(res *vegeta.Result, kind benchKind) {
	s.requests++
	s.kinds[kind].Requests++
	s.latency.Add(res.Latency)
	if s.histogram != nil {
		s.histogram.Add(res)
	}
	if s.firstSent.IsZero() || res.Timestamp.Before(s.firstSent) {
		s.firstSent = res.Timestamp
	}
	if res.Timestamp.After(s.lastSent) {
		s.lastSent = res.Timestamp
	}
	if end := res.End(); end.After(s.lastDone) {
		s.lastDone = end
	}

	msg := resultError(kind, res)
	switch {
	case res.Code == 0:
		s.noResponse++
		if s.noResponseSample == "" {
			s.noResponseSample = truncateText(msg, 200)
		}
	default:
		s.codes[int(res.Code)]++
	}
	if msg == "" {
		s.successful++
		s.kinds[kind].Successful++
		return
	}
	s.addError(msg, res.Code == 0)
}

// addError counts an error under its kind. Messages of requests that got
// no response are grouped by errorKind, and the others by their text,
// which names the request kind and the status.
func (s *benchStats) addError(msg string, noResponse bool) {
	key := msg
	if noResponse {
		key = errorKind(msg)
	}
	if i, ok := s.sampleIndex[key]; ok {
		s.samples[i].Count++
		return
	}
	if len(s.samples) < maxErrorSamples {
		s.sampleIndex[key] = len(s.samples)
		s.samples = append(s.samples, errorSample{Error: truncateText(msg, 200), Count: 1})
	}
}

// benchReport is the outcome of a load run, as bench prints it with
// --output json. Rates are per second and latencies in milliseconds.
type benchReport struct {
	Mix         string  `json:"mix"`
	Server      string  `json:"server"`
	Links       int     `json:"links"`
	Zipf        float64 `json:"zipf"`
	OfferedRate int     `json:"offered_rate"` // 0: as fast as the workers allow
	Workers     int     `json:"workers"`
	Connections int     `json:"connections"`
	Duration    float64 `json:"duration_seconds"`

	// HeldConnections is the number of connections opened before the
	// load and used in turn, and Reconnects counts those that failed and
	// were opened again. Both are left out when no connection is held, and
	// Reconnects is written as 0 when one is.
	HeldConnections int  `json:"held_connections,omitempty"`
	Reconnects      *int `json:"reconnects,omitempty"`

	// ScheduledRequests is the number of requests that the offered rate
	// schedules over the duration, 0 for --rate 0. BehindSchedule reports
	// that a run that was not interrupted sent fewer than
	// behindScheduleShare of them. Interrupted reports a run that a
	// signal stopped before the duration had passed.
	ScheduledRequests uint64 `json:"scheduled_requests"`
	BehindSchedule    bool   `json:"behind_schedule"`
	Interrupted       bool   `json:"interrupted"`

	// Elapsed runs from the first request sent to the last response.
	Elapsed    float64 `json:"elapsed_seconds"`
	Requests   uint64  `json:"requests"`
	Successful uint64  `json:"successful"`
	Errors     uint64  `json:"errors"`
	NoResponse uint64  `json:"no_response"`
	SentRate   float64 `json:"sent_rate"`
	Throughput float64 `json:"throughput"`
	ErrorRate  float64 `json:"error_rate"`

	Latency      latencyReport         `json:"latency_ms"`
	StatusCodes  map[string]uint64     `json:"status_codes"`
	Kinds        map[string]kindReport `json:"kinds"`
	ErrorSamples []errorSample         `json:"error_samples"`
	Histogram    []histogramBucket     `json:"histogram,omitempty"`

	// noResponseSample is the error of the first request that got no
	// response, for the error that bench exits with.
	noResponseSample string

	// duration is --duration, for the error that bench exits with.
	duration time.Duration
}

// errorSample is one kind of error of a run: the message of its first
// request, and the number of requests that got an error of that kind.
type errorSample struct {
	Error string `json:"error"`
	Count uint64 `json:"count"`
}

// commonError returns the sample with the most requests, or nil for a run
// without errors.
func (r *benchReport) commonError() *errorSample {
	var common *errorSample
	for i, sample := range r.ErrorSamples {
		if common == nil || sample.Count > common.Count {
			common = &r.ErrorSamples[i]
		}
	}
	return common
}

// latencyReport holds latency percentiles in milliseconds.
type latencyReport struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// kindReport counts the requests of one kind.
type kindReport struct {
	Requests   uint64 `json:"requests"`
	Successful uint64 `json:"successful"`
}

// histogramBucket counts the latencies from FromMS up to ToMS; a nil ToMS
// is no upper bound.
type histogramBucket struct {
	FromMS float64  `json:"from_ms"`
	ToMS   *float64 `json:"to_ms"`
	Count  uint64   `json:"count"`
}

func milliseconds(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// report summarises the results for the options of the run. interrupted
// reports whether a signal stopped the load before its duration passed.
func (s *benchStats) report(o *benchOptions, server string, interrupted bool) *benchReport {
	r := &benchReport{
		Mix:          string(o.mix),
		Server:       server,
		Zipf:         o.zipf,
		OfferedRate:  o.rate,
		Interrupted:  interrupted,
		Workers:      o.workers,
		Connections:  o.connections,
		Duration:     o.duration.Seconds(),
		Requests:     s.requests,
		Successful:   s.successful,
		Errors:       s.requests - s.successful,
		NoResponse:   s.noResponse,
		StatusCodes:  make(map[string]uint64, len(s.codes)),
		Kinds:        make(map[string]kindReport),
		ErrorSamples: slices.Clip(append([]errorSample{}, s.samples...)),

		noResponseSample: s.noResponseSample,
		duration:         o.duration,
	}
	if o.mix != mixCreate {
		r.Links = o.links
	}
	if o.holdConns > 0 {
		// The held connections are all the load used, not --connections.
		r.Connections = o.holdConns
		r.HeldConnections = o.holdConns
	}
	if o.rate > 0 {
		r.ScheduledRequests = scheduledRequests(o.rate, o.duration)
		r.BehindSchedule = !interrupted && float64(s.requests) < behindScheduleShare*float64(r.ScheduledRequests)
	}
	for code, n := range s.codes {
		r.StatusCodes[strconv.Itoa(code)] = n
	}
	for k, kr := range s.kinds {
		if kr.Requests > 0 {
			r.Kinds[benchKind(k).String()] = kr
		}
	}
	if s.requests == 0 {
		return r
	}

	r.ErrorRate = float64(r.Errors) / float64(s.requests)
	r.Elapsed = s.lastDone.Sub(s.firstSent).Seconds()

	r.SentRate, r.Throughput = s.rates(r.Elapsed)
	r.Latency = latencyReport{
		P50:  milliseconds(s.latency.Quantile(0.50)),
		P95:  milliseconds(s.latency.Quantile(0.95)),
		P99:  milliseconds(s.latency.Quantile(0.99)),
		Max:  milliseconds(s.latency.Max),
		Mean: milliseconds(s.latency.Total / time.Duration(s.requests)),
	}
	r.Histogram = s.histogramBuckets()
	return r
}

// rates returns the sent rate and the throughput of a run whose elapsed
// time, from the first request sent to the last response, is elapsed
// seconds. n requests sent at a constant rate span n-1 intervals, so the
// sent rate counts intervals. The throughput window gives each request
// one interval, and grows to the last response when that comes later, so
// that the throughput never exceeds the sent rate. Fewer than two
// requests, or requests all sent at one instant, span no interval: both
// rates are then 0, because the run measured neither.
func (s *benchStats) rates(elapsed float64) (sentRate, throughput float64) {
	sending := s.lastSent.Sub(s.firstSent).Seconds()
	if s.requests < minRateRequests || sending <= 0 {
		return 0, 0
	}
	sentRate = float64(s.requests-1) / sending
	window := max(elapsed, float64(s.requests)/sentRate)

	// The bound holds in exact arithmetic. min drops the rounding error,
	// which can put a run without errors one ulp above its sent rate.
	return sentRate, min(float64(s.successful)/window, sentRate)
}

func (s *benchStats) histogramBuckets() []histogramBucket {
	if s.histogram == nil {
		return nil
	}
	h := s.histogram
	buckets := make([]histogramBucket, len(h.Buckets))
	for i, from := range h.Buckets {
		buckets[i] = histogramBucket{FromMS: milliseconds(from)}
		if i < len(h.Counts) {
			buckets[i].Count = h.Counts[i]
		}
		if i+1 < len(h.Buckets) {
			to := milliseconds(h.Buckets[i+1])
			buckets[i].ToMS = &to
		}
	}
	return buckets
}

// writeBenchTable prints a report as a summary, a table of request kinds,
// one of status codes, the error samples and the histogram.
func writeBenchTable(out io.Writer, r *benchReport) error {
	tw := newTable(out)
	offered := "as fast as possible"
	if r.OfferedRate > 0 {
		offered = fmt.Sprintf("%d req/s", r.OfferedRate)
	}
	links := "-"
	if r.Links > 0 {
		links = strconv.Itoa(r.Links)
		if r.Zipf > 0 {
			links += fmt.Sprintf(" (zipf s=%g)", r.Zipf)
		} else {
			links += " (uniform)"
		}
	}
	fmt.Fprintf(tw, "mix\t%s\n", r.Mix)
	fmt.Fprintf(tw, "server\t%s\n", r.Server)
	fmt.Fprintf(tw, "links\t%s\n", links)
	if r.HeldConnections > 0 {
		reopened := 0
		if r.Reconnects != nil {
			reopened = *r.Reconnects
		}
		fmt.Fprintf(tw, "offered\t%s for %gs, %d workers, %d connections held and used in turn (%d reopened)\n", offered, r.Duration, r.Workers, r.HeldConnections, reopened)
	} else {
		fmt.Fprintf(tw, "offered\t%s for %gs, %d workers, %d connections at most\n", offered, r.Duration, r.Workers, r.Connections)
	}
	fmt.Fprintf(tw, "requests\t%d in %.2fs\n", r.Requests, r.Elapsed)
	if r.SentRate > 0 {
		fmt.Fprintf(tw, "sent rate\t%.1f req/s\n", r.SentRate)
		fmt.Fprintf(tw, "throughput\t%.1f successful req/s\n", r.Throughput)
	} else {
		fmt.Fprintf(tw, "sent rate\tnot measured: needs %d requests sent at different times\n", minRateRequests)
		fmt.Fprintf(tw, "throughput\tnot measured: needs a sent rate\n")
	}
	fmt.Fprintf(tw, "errors\t%d (%.2f%%), %d without a response\n", r.Errors, 100*r.ErrorRate, r.NoResponse)
	l := r.Latency
	fmt.Fprintf(tw, "latency\tp50 %.3fms  p95 %.3fms  p99 %.3fms  max %.3fms  mean %.3fms\n", l.P50, l.P95, l.P99, l.Max, l.Mean)
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "KIND\tREQUESTS\tSUCCESSFUL")
	for _, name := range kindNames {
		if kr, ok := r.Kinds[name]; ok {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", name, kr.Requests, kr.Successful)
		}
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "STATUS\tCOUNT")
	for _, code := range slices.Sorted(maps.Keys(r.StatusCodes)) {
		fmt.Fprintf(tw, "%s\t%d\n", code, r.StatusCodes[code])
	}
	if r.NoResponse > 0 {
		fmt.Fprintf(tw, "none\t%d\n", r.NoResponse)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeBenchExtras(out, r)
}

// writeBenchExtras prints the error samples and the histogram, if any.
func writeBenchExtras(out io.Writer, r *benchReport) error {
	tw := newTable(out)
	if len(r.ErrorSamples) > 0 {
		fmt.Fprintln(tw)
	}
	for _, sample := range r.ErrorSamples {
		fmt.Fprintf(tw, "error sample\t%d requests: %s\n", sample.Count, sample.Error)
	}
	if len(r.Histogram) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "LATENCY\tCOUNT")
		for _, b := range r.Histogram {
			bound := "+Inf"
			if b.ToMS != nil {
				bound = strconv.FormatFloat(*b.ToMS, 'g', -1, 64) + "ms"
			}
			fmt.Fprintf(tw, "[%gms, %s)\t%d\n", b.FromMS, bound, b.Count)
		}
	}
	return tw.Flush()
}
