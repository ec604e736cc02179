package cli

import "time"

// minRateRequests is the number of requests that a run needs to measure a
// sent rate, because one interval has two ends.
const minRateRequests = 2

// scheduledRequests returns the number of requests that rate schedules
// over d: one for each whole interval of 1/rate seconds that fits in d,
// sent at the start of its interval. It is 0 for rate 0. The product of
// maxBenchRate and maxBenchDuration in nanoseconds fits in a uint64.
func scheduledRequests(rate int, d time.Duration) uint64 {
	return uint64(rate) * uint64(d) / uint64(time.Second)
}

// minBenchDuration returns the shortest duration in which rate schedules
// minRateRequests requests. rate must be positive.
func minBenchDuration(rate int) time.Duration {
	span := int64(minRateRequests) * int64(time.Second)
	return time.Duration((span + int64(rate) - 1) / int64(rate))
}

// benchPacer is a vegeta.Pacer that sends request k of a run k intervals
// after the first, and ends the run after the scheduled requests or at
// the end of the duration, whichever comes first. With rate 0 it sends
// each request as soon as a worker is free, until the duration has passed.
//
// Its clock starts at its first call. vegeta starts the initial workers
// between the start of its own clock and that call, which took 4 to 20 ms
// for 10,000 workers on a 2-core machine. On vegeta's clock the requests
// due in that time would all leave at once when it ends, and the sent rate
// would come out above the offered one.
//
// The attack loop of vegeta calls Pace from a single goroutine, so the
// pacer takes no lock.
type benchPacer struct {
	rate      int // requests per second, 0 for as fast as possible
	duration  time.Duration
	scheduled uint64

	started bool
	offset  time.Duration // vegeta's elapsed time at the first call
}

func newBenchPacer(rate int, d time.Duration) *benchPacer {
	return &benchPacer{rate: rate, duration: d, scheduled: scheduledRequests(rate, d)}
}

// Pace returns the wait before the next request, or stop once the run is
// over. hits is the number of requests sent so far.
func (p *benchPacer) Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool) {
	if !p.started {
		p.started, p.offset = true, elapsed
	}
	elapsed -= p.offset
	if elapsed >= p.duration || p.rate > 0 && hits >= p.scheduled {
		return 0, true
	}
	if p.rate == 0 {
		return 0, false
	}

	// hits is below scheduled, at most 3.6e9, so hits × 1e9 fits in an
	// int64. A request that is already due leaves at once, which is how a
	// generator that fell behind catches up.
	due := time.Duration(hits) * time.Second / time.Duration(p.rate)
	return due - elapsed, false
}

// Rate returns the offered rate in requests per second.
func (p *benchPacer) Rate(time.Duration) float64 {
	return float64(p.rate)
}
