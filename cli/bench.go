package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Defaults and limits of the bench command.
const (
	defaultBenchLinks       = 1000
	defaultBenchDuration    = 10 * time.Second
	defaultBenchWorkers     = 64
	defaultBenchConnections = 1024

	// maxBenchLinks bounds the links seeded or reused, and so the memory
	// that holds their codes.
	maxBenchLinks = 2_000_000

	// maxBenchDuration bounds one load run.
	maxBenchDuration = time.Hour

	// maxBenchRate bounds the offered rate, in requests per second.
	maxBenchRate = 1_000_000

	// maxBenchWorkers bounds the goroutines that send requests. At a
	// constant rate the workers grow up to this bound, so that a slow
	// response delays no later request. Past the bound the sent rate falls
	// below the offered one, and the report shows both.
	maxBenchWorkers = 10_000

	// maxBenchConnections bounds the connections open to the server.
	maxBenchConnections = 65_535

	// maxCreateBody bounds the bytes read from the body of each response
	// of a mix that creates links. A created link's JSON takes about 300
	// bytes.
	maxCreateBody = 64 << 10

	// benchAttackName is sent in the X-Vegeta-Attack header of every
	// request of the load run, so that a server-side count can tell them
	// from the seeding requests.
	benchAttackName = "linkbolt-bench"
)

// benchOptions are the flags of the bench command.
type benchOptions struct {
	client      clientOptions
	links       int
	reuse       bool
	mix         benchMix
	rate        int
	duration    time.Duration
	workers     int
	connections int
	holdConns   int
	zipf        float64
	histogram   []time.Duration
	allowRemote bool

	// changed holds the names of the flags given on the command line.
	changed map[string]bool

	// maxWorkers bounds the workers at a constant rate; 0 means
	// maxBenchWorkers. A test lowers it to make the generator fall behind.
	maxWorkers int

	// progress receives the progress bar of the seeding; nil shows none.
	progress io.Writer

	// warnings receives warnings about the run, such as a generator that
	// fell behind its schedule; nil discards them.
	warnings io.Writer
}

