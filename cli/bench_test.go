package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/linkbolt/linkbolt/server"
)

// benchLoad counts, on the server side, the requests of a bench load run:
// those that carry the X-Vegeta-Attack header of bench. Seeding requests
// carry none and are not counted.
type benchLoad struct {
	mu          sync.Mutex
	kinds       map[string]int
	codes       map[string]int // redirects by code
	conns       map[string]bool
	inflight    int
	maxInflight int
}

// wrap counts the load requests that reach h.
func (l *benchLoad) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vegeta-Attack") != benchAttackName {
			h.ServeHTTP(w, r)
			return
		}
		l.mu.Lock()
		l.kinds[requestKind(r)]++
		if requestKind(r) == "redirect" {
			l.codes[strings.TrimPrefix(r.URL.Path, "/")]++
		}
		l.conns[r.RemoteAddr] = true
		l.inflight++
		l.maxInflight = max(l.maxInflight, l.inflight)
		l.mu.Unlock()

		h.ServeHTTP(w, r)

		l.mu.Lock()
		l.inflight--
		l.mu.Unlock()
	})
}

// requestKind names the kind of a request as the report of bench does.
func requestKind(r *http.Request) string {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/urls":
		return "create"
	case r.Method == http.MethodGet && r.URL.Path == "/urls":
		return "list"
	case r.Method == http.MethodGet && r.URL.Path == "/health":
		return "health"
	case r.Method == http.MethodGet:
		return "redirect"
	}
	return r.Method + " " + r.URL.Path
}

// snapshot returns copies of the counts.
func (l *benchLoad) snapshot() (kinds, codes map[string]int, conns, maxInflight int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kinds, codes = make(map[string]int), make(map[string]int)
	for k, v := range l.kinds {
		kinds[k] = v
	}
	for k, v := range l.codes {
		codes[k] = v
	}
	return kinds, codes, len(l.conns), l.maxInflight
}

// startBenchServer starts a server with opts on a new database file whose
// load requests are counted.
func startBenchServer(t *testing.T, opts server.Options) (*apiServer, *benchLoad) {
	t.Helper()
	load := &benchLoad{kinds: map[string]int{}, codes: map[string]int{}, conns: map[string]bool{}}
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "bench.db"), nil, opts, load.wrap)
	return s, load
}

// runBenchJSON runs bench against s with args and --output json, and
// returns the report of a run that exited 0.
func runBenchJSON(t *testing.T, s *apiServer, args ...string) benchReport {
	t.Helper()
	res := s.cli(t, append([]string{"bench", "--output", "json"}, args...)...)
	expectExit(t, res, exitOK)
	var rep benchReport
	decodeOutput(t, res, &rep)
	return rep
}

// urlCount returns the number of links in the store of s.
func urlCount(t *testing.T, s *apiServer) uint64 {
	t.Helper()
	c, err := s.store.Counts()
	if err != nil {
		t.Fatal(err)
	}
	return c.URLs
}

