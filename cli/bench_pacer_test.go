package cli

import (
	"math"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/linkbolt/linkbolt/server"
)

func TestBenchPacer(t *testing.T) {
	// vegeta's clock reads 20ms at the first call, after the workers
	// started; the schedule starts there.
	const offset = 20 * time.Millisecond
	tests := []struct {
		name     string
		rate     int
		elapsed  time.Duration // since the first call
		hits     uint64
		wantWait time.Duration
		wantStop bool
	}{
		{"first request at once", 100, 0, 0, 0, false},
		{"second request one interval later", 100, 4 * time.Millisecond, 1, 6 * time.Millisecond, false},
		{"last scheduled request", 100, 985 * time.Millisecond, 99, 5 * time.Millisecond, false},
		{"late request at once", 100, 500 * time.Millisecond, 20, -300 * time.Millisecond, false},
		{"stop after the scheduled requests", 100, 991 * time.Millisecond, 100, 0, true},
		{"stop at the end of the duration", 100, time.Second, 60, 0, true},
		{"no rate before the end", 0, 999 * time.Millisecond, 5000, 0, false},
		{"no rate at the end", 0, time.Second, 5000, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newBenchPacer(tt.rate, time.Second)
			if wait, stop := p.Pace(offset, 0); wait != 0 || stop {
				t.Fatalf("first call = %v, %v, want 0, false", wait, stop)
			}
			wait, stop := p.Pace(offset+tt.elapsed, tt.hits)
			if stop != tt.wantStop {
				t.Errorf("stop = %v, want %v", stop, tt.wantStop)
			}
			if wait != tt.wantWait {
				t.Errorf("wait = %v, want %v", wait, tt.wantWait)
			}
		})
	}
}

func TestScheduledRequests(t *testing.T) {
	tests := []struct {
		rate     int
		duration time.Duration
		want     uint64
	}{
		{0, time.Second, 0},
		{1, 10 * time.Millisecond, 0},
		{1, time.Second, 1},
		{100, time.Second, 100},
		{3, 1500 * time.Millisecond, 4},
		{3, minBenchDuration(3), 2},
		{maxBenchRate, maxBenchDuration, maxBenchRate * 3600},
	}
	for _, tt := range tests {
		if got := scheduledRequests(tt.rate, tt.duration); got != tt.want {
			t.Errorf("scheduledRequests(%d, %v) = %d, want %d", tt.rate, tt.duration, got, tt.want)
		}
	}
	if got := scheduledRequests(3, minBenchDuration(3)-1); got != 1 {
		t.Errorf("one nanosecond below minBenchDuration(3) schedules %d requests, want 1", got)
	}
}

// redirectResults returns results of redirects sent at the given offsets
// from start, each with a latency of 1ms.
func redirectResults(start time.Time, offsets ...time.Duration) []*vegeta.Result {
	results := make([]*vegeta.Result, len(offsets))
	for i, off := range offsets {
		results[i] = &vegeta.Result{Code: 302, Timestamp: start.Add(off), Latency: time.Millisecond}
	}
	return results
}