func newBenchCommand(g *globalOptions) *cobra.Command {
	o := &benchOptions{mix: mixRedirect}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Drive a constant-rate load against a server and report its latency",
		Long: "Seed links through POST /urls (or reuse active ones with --reuse), then send a mix of\n" +
			"requests at a constant rate for a fixed duration and report the throughput, the\n" +
			"latency percentiles, the error rate and the status codes. Requests leave on a fixed\n" +
			"schedule, whether or not earlier ones were answered, so that the latencies include\n" +
			"the time requests queue at the server. Redirects are not followed: a 301, 302, 303,\n" +
			"307 or 308 answer is a success. A create succeeds only with a 201 whose JSON body has a short_code.\n" +
			"Latency percentiles are estimated with a t-digest; the maximum is exact.\n\n" +
			"After the load bench prints the report, then exits with 5 if any request got no\n" +
			"response (connection refused or reset, or no answer within --timeout). A run in which\n" +
			"every request got a response exits 0, error statuses included, unless none of them\n" +
			"succeeded, or fewer than two were sent at different times, which measures no rate\n" +
			"(exit 1). SIGINT or SIGTERM during the load stops it: bench prints the report of the\n" +
			"requests sent so far and exits with 130 or 143. When fewer than 90% of the requests that\n" +
			"--rate schedules were sent, bench warns on stderr and still exits 0. Before the\n" +
			"create mix, one GET /urls checks that the server answers with linkbolt's JSON list\n" +
			"of links and accepts the API key, so that a missing key exits 4, and a server that\n" +
			"is unreachable or not linkbolt exits 5, at once. Seeding and --reuse reject links\n" +
			"without a short code and codes returned twice, with exit 5.\n\n" +
			"Mixes:\n" +
			"  redirect   GET of seeded codes\n" +
			"  hackathon  80% redirects, 10% GET /urls pages, 7% POST /urls, 3% GET /health\n" +
			"  create     POST /urls only; seeds nothing\n\n" +
			"The load goes only to a loopback address (127.0.0.0/8, ::1 or localhost) unless\n" +
			"--allow-remote is given.\n\n" + clientHelp,
		Example: "  linkbolt bench --server http://127.0.0.1:8080 --mix redirect --rate 5000 --duration 10s\n" +
			"  linkbolt bench --mix hackathon --links 10000 --zipf 1.1 --rate 2000 --output json\n" +
			"  linkbolt bench --mix create --rate 0 --workers 64 --duration 5s",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.progress = terminalOutput(cmd.ErrOrStderr())
			o.warnings = cmd.ErrOrStderr()
			o.changed = changedFlags(cmd)
			return runBench(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}

	f := cmd.Flags()
	f.IntVar(&o.links, "links", defaultBenchLinks, fmt.Sprintf("links to seed before the load, 1 to %d (not with --mix create)", maxBenchLinks))
	f.BoolVar(&o.reuse, "reuse", false, "reuse active links of the server without click limit or expiry, and seed only the missing ones")
	f.Var(&o.mix, "mix", "requests to send: redirect, hackathon or create")
	f.IntVar(&o.rate, "rate", 1000, "requests per second; 0 sends as fast as --workers allow")
	f.DurationVar(&o.duration, "duration", defaultBenchDuration, "time during which requests are sent, at most "+maxBenchDuration.String()+", and with --rate R at least 2/R seconds")
	f.IntVar(&o.workers, "workers", defaultBenchWorkers, fmt.Sprintf("concurrent requests with --rate 0, and the initial workers otherwise (which grow up to %d)", maxBenchWorkers))
	f.IntVar(&o.connections, "connections", defaultBenchConnections, fmt.Sprintf("connections open to the server at most, 1 to %d; requests beyond them wait, and the wait counts in their latency; not with --hold-connections", maxBenchConnections))
	f.IntVar(&o.holdConns, "hold-connections", 0, fmt.Sprintf("open this many keep-alive connections before the load, up to %d, and send the requests over them in turn so that all stay in use; 0 opens connections as needed, up to --connections", maxBenchConnections))
	f.Float64Var(&o.zipf, "zipf", 0, "draw codes from a Zipf distribution with this exponent s > 1 over the links; 0 draws them uniformly")
	f.DurationSliceVar(&o.histogram, "histogram", nil, "also report a latency histogram with these bucket bounds, such as 1ms,5ms,25ms")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow a --server whose host is not a loopback address")
	addClientFlags(f, &o.client)
	describeRanges(f, map[string]string{
		"links":            fmt.Sprintf("an integer from 1 to %d", maxBenchLinks),
		"rate":             fmt.Sprintf("an integer from 0 to %d requests per second", maxBenchRate),
		"duration":         "a duration such as 10s, above 0 and at most " + maxBenchDuration.String(),
		"workers":          fmt.Sprintf("an integer from 1 to %d", maxBenchWorkers),
		"connections":      fmt.Sprintf("an integer from 1 to %d", maxBenchConnections),
		"hold-connections": fmt.Sprintf("an integer from 0 to %d", maxBenchConnections),
		"zipf":             fmt.Sprintf("0, or a number above 1 and at most %v", maxZipfExponent),
		"histogram":        "increasing positive durations such as 1ms,5ms,25ms",
	})
	return cmd
}