func TestBenchMixes(t *testing.T) {
	clearEnv(t)
	const links = 20

	// At 200 requests per second for half a second, bench sends about 100
	// requests, so each kind comes within a request or two of its percent.
	tests := []struct {
		name    string
		mix     string
		percent map[string]int
		status  map[string]int // status code of each kind
		seeded  uint64
	}{
		{"redirect", "redirect", map[string]int{"redirect": 100}, map[string]int{"redirect": 302}, links},
		{"hackathon", "hackathon",
			map[string]int{"redirect": 80, "list": 10, "create": 7, "health": 3},
			map[string]int{"redirect": 302, "list": 200, "create": 201, "health": 200}, links},
		{"create", "create", map[string]int{"create": 100}, map[string]int{"create": 201}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, load := startBenchServer(t, server.Options{})
			args := []string{"--mix", tt.mix, "--rate", "200", "--duration", "500ms"}
			if tt.seeded > 0 {
				args = append(args, "--links", fmt.Sprint(links))
			}
			rep := runBenchJSON(t, s, args...)
			kinds, _, _, _ := load.snapshot()

			if rep.Requests < 80 || rep.Requests > 102 {
				t.Errorf("requests = %d, want about 100 at 200/s for 500ms", rep.Requests)
			}
			if rep.Errors != 0 || rep.Successful != rep.Requests {
				t.Errorf("errors = %d, successful = %d of %d, want no errors; samples %+v", rep.Errors, rep.Successful, rep.Requests, rep.ErrorSamples)
			}
			var served uint64
			for kind, n := range kinds {
				served += uint64(n)
				if tt.percent[kind] == 0 {
					t.Errorf("server got %d %s requests, want none", n, kind)
				}
			}
			if served != rep.Requests {
				t.Errorf("server got %d load requests, report says %d", served, rep.Requests)
			}

			wantStatus := map[string]uint64{}
			for kind, percent := range tt.percent {
				got := kinds[kind]
				if uint64(got) != rep.Kinds[kind].Requests {
					t.Errorf("%s: server got %d, report says %d", kind, got, rep.Kinds[kind].Requests)
				}
				want := float64(rep.Requests) * float64(percent) / 100
				if math.Abs(float64(got)-want) > 2 {
					t.Errorf("%s: %d of %d requests, want %.1f (%d%%)", kind, got, rep.Requests, want, percent)
				}
				wantStatus[fmt.Sprint(tt.status[kind])] += uint64(got)
			}
			if fmt.Sprint(rep.StatusCodes) != fmt.Sprint(wantStatus) {
				t.Errorf("status codes = %v, want %v", rep.StatusCodes, wantStatus)
			}

			// The store holds the seeded links and those the load created.
			if got, want := urlCount(t, s), tt.seeded+uint64(kinds["create"]); got != want {
				t.Errorf("store holds %d links, want %d seeded and created", got, want)
			}
		})
	}
}

func TestBenchReport(t *testing.T) {
	clearEnv(t)
	s, _ := startBenchServer(t, server.Options{})
	rep := runBenchJSON(t, s, "--links", "5", "--rate", "100", "--duration", "300ms", "--histogram", "1ms,1s")

	checks := []struct {
		name string
		ok   bool
	}{
		{"mix", rep.Mix == "redirect"},
		{"server", rep.Server == s.url},
		{"links", rep.Links == 5},
		{"offered rate", rep.OfferedRate == 100},
		{"duration", rep.Duration == 0.3},
		{"sent rate near 100/s", rep.SentRate > 60 && rep.SentRate < 140},
		{"throughput positive", rep.Throughput > 0 && rep.Throughput <= rep.SentRate*1.2},
		{"error rate", rep.ErrorRate == 0},
		{"latency order", 0 < rep.Latency.P50 && rep.Latency.P50 <= rep.Latency.P95 && rep.Latency.P95 <= rep.Latency.P99 && rep.Latency.P99 <= rep.Latency.Max},
		{"elapsed covers the duration", rep.Elapsed >= 0.25},
		{"three histogram buckets", len(rep.Histogram) == 3},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not as expected in %+v", c.name, rep)
		}
	}
	var counted uint64
	for _, b := range rep.Histogram {
		counted += b.Count
	}
	if counted != rep.Requests {
		t.Errorf("histogram counts %d requests, want %d", counted, rep.Requests)
	}
	if len(rep.Histogram) == 3 && (rep.Histogram[0].FromMS != 0 || *rep.Histogram[0].ToMS != 1 || rep.Histogram[2].ToMS != nil) {
		t.Errorf("histogram buckets %+v, want [0,1ms) [1ms,1000ms) [1000ms,+Inf)", rep.Histogram)
	}
}

func TestBenchTable(t *testing.T) {
	clearEnv(t)
	s, _ := startBenchServer(t, server.Options{})
	res := s.cli(t, "bench", "--mix", "hackathon", "--links", "5", "--rate", "100", "--duration", "200ms")
	expectExit(t, res, exitOK)
	for _, want := range []string{
		"mix         hackathon\n",
		"links       5 (uniform)\n",
		"offered     100 req/s for 0.2s",
		"errors      0 (0.00%), 0 without a response\n",
		"latency     p50 ",
		"KIND      REQUESTS  SUCCESSFUL\nredirect  ",
		"STATUS  COUNT\n",
		"302     ",
	} {
		if !strings.Contains(res.out, want) {
			t.Errorf("output does not contain %q:\n%s", want, res.out)
		}
	}
}

