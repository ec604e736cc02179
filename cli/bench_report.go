package cli

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// maxErrorSamples is the number of distinct error messages a report keeps.
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
	samples    []string

	// noResponseSample is the error of the first request that got no
	// response.
	noResponseSample string

	// firstSent, lastSent and lastDone bound the run: the first and last
	// request sent, and the last response received.
	firstSent, lastSent, lastDone time.Time
}

func newBenchStats(bounds []time.Duration) *benchStats {
	s := &benchStats{codes: make(map[int]uint64)}
	if len(bounds) > 0 {
		// A histogram needs a first bucket from zero.
		buckets := append(vegeta.Buckets{0}, bounds...)
		s.histogram = &vegeta.Histogram{Buckets: buckets}
	}
	return s
}

// succeeded reports whether a response is what its request expects: a 3xx
// for a redirect and a 2xx for the rest. A result without a response has
// code 0.
func succeeded(kind benchKind, code uint16) bool {
	if kind == kindRedirect {
		return code >= 300 && code < 400
	}
	return code >= 200 && code < 300
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

	switch {
	case res.Code == 0:
		s.noResponse++
		if s.noResponseSample == "" {
			s.noResponseSample = truncateText(res.Error, 200)
		}
	default:
		s.codes[int(res.Code)]++
	}
	if succeeded(kind, res.Code) {
		s.successful++
		s.kinds[kind].Successful++
		return
	}
	msg := res.Error
	if msg == "" {
		msg = fmt.Sprintf("%s: status %d", kind, res.Code)
	}
	if len(s.samples) < maxErrorSamples && !slices.Contains(s.samples, msg) {
		s.samples = append(s.samples, truncateText(msg, 200))
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
	ErrorSamples []string              `json:"error_samples"`
	Histogram    []histogramBucket     `json:"histogram,omitempty"`

	// noResponseSample is the error of the first request that got no
	// response, for the error that bench exits with.
	noResponseSample string
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
		ErrorSamples: slices.Clip(append([]string{}, s.samples...)),

		noResponseSample: s.noResponseSample,
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
		r.ScheduledRequests = uint64(math.Round(float64(o.rate) * o.duration.Seconds()))
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

	// n requests sent at a constant rate span n-1 intervals, so the sent
	// rate counts intervals. The throughput window gives each request one
	// interval, and grows to the last response when that comes later, so
	// that the throughput never exceeds the sent rate.
	window := r.Elapsed
	if sending := s.lastSent.Sub(s.firstSent).Seconds(); sending > 0 {
		r.SentRate = float64(s.requests-1) / sending
		window = max(window, float64(s.requests)/r.SentRate)
	}
	if window > 0 {
		r.Throughput = float64(s.successful) / window
	}
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
	fmt.Fprintf(tw, "sent rate\t%.1f req/s\n", r.SentRate)
	fmt.Fprintf(tw, "throughput\t%.1f successful req/s\n", r.Throughput)
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
	for _, msg := range r.ErrorSamples {
		fmt.Fprintf(tw, "error sample\t%s\n", msg)
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