func TestBenchRatesEdges(t *testing.T) {
	start := time.Now()
	tests := []struct {
		name           string
		results        []*vegeta.Result
		wantSentRate   float64
		wantThroughput float64
		wantErr        string // "" for a run that exits 0
	}{
		{"no request", nil, 0, 0, "the load sent no request in 1s, so the report measured nothing"},
		{"one request", redirectResults(start, 0), 0, 0, "the load sent 1 request(s) in 1s, too few to measure a rate"},
		{"two at one instant", redirectResults(start, 0, 0), 0, 0, "the load sent 2 request(s) in 1s, too few to measure a rate"},
		{"two requests", redirectResults(start, 0, 500*time.Millisecond), 2, 2, ""},
		{"three requests", redirectResults(start, 0, 250*time.Millisecond, 500*time.Millisecond), 4, 4, ""},
	}
	o := &benchOptions{mix: mixRedirect, links: 5, rate: 2, duration: time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stats := newBenchStats(nil)
			for _, res := range tt.results {
				stats.add(res, kindRedirect)
			}
			rep := stats.report(o, "http://127.0.0.1:1", false)

			if math.Abs(rep.SentRate-tt.wantSentRate) > 1e-9 {
				t.Errorf("sent rate = %v, want %v", rep.SentRate, tt.wantSentRate)
			}
			if math.Abs(rep.Throughput-tt.wantThroughput) > 1e-9 {
				t.Errorf("throughput = %v, want %v", rep.Throughput, tt.wantThroughput)
			}
			if rep.Throughput > rep.SentRate {
				t.Errorf("throughput %v is above the sent rate %v", rep.Throughput, rep.SentRate)
			}
			err := rep.failure("http://127.0.0.1:1")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("failure = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("failure = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestBenchOneRequestFails(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})

	// With --rate 0 a short --duration cannot be rejected up front: the first
	// request leaves at once, and 1ns has passed before a second one.
	res := s.cli(t, "bench", "--links", "5", "--rate", "0", "--duration", "1ns", "--output", "json")
	expectExit(t, res, exitFailure, "the load sent 1 request(s) in 1ns, too few to measure a rate")
	var rep benchReport
	decodeOutput(t, res, &rep)
	if rep.Requests != 1 {
		t.Errorf("requests = %d, want 1", rep.Requests)
	}
	if rep.SentRate != 0 || rep.Throughput != 0 {
		t.Errorf("sent rate %v and throughput %v, want 0 for a rate that was not measured", rep.SentRate, rep.Throughput)
	}
	if kinds, _, _, _ := load.snapshot(); kinds["redirect"] != 1 {
		t.Errorf("server got %d redirects, want 1", kinds["redirect"])
	}

	res = s.cli(t, "bench", "--links", "5", "--rate", "0", "--duration", "1ns")
	expectExit(t, res, exitFailure)
	for _, want := range []string{
		"sent rate   not measured: needs 2 requests sent at different times\n",
		"throughput  not measured: needs a sent rate\n",
	} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output does not contain %q:\n%s", want, res.out)
		}
	}
}

func TestBenchMinimumDuration(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})

	// At 2/s the shortest run is 1s: requests at 0 and 500ms.
	rep := runBenchJSON(t, s, "--links", "5", "--rate", "2", "--duration", "1s")
	if rep.ScheduledRequests != 2 || rep.Requests != 2 {
		t.Errorf("scheduled %d and sent %d requests, want 2 and 2", rep.ScheduledRequests, rep.Requests)
	}
	// A timer that fires late lowers the rate. No request leaves before
	// its time, so nothing raises it.
	if rep.SentRate > 2.01 || rep.SentRate < 1.6 {
		t.Errorf("sent rate = %v, want 1.6 to 2.01 at an offered 2/s", rep.SentRate)
	}
	if rep.Throughput <= 0 || rep.Throughput > rep.SentRate {
		t.Errorf("throughput = %v, want above 0 and at most the sent rate %v", rep.Throughput, rep.SentRate)
	}
	if kinds, _, _, _ := load.snapshot(); kinds["redirect"] != 2 {
		t.Errorf("server got %d redirects, want 2", kinds["redirect"])
	}
}

func TestBenchManyWorkersKeepRate(t *testing.T) {
	clearEnv(t)
	s, _ := startBenchServer(t, server.Options{})

	// Starting 10,000 workers takes milliseconds. The schedule starts
	// after them, so no requests leave back to back to catch up, and the
	// sent rate stays at or just below the offered 100/s. A timer that
	// fires late, by tens of milliseconds on a busy machine, only lowers
	// it.
	rep := runBenchJSON(t, s, "--links", "5", "--rate", "100", "--duration", "1s", "--workers", "10000")
	if rep.ScheduledRequests != 100 {
		t.Errorf("scheduled_requests = %d, want 100", rep.ScheduledRequests)
	}
	if rep.Requests < 90 || rep.Requests > 100 {
		t.Errorf("requests = %d, want the 100 scheduled, or a few fewer if the last came after 1s", rep.Requests)
	}
	if rep.SentRate > 100.5 || rep.SentRate < 90 {
		t.Errorf("sent rate = %v, want 90 to 100.5 at an offered 100/s", rep.SentRate)
	}
	if rep.Throughput > rep.SentRate {
		t.Errorf("throughput %v is above the sent rate %v", rep.Throughput, rep.SentRate)
	}
}