func TestBenchNoFollow(t *testing.T) {
	clearEnv(t)
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)

	s, load := startBenchServer(t, server.Options{})
	reused := map[string]bool{}
	for i := range 3 {
		u := s.createLink(t, map[string]any{"original_url": fmt.Sprintf("%s/page/%d", target.URL, i)})
		reused[u.ShortCode] = true
	}

	rep := runBenchJSON(t, s, "--reuse", "--links", "3", "--rate", "100", "--duration", "300ms")
	_, codes, _, _ := load.snapshot()
	if n := followed.Load(); n != 0 {
		t.Errorf("redirect targets got %d requests, want none", n)
	}
	if rep.StatusCodes["302"] != rep.Requests || rep.Requests == 0 {
		t.Errorf("status codes %v of %d requests, want only 302", rep.StatusCodes, rep.Requests)
	}
	for code := range codes {
		if !reused[code] {
			t.Errorf("redirect of code %q, which is not one of the reused links", code)
		}
	}
	if n := urlCount(t, s); n != 3 {
		t.Errorf("store holds %d links after --reuse of 3, want 3", n)
	}
}

func TestBenchReuseSeedsMissing(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})
	plain := s.createLink(t, map[string]any{"original_url": "https://example.com/plain"})
	s.createLink(t, map[string]any{"original_url": "https://example.com/limited", "max_clicks": 1})
	inactive := s.createLink(t, map[string]any{"original_url": "https://example.com/off", "is_active": false})

	rep := runBenchJSON(t, s, "--reuse", "--links", "4", "--rate", "200", "--duration", "300ms")
	_, codes, _, _ := load.snapshot()

	// One link is reusable; the limited and inactive ones are skipped, so
	// three links are seeded.
	if n := urlCount(t, s); n != 6 {
		t.Errorf("store holds %d links, want 3 given and 3 seeded", n)
	}
	if rep.Errors != 0 {
		t.Errorf("errors = %d, want none; samples %+v", rep.Errors, rep.ErrorSamples)
	}
	if len(codes) > 4 {
		t.Errorf("redirects went to %d codes, want at most 4", len(codes))
	}
	if codes[inactive.ShortCode] != 0 {
		t.Errorf("inactive link %s got %d redirects, want none", inactive.ShortCode, codes[inactive.ShortCode])
	}
	// About 60 uniform draws over 4 links all miss one with a chance of
	// (3/4)^60, below one in ten million.
	if codes[plain.ShortCode] == 0 {
		t.Errorf("reused link %s got no redirect in %d requests", plain.ShortCode, rep.Requests)
	}
}

func TestBenchZipf(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})
	rep := runBenchJSON(t, s, "--links", "50", "--zipf", "2", "--rate", "200", "--duration", "500ms")
	_, codes, _, _ := load.snapshot()

	// With s = 2 over 50 links, the first seeded link draws about 62% of
	// the requests.
	hot, hotCount := "", 0
	for code, n := range codes {
		if n > hotCount {
			hot, hotCount = code, n
		}
	}
	if share := float64(hotCount) / float64(rep.Requests); share < 0.4 {
		t.Errorf("most requested code has %.0f%% of the requests, want about 62%%", 100*share)
	}
	u, err := s.store.GetURLByCode(hot)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(u.OriginalURL, "/seed/0") {
		t.Errorf("most requested link targets %s, want the first seeded link", u.OriginalURL)
	}
}

func TestZipfPicker(t *testing.T) {
	tests := []struct {
		name string
		n    int
		s    float64
	}{
		{"one link", 1, 1.5},
		{"s 1.1", 1000, 1.1},
		{"s 2", 100, 2},
	}
	const draws = 200_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pick := zipfPicker(tt.n, tt.s)
			counts := make([]int, tt.n)
			for range draws {
				i := pick()
				if i < 0 || i >= tt.n {
					t.Fatalf("picked %d, want 0 to %d", i, tt.n-1)
				}
				counts[i]++
			}

			// Index k comes with a chance proportional to 1/(k+1)^s.
			var norm float64
			for k := range tt.n {
				norm += math.Pow(float64(k+1), -tt.s)
			}
			for k := range min(tt.n, 3) {
				want := math.Pow(float64(k+1), -tt.s) / norm
				got := float64(counts[k]) / draws
				if math.Abs(got-want) > 0.01 {
					t.Errorf("index %d drawn %.4f of the time, want %.4f", k, got, want)
				}
			}
		})
	}
}