// validate checks the flags that the API client does not check.
func (o *benchOptions) validate() error {
	if err := o.checkUnusedFlags(); err != nil {
		return err
	}
	needLinks := o.mix != mixCreate
	switch {
	case needLinks && (o.links < 1 || o.links > maxBenchLinks):
		return fmt.Errorf("invalid --links %d: must be 1 to %d", o.links, maxBenchLinks)
	case o.rate < 0 || o.rate > maxBenchRate:
		return fmt.Errorf("invalid --rate %d: must be 0 to %d requests per second", o.rate, maxBenchRate)
	case o.duration <= 0 || o.duration > maxBenchDuration:
		return fmt.Errorf("invalid --duration %v: must be positive and at most %v", o.duration, maxBenchDuration)
	case o.rate > 0 && scheduledRequests(o.rate, o.duration) < minRateRequests:
		return fmt.Errorf("invalid --duration %v at --rate %d: it schedules %d request(s), and a sent rate needs at least %d; give --duration %v or more",
			o.duration, o.rate, scheduledRequests(o.rate, o.duration), minRateRequests, minBenchDuration(o.rate))
	case o.workers < 1 || o.workers > maxBenchWorkers:
		return fmt.Errorf("invalid --workers %d: must be 1 to %d", o.workers, maxBenchWorkers)
	case o.connections < 1 || o.connections > maxBenchConnections:
		return fmt.Errorf("invalid --connections %d: must be 1 to %d", o.connections, maxBenchConnections)
	case o.holdConns < 0 || o.holdConns > maxBenchConnections:
		return fmt.Errorf("invalid --hold-connections %d: must be 0 to %d", o.holdConns, maxBenchConnections)
	case math.IsNaN(o.zipf) || o.zipf != 0 && !(o.zipf > 1 && o.zipf <= maxZipfExponent):
		return fmt.Errorf("invalid --zipf %v: must be 0 for uniform, or above 1 and at most %v", o.zipf, maxZipfExponent)
	}
	return checkBuckets(o.histogram)
}

// checkUnusedFlags rejects a flag that the run would ignore, so that a
// report never looks as if it measured a setting that it did not use.
func (o *benchOptions) checkUnusedFlags() error {
	if o.mix == mixCreate {
		// The create mix seeds nothing and requests no code.
		for _, name := range []string{"links", "reuse", "zipf"} {
			if o.changed[name] {
				return fmt.Errorf("invalid --%s with --mix create: the create mix seeds, reuses and requests no links, so leave --%s out", name, name)
			}
		}
	}
	if o.holdConns > 0 && o.changed["connections"] {
		// Held connections replace the pool that --connections bounds.
		return fmt.Errorf("invalid --connections %d with --hold-connections %d: the load uses only the held connections, so leave --connections out",
			o.connections, o.holdConns)
	}
	return nil
}

// checkBuckets checks that histogram bounds are positive and increasing.
func checkBuckets(bounds []time.Duration) error {
	for i, b := range bounds {
		if b <= 0 || i > 0 && b <= bounds[i-1] {
			return fmt.Errorf("invalid --histogram %v: bounds must be positive and increasing", bounds)
		}
	}
	return nil
}

// checkLoopback rejects a server host that is not a loopback address or
// localhost, unless remote targets are allowed. flag names the source of
// the server URL in the error.
func checkLoopback(server, flag string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	base, err := parseServerURL(server, flag)
	if err != nil {
		return err
	}
	host := base.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s host %q is not a loopback address: bench sends load only to 127.0.0.0/8, ::1 or localhost unless --allow-remote is given", flag, host)
}