func TestMixSchedule(t *testing.T) {
	for mix, weights := range mixWeights {
		t.Run(string(mix), func(t *testing.T) {
			schedule := mixSchedule(mix)
			if len(schedule) != 100 {
				t.Fatalf("schedule has %d entries, want 100", len(schedule))
			}
			for _, w := range weights {
				n := 0
				for _, k := range schedule {
					if k == w.kind {
						n++
					}
				}
				if n != w.percent {
					t.Errorf("%s appears %d times, want %d", w.kind, n, w.percent)
				}
			}
		})
	}
}

func TestBenchWorkers(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})
	rep := runBenchJSON(t, s, "--links", "5", "--rate", "0", "--workers", "3", "--duration", "300ms")
	_, _, _, maxInflight := load.snapshot()

	if rep.Requests < 10 {
		t.Errorf("requests = %d, want many as fast as possible", rep.Requests)
	}
	if maxInflight > 3 {
		t.Errorf("server had %d load requests in flight, want at most 3 workers", maxInflight)
	}
	if rep.OfferedRate != 0 || rep.Workers != 3 {
		t.Errorf("offered rate %d and workers %d, want 0 and 3", rep.OfferedRate, rep.Workers)
	}
}

func TestBenchConnections(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})
	runBenchJSON(t, s, "--links", "5", "--rate", "0", "--workers", "8", "--connections", "2", "--duration", "300ms")
	_, _, conns, _ := load.snapshot()

	if conns < 1 || conns > 2 {
		t.Errorf("load came over %d connections, want 1 or 2", conns)
	}
}

func TestBenchHoldConnections(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})
	rep := runBenchJSON(t, s, "--links", "5", "--rate", "400", "--hold-connections", "40", "--duration", "500ms")
	kinds, _, conns, _ := load.snapshot()

	// 200 requests over 40 connections taken in turn use every one.
	if conns != 40 {
		t.Errorf("load came over %d connections, want all 40 held", conns)
	}
	if rep.HeldConnections != 40 {
		t.Errorf("held_connections = %d, want 40", rep.HeldConnections)
	}
	if rep.Connections != 40 {
		t.Errorf("connections = %d, want the 40 held", rep.Connections)
	}
	if rep.Reconnects == nil {
		t.Error("reconnects is left out of the report of held connections, want 0")
	} else if rep.Errors != 0 || *rep.Reconnects != 0 {
		t.Errorf("%d errors and %d reconnects, want none: %v", rep.Errors, *rep.Reconnects, rep.ErrorSamples)
	}
	if kinds["redirect"] != int(rep.Requests) || rep.Requests < 150 {
		t.Errorf("server saw %d redirects, report %d requests; want the same, about 200", kinds["redirect"], rep.Requests)
	}
}

func TestBenchAPIKey(t *testing.T) {
	clearEnv(t)
	const key = "bench-key-0123456789"
	s, _ := startBenchServer(t, server.Options{APIKeys: []string{key}})
	t.Setenv(apiKeyEnv, key)

	rep := runBenchJSON(t, s, "--mix", "hackathon", "--links", "5", "--rate", "200", "--duration", "300ms")
	if rep.Errors != 0 {
		t.Errorf("errors = %d with the API key, want none; samples %+v", rep.Errors, rep.ErrorSamples)
	}
	if rep.Kinds["list"].Requests == 0 || rep.Kinds["create"].Requests == 0 {
		t.Errorf("kinds %v, want list and create requests, which need the key", rep.Kinds)
	}
}

func TestBenchUnavailable(t *testing.T) {
	clearEnv(t)
	closed := closedServerURL(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"seeding fails", []string{"--mix", "redirect"}, "seeding links: POST " + closed + "/urls"},
		{"probe fails", []string{"--mix", "create"}, "checking the server before the load: GET " + closed + "/urls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every mix fails before the load, so the run ends well
			// before its duration.
			const duration = 5 * time.Second
			args := append([]string{"bench", "--server", closed, "--rate", "50", "--duration", duration.String()}, tt.args...)
			start := time.Now()
			res := runCommand(t, args...)
			expectExit(t, res, exitUnavailable, "connection refused", tt.wantErr)
			if elapsed := time.Since(start); elapsed >= duration {
				t.Errorf("bench took %v, want it to fail before the %v load", elapsed, duration)
			}
			if res.out != "" {
				t.Errorf("stdout = %q, want no report", res.out)
			}
		})
	}
}

func TestBenchCreateRejectedKey(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{APIKeys: []string{"bench-key-0123456789"}})

	start := time.Now()
	res := s.cli(t, "bench", "--mix", "create", "--rate", "50", "--duration", "5s")
	expectExit(t, res, exitRejected, "checking the server before the load", "401", "set "+apiKeyEnv)
	if elapsed := time.Since(start); elapsed >= 5*time.Second {
		t.Errorf("bench took %v, want it to fail before the load", elapsed)
	}
	if kinds, _, _, _ := load.snapshot(); len(kinds) != 0 {
		t.Errorf("server got load requests %v, want none", kinds)
	}
	if n := urlCount(t, s); n != 0 {
		t.Errorf("store holds %d links, want none", n)
	}
}

func TestBenchBehindSchedule(t *testing.T) {
	clearEnv(t)

	// Two workers over a server that takes 50 ms per request send about
	// 40 requests per second, a fifth of the 200 that --rate schedules.
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "slow.db"), nil, server.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Vegeta-Attack") == benchAttackName {
				time.Sleep(50 * time.Millisecond)
			}
			next.ServeHTTP(w, r)
		})
	})
	var out, warnings bytes.Buffer
	o := &benchOptions{
		client:      clientOptions{server: s.url, timeout: 5 * time.Second, output: outputJSON},
		mix:         mixRedirect,
		links:       5,
		rate:        200,
		duration:    time.Second,
		workers:     1,
		connections: defaultBenchConnections,
		maxWorkers:  2,
		warnings:    &warnings,
	}
	if err := runBench(t.Context(), &out, o); err != nil {
		t.Fatalf("bench: %v", err)
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if rep.ScheduledRequests != 200 {
		t.Errorf("scheduled_requests = %d, want 200", rep.ScheduledRequests)
	}
	if rep.Requests >= 100 {
		t.Errorf("requests = %d, want far fewer than 200 from two slow workers", rep.Requests)
	}
	if !rep.BehindSchedule {
		t.Errorf("behind_schedule = false with %d of %d requests sent", rep.Requests, rep.ScheduledRequests)
	}
	want := fmt.Sprintf("warning: sent %d of the 200 requests that --rate 200 schedules in 1s", rep.Requests)
	if !strings.Contains(warnings.String(), want) {
		t.Errorf("warnings %q do not contain %q", warnings.String(), want)
	}
}

func TestBenchOnSchedule(t *testing.T) {
	clearEnv(t)
	s, _ := startBenchServer(t, server.Options{})
	res := s.cli(t, "bench", "--output", "json", "--links", "5", "--rate", "100", "--duration", "500ms")
	expectExit(t, res, exitOK)
	var rep benchReport
	decodeOutput(t, res, &rep)
	if rep.ScheduledRequests != 50 {
		t.Errorf("scheduled_requests = %d, want 50", rep.ScheduledRequests)
	}
	if rep.BehindSchedule || rep.Interrupted {
		t.Errorf("behind_schedule = %v, interrupted = %v, want both false for %d of %d requests",
			rep.BehindSchedule, rep.Interrupted, rep.Requests, rep.ScheduledRequests)
	}
	if strings.Contains(res.errOut, "warning") {
		t.Errorf("stderr %q has a warning for a run on schedule", res.errOut)
	}
	for _, field := range []string{`"scheduled_requests":`, `"behind_schedule":`, `"interrupted":`} {
		if !strings.Contains(res.out, field) {
			t.Errorf("report lacks %s: %s", field, res.out)
		}
	}
}