// runBench seeds or reuses the links, runs the load and prints the report.
// After the report it returns the error of benchReport.failure, if any.
func runBench(ctx context.Context, out io.Writer, o *benchOptions) error {
	if err := o.validate(); err != nil {
		return usageError{err}
	}
	if err := checkLoopback(o.client.server, o.client.flagName("server"), o.allowRemote); err != nil {
		return usageError{err}
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()
	guard := newDialGuard(o.allowRemote, o.client.timeout)
	seedTransport := c.http.Transport.(*http.Transport)
	seedTransport.DialContext = guard.DialContext
	seedTransport.MaxIdleConnsPerHost = seedConcurrency

	// The links are ready before the clock starts, so that seeding counts
	// in no figure.
	var codes []string
	if o.mix != mixCreate {
		codes, err = prepareLinks(ctx, c, o.links, o.reuse, o.progress)
		if err != nil {
			return err
		}
	} else if err := probeServer(ctx, c); err != nil {
		return err
	}
	tg := newBenchTargeter(c, o.mix, codes, o.zipf)

	var transport http.RoundTripper = &http.Transport{
		DialContext:         guard.DialContext,
		MaxIdleConnsPerHost: o.connections,
		MaxConnsPerHost:     o.connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	var heldConns *heldTransport
	if o.holdConns > 0 {
		if c.base.Scheme != "http" {
			return usageError{fmt.Errorf("--hold-connections needs an http:// --server, not %s://", c.base.Scheme)}
		}
		addr := c.base.Host
		if c.base.Port() == "" {
			addr = net.JoinHostPort(c.base.Hostname(), "80")
		}
		heldConns, err = newHeldTransport(ctx, guard, addr, o.holdConns)
		if errors.Is(err, syscall.EMFILE) {
			return fmt.Errorf("%w; raise the open-file limit (ulimit -n, now %s) or give a smaller --hold-connections", err, openFileLimit())
		}
		if err != nil {
			return &unavailableError{op: "bench " + c.base.String(), err: err}
		}
		defer heldConns.close()
		transport = heldConns
	}

	stats := newBenchStats(o.histogram)
	attack(ctx, o, transport, tg, stats)

	// The command's context ends only on SIGINT or SIGTERM, never when
	// the duration has passed.
	interrupted := ctx.Err() != nil
	rep := stats.report(o, c.base.String(), interrupted)
	if heldConns != nil {
		n := heldConns.reconnects()
		rep.Reconnects = &n
	}
	if o.client.output == outputJSON {
		err = writeJSON(out, rep)
	} else {
		err = writeBenchTable(out, rep)
	}
	if err != nil {
		return err
	}
	if interrupted {
		return fmt.Errorf("the load was %w after %.2fs of %v; the report covers only the %d requests sent until then",
			context.Cause(ctx), rep.Elapsed, o.duration, rep.Requests)
	}
	if rep.BehindSchedule && rep.SentRate > 0 && o.warnings != nil {
		fmt.Fprintf(o.warnings, "linkbolt: warning: sent %d of the %d requests that --rate %d schedules in %v (%.1f%%); the generator fell behind, so the report describes the sent rate of %.1f req/s, not the offered rate\n",
			rep.Requests, rep.ScheduledRequests, o.rate, o.duration, 100*float64(rep.Requests)/float64(rep.ScheduledRequests), rep.SentRate)
	}
	return rep.failure(c.base.String())
}

// probeServer sends one GET /urls before a load that seeds nothing, so
// that a server that is down (exit 5), rejects the API key (exit 4) or
// does not return linkbolt's list of links (exit 5) fails the run at once,
// as seeding does for the other mixes.
func probeServer(ctx context.Context, c *apiClient) error {
	query := url.Values{"page": {"1"}, "per_page": {"1"}}
	data, header, err := c.call(ctx, http.MethodGet, "/urls", query, nil)
	if err == nil {
		err = checkLinkList(data, header)
		if err != nil {
			err = &unavailableError{op: http.MethodGet + " " + c.endpoint("/urls", nil), err: err}
		}
	}
	if err != nil {
		return fmt.Errorf("checking the server before the load: %w", err)
	}
	return nil
}

// checkLinkList returns an error unless a 2xx response to GET /urls is a
// list as linkbolt sends it: a JSON array of links that each have a short
// code, with an X-Total-Count header.
func checkLinkList(data []byte, header http.Header) error {
	contentType := header.Get("Content-Type")
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType != "application/json" {
		return fmt.Errorf("the response has Content-Type %q, not the application/json list of links that linkbolt sends: %s",
			contentType, bodyExcerpt(data))
	}
	var links []apiURL
	if err := json.Unmarshal(data, &links); err != nil || links == nil {
		return fmt.Errorf("the response is not the JSON array of links that linkbolt sends: %s", bodyExcerpt(data))
	}
	if _, err := strconv.ParseUint(header.Get("X-Total-Count"), 10, 64); err != nil {
		return fmt.Errorf("the response has no X-Total-Count count, which linkbolt sends with every list (got %q)", header.Get("X-Total-Count"))
	}
	for _, u := range links {
		if u.ShortCode == "" {
			return fmt.Errorf("the response lists link %d without a short_code, which every linkbolt link has", u.ID)
		}
	}
	return nil
}

// bodyExcerpt returns the start of a response body for an error message,
// on one line.
func bodyExcerpt(data []byte) string {
	if len(data) == 0 {
		return "an empty body"
	}
	return truncateText(strings.Join(strings.Fields(string(data)), " "), 200)
}

// attack sends the load and adds every result to stats. It returns when the
// duration has passed, or ctx ended, and every response has arrived or timed
// out.
func attack(ctx context.Context, o *benchOptions, transport http.RoundTripper, tg *benchTargeter, stats *benchStats) {
	client := &http.Client{Transport: transport, Timeout: o.client.timeout}

	// At a constant rate, new workers start whenever all are busy, so that
	// each request leaves on schedule. Without a rate the workers are
	// fixed, and each sends its next request when the last one returns.
	maxWorkers := uint64(maxBenchWorkers)
	if o.maxWorkers > 0 {
		maxWorkers = uint64(o.maxWorkers)
	}
	if o.rate == 0 {
		maxWorkers = uint64(o.workers)
	}

	// Only a create needs its response body, to find the short code in
	// it, so the redirect mix reads no body into memory.
	maxBody := int64(0)
	if slices.Contains(tg.schedule, kindCreate) {
		maxBody = maxCreateBody
	}
	attacker := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Workers(uint64(o.workers)),
		vegeta.MaxWorkers(maxWorkers),
		vegeta.MaxBody(maxBody),
	)
	stop := context.AfterFunc(ctx, func() { attacker.Stop() })
	defer stop()

	// The pacer ends the run, so vegeta gets no duration of its own.
	pacer := newBenchPacer(o.rate, o.duration)
	for res := range attacker.Attack(tg.next, pacer, 0, benchAttackName) {
		stats.add(res, tg.kindOf(res))
	}
	client.CloseIdleConnections()
}

// failure returns the error that bench exits with after printing the
// report. A request gets no response when the server cannot be reached,
// resets the connection or sends nothing within --timeout. Any such
// request gives an *unavailableError, even when others succeeded, so that
// a run against a server that went down mid-run does not exit 0. A run
// in which every request got a response returns nil, whatever the
// statuses, unless none of them succeeded or the run measured no sent
// rate.
func (r *benchReport) failure(server string) error {
	if r.NoResponse > 0 {
		sample := r.noResponseSample
		if sample == "" {
			sample = "no response"
		}
		return &unavailableError{
			op:  "bench " + server,
			err: fmt.Errorf("%d of %d requests got no response, such as: %s", r.NoResponse, r.Requests, sample),
		}
	}
	if r.Requests == 0 {
		return fmt.Errorf("the load sent no request in %v, so the report measured nothing", r.duration)
	}
	if r.Successful == 0 {
		codes := slices.Sorted(maps.Keys(r.StatusCodes))
		msg := fmt.Sprintf("none of %d requests succeeded (status codes %s)", r.Requests, strings.Join(codes, ", "))
		if sample := r.commonError(); sample != nil {
			msg += fmt.Sprintf("; %d of them: %s", sample.Count, sample.Error)
		}
		return errors.New(msg)
	}
	if r.SentRate == 0 {
		return fmt.Errorf("the load sent %d request(s) in %v, too few to measure a rate, which needs %d sent at different times; give a longer --duration",
			r.Requests, r.duration, minRateRequests)
	}
	return nil
}