func TestBenchInterrupted(t *testing.T) {
	clearEnv(t)
	s, load := startBenchServer(t, server.Options{})
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)

	// The context ends as the command's context does on SIGINT, once the
	// load has started.
	go func() {
		for {
			if kinds, _, _, _ := load.snapshot(); kinds["redirect"] >= 10 {
				cancel(&interruptedError{os.Interrupt})
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	var out bytes.Buffer
	o := &benchOptions{
		client:      clientOptions{server: s.url, timeout: 5 * time.Second, output: outputJSON},
		mix:         mixRedirect,
		links:       5,
		rate:        100,
		duration:    20 * time.Second,
		workers:     1,
		connections: defaultBenchConnections,
	}
	start := time.Now()
	err := runBench(ctx, &out, o)
	if elapsed := time.Since(start); elapsed >= 10*time.Second {
		t.Errorf("bench took %v after the interrupt, want it to stop", elapsed)
	}
	if err == nil || !strings.Contains(err.Error(), "the load was interrupted by SIGINT after ") {
		t.Fatalf("bench error = %v, want the interruption", err)
	}
	if interrupted, ok := errors.AsType[*interruptedError](err); !ok || interrupted.exitCode() != exitInterrupted {
		t.Errorf("bench error %v does not wrap the interruption of exit code %d", err, exitInterrupted)
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if !rep.Interrupted {
		t.Errorf("interrupted = false in %s", out.String())
	}
	if rep.BehindSchedule {
		t.Errorf("behind_schedule = true, want false for an interrupted run")
	}
	if rep.Requests < 10 || rep.Requests >= 2000 {
		t.Errorf("requests = %d, want the few sent before the interrupt", rep.Requests)
	}
}

func TestBenchThroughputBounded(t *testing.T) {
	// 100 requests sent 10 ms apart, each with a latency of 1 ms, as in a
	// run at 100/s for 1s that keeps up.
	stats := newBenchStats(nil)
	start := time.Now()
	for i := range 100 {
		stats.add(&vegeta.Result{
			Code:      302,
			Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond),
			Latency:   time.Millisecond,
		}, kindRedirect)
	}
	o := &benchOptions{mix: mixRedirect, links: 5, rate: 100, duration: time.Second}
	rep := stats.report(o, "http://127.0.0.1:1", false)

	if math.Abs(rep.SentRate-100) > 1e-9 {
		t.Errorf("sent rate = %v, want 100", rep.SentRate)
	}
	if rep.Throughput > rep.SentRate {
		t.Errorf("throughput %v is above the sent rate %v", rep.Throughput, rep.SentRate)
	}
	if math.Abs(rep.Throughput-100) > 1e-9 {
		t.Errorf("throughput = %v, want 100", rep.Throughput)
	}

	// A response that comes after the last interval widens the window.
	stats.add(&vegeta.Result{Code: 302, Timestamp: start.Add(time.Second), Latency: 2 * time.Second}, kindRedirect)
	rep = stats.report(o, "http://127.0.0.1:1", false)
	if want := 101 / 3.0; math.Abs(rep.Throughput-want) > 1e-9 {
		t.Errorf("throughput = %v, want %v: 101 responses in 3 s", rep.Throughput, want)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	clearEnv(t)

	// A command that accepted its flags by mistake would reach the closed
	// server and exit 5, not 2.
	closed := closedServerURL(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown mix", []string{"--mix", "read"}, `mix "read"`},
		{"negative rate", []string{"--rate", "-1"}, "--rate -1"},
		{"rate too high", []string{"--rate", "2000000"}, "--rate 2000000"},
		{"zero duration", []string{"--duration", "0s"}, "--duration 0s"},
		{"duration too long", []string{"--duration", "2h"}, "--duration 2h0m0s"},
		{"duration below one interval", []string{"--duration", "1ns"},
			"invalid --duration 1ns at --rate 1000: it schedules 0 request(s), and a sent rate needs at least 2; give --duration 2ms or more"},
		{"duration of one request", []string{"--rate", "1", "--duration", "1s"},
			"invalid --duration 1s at --rate 1: it schedules 1 request(s), and a sent rate needs at least 2; give --duration 2s or more"},
		{"duration below two intervals", []string{"--rate", "3", "--duration", "600ms"},
			"give --duration 666.666667ms or more"},
		{"zero workers", []string{"--workers", "0"}, "--workers 0"},
		{"zero connections", []string{"--connections", "0"}, "--connections 0"},
		{"negative held connections", []string{"--hold-connections", "-1"}, "--hold-connections -1"},
		{"too many held connections", []string{"--hold-connections", "70000"}, "--hold-connections 70000"},
		{"connections below held connections", []string{"--connections", "10", "--hold-connections", "20"}, "invalid --connections 10 with --hold-connections 20"},
		{"connections above held connections", []string{"--connections", "2000", "--hold-connections", "20"}, "invalid --connections 2000 with --hold-connections 20"},
		{"links with create", []string{"--mix", "create", "--links", "5"}, "invalid --links with --mix create"},
		{"default links with create", []string{"--mix", "create", "--links", "1000"}, "invalid --links with --mix create"},
		{"reuse with create", []string{"--mix", "create", "--reuse"}, "invalid --reuse with --mix create"},
		{"zipf with create", []string{"--mix", "create", "--zipf", "2"}, "invalid --zipf with --mix create"},
		{"server port too high", []string{"--server", "http://127.0.0.1:99999"}, `invalid --server "http://127.0.0.1:99999": port 99999 is outside 1 to 65535`},
		{"server port zero", []string{"--server", "http://127.0.0.1:0"}, `invalid --server "http://127.0.0.1:0": port 0 is outside 1 to 65535`},
		{"zero links", []string{"--links", "0"}, "--links 0"},
		{"too many links", []string{"--links", "3000000"}, "--links 3000000"},
		{"zipf of 1", []string{"--zipf", "1"}, "--zipf 1"},
		{"zipf below 1", []string{"--zipf", "0.5"}, "--zipf 0.5"},
		{"zipf not a number", []string{"--zipf", "NaN"}, "--zipf NaN"},
		{"zipf not a float", []string{"--zipf", "steep"}, "zipf"},
		{"histogram not increasing", []string{"--histogram", "5ms,1ms"}, "--histogram"},
		{"unknown output", []string{"--output", "xml"}, "xml"},
		{"argument", []string{"extra"}, "extra"},
		{"invalid server", []string{"--server", "ftp://127.0.0.1"}, "invalid --server"},
		{"zero timeout", []string{"--timeout", "0s"}, "--timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench", "--server", closed}, tt.args...)
			res := runCommand(t, args...)
			expectExit(t, res, exitUsage, tt.wantErr)
		})
	}
}

func TestBenchHeldConnectionsAboveDefault(t *testing.T) {
	clearEnv(t)
	closed := closedServerURL(t)

	// --connections bounds the connections opened as needed, which held
	// connections replace, so its default does not bound them: bench
	// accepts the flags, and fails only because no server listens.
	res := runCommand(t, "bench", "--server", closed, "--mix", "redirect", "--duration", "1s",
		"--hold-connections", strconv.Itoa(defaultBenchConnections+1))
	expectExit(t, res, exitUnavailable, "seeding links", "connection refused")

	// Without --connections on the command line, its default is no
	// contradiction.
	o := benchOptions{mix: mixCreate, rate: 10, duration: time.Second, workers: 1,
		connections: defaultBenchConnections, holdConns: 20}
	if err := o.validate(); err != nil {
		t.Errorf("validate with --hold-connections 20: %v", err)
	}
}

func TestBenchRemoteRejected(t *testing.T) {
	clearEnv(t)

	// The addresses are documentation addresses and names, which the
	// check rejects before any connection.
	for _, server := range []string{"http://192.0.2.1:8080", "http://[2001:db8::1]:8080", "http://example.com", "http://127.0.0.1.example.com"} {
		t.Run(server, func(t *testing.T) {
			res := runCommand(t, "bench", "--server", server, "--duration", "1s")
			expectExit(t, res, exitUsage, "not a loopback address", "--allow-remote")
			if res.out != "" {
				t.Errorf("stdout = %q, want empty", res.out)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		name        string
		server      string
		allowRemote bool
		wantErr     bool
	}{
		{"ipv4 loopback", "http://127.0.0.1:8080", false, false},
		{"other loopback address", "http://127.1.2.3:8080", false, false},
		{"ipv6 loopback", "http://[::1]:8080", false, false},
		{"mapped loopback", "http://[::ffff:127.0.0.1]:8080", false, false},
		{"localhost", "http://LocalHost:8080", false, false},
		{"private address", "http://10.0.0.1:8080", false, true},
		{"unspecified address", "http://0.0.0.0:8080", false, true},
		{"name", "https://example.com", false, true},
		{"remote allowed", "https://example.com", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLoopback(tt.server, "--server", tt.allowRemote)
			if (err != nil) != tt.wantErr {
				t.Errorf("checkLoopback(%q, %v) = %v, want error %v", tt.server, tt.allowRemote, err, tt.wantErr)
			}
		})
	}
}

func TestRejectRemote(t *testing.T) {
	tests := []struct {
		address string
		wantErr bool
	}{
		{"127.0.0.1:80", false},
		{"[::1]:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"10.0.0.1:80", true},
		{"192.0.2.1:443", true},
		{"[2001:db8::1]:80", true},
		{"not an address", true},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := rejectRemote("tcp", tt.address, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("rejectRemote(%q) = %v, want error %v", tt.address, err, tt.wantErr)
			}
		})
	}
}

func TestBenchServerDiesMidRun(t *testing.T) {
	clearEnv(t)

	// After the first served requests, the server stops accepting
	// connections and resets those it has, as a process that died would.
	const served = 20
	var (
		ts    atomic.Pointer[httptest.Server]
		count atomic.Int64
		once  sync.Once
	)
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "dies.db"), nil, server.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Vegeta-Attack") == benchAttackName && count.Add(1) > served {
				once.Do(func() { ts.Load().Listener.Close() })
				panic(http.ErrAbortHandler)
			}
			next.ServeHTTP(w, r)
		})
	})
	ts.Store(s.http)

	res := s.cli(t, "bench", "--mix", "create", "--rate", "200", "--duration", "500ms", "--output", "json")
	expectExit(t, res, exitUnavailable, "requests got no response", "bench "+s.url)
	var rep benchReport
	decodeOutput(t, res, &rep)
	if rep.Successful != served {
		t.Errorf("successful = %d, want %d", rep.Successful, served)
	}
	if rep.NoResponse == 0 || rep.NoResponse != rep.Requests-served {
		t.Errorf("no_response = %d of %d requests, want every request after the first %d", rep.NoResponse, rep.Requests, served)
	}

	// Each sample is of another kind of error, with the number of requests
	// that got it.
	kinds := map[string]bool{}
	var counted uint64
	for _, sample := range rep.ErrorSamples {
		kind := errorKind(sample.Error)
		if kinds[kind] {
			t.Errorf("two error samples end in %q: %+v", kind, rep.ErrorSamples)
		}
		kinds[kind] = true
		counted += sample.Count
	}
	if len(rep.ErrorSamples) < maxErrorSamples && counted != rep.Errors {
		t.Errorf("error samples count %d requests, want all %d errors: %+v", counted, rep.Errors, rep.ErrorSamples)
	}
}

func TestBenchErrorStatusesExitZero(t *testing.T) {
	clearEnv(t)

	// Every other load request gets a 503 from a server that stays up.
	var count atomic.Int64
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "errors.db"), nil, server.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Vegeta-Attack") == benchAttackName && count.Add(1)%2 == 0 {
				http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	})

	rep := runBenchJSON(t, s, "--mix", "create", "--rate", "100", "--duration", "300ms")
	if rep.StatusCodes["503"] == 0 {
		t.Errorf("status codes %v, want some 503", rep.StatusCodes)
	}
	if rep.Successful == 0 {
		t.Errorf("successful = 0, want the requests that got 201")
	}
	if rep.NoResponse != 0 {
		t.Errorf("no_response = %d, want 0", rep.NoResponse)
	}
}
