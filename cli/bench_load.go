package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Parameters of the requests that bench sends.
const (
	// seedConcurrency is the number of POST /urls requests in flight while
	// links are seeded.
	seedConcurrency = 64

	// benchListPerPage is the per_page of the GET /urls requests of the
	// hackathon mix.
	benchListPerPage = 20

	// maxZipfExponent bounds --zipf. Above it nearly every draw is the
	// first link, which a single code tests more plainly.
	maxZipfExponent = 100

	// benchTargetPrefix starts the target URL of every link that bench
	// creates. Redirects are never followed, so nothing is sent there.
	benchTargetPrefix = "https://example.com/bench/"
)

// benchMix is the value of --mix. It implements pflag.Value, so that an
// unknown mix is a flag error.
type benchMix string

// Request mixes.
const (
	mixRedirect  benchMix = "redirect"
	mixHackathon benchMix = "hackathon"
	mixCreate    benchMix = "create"
)

func (m *benchMix) String() string { return string(*m) }

func (m *benchMix) Set(v string) error {
	if _, ok := mixWeights[benchMix(v)]; !ok {
		return fmt.Errorf("mix %q is not redirect, hackathon or create", v)
	}
	*m = benchMix(v)
	return nil
}

func (m *benchMix) Type() string { return "mix" }

// benchKind is the kind of one request of a mix.
type benchKind int

// Request kinds, in the order of the report.
const (
	kindRedirect benchKind = iota // GET /{code}
	kindList                      // GET /urls?page=..&per_page=..
	kindCreate                    // POST /urls
	kindHealth                    // GET /health
	numKinds
)

var kindNames = [numKinds]string{"redirect", "list", "create", "health"}

func (k benchKind) String() string { return kindNames[k] }

// kindWeight is the share of one kind in a mix, in percent.
type kindWeight struct {
	kind    benchKind
	percent int
}

// mixWeights lists the kinds of each mix. The hackathon mix is the
// redirect-heavy load that the hackathon teams measured their URL
// shorteners with, so that linkbolt's figures compare with theirs.
var mixWeights = map[benchMix][]kindWeight{
	mixRedirect:  {{kindRedirect, 100}},
	mixHackathon: {{kindRedirect, 80}, {kindList, 10}, {kindCreate, 7}, {kindHealth, 3}},
	mixCreate:    {{kindCreate, 100}},
}

// mixSchedule returns one cycle of 100 request kinds in which each kind
// appears as often as its percent. The kinds are spread by smooth weighted
// round robin, so that any run of requests from the start holds each kind
// within about one request of its share.
func mixSchedule(m benchMix) []benchKind {
	weights := mixWeights[m]
	current := make([]int, len(weights))
	schedule := make([]benchKind, 0, 100)
	for range 100 {
		best := 0
		for i, w := range weights {
			current[i] += w.percent
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= 100
		schedule = append(schedule, weights[best].kind)
	}
	return schedule
}

// benchTargeter builds the requests of a mix. Its next method is a
// vegeta.Targeter, safe for concurrent use by the workers.
type benchTargeter struct {
	base     string // server URL without a trailing slash
	schedule []benchKind
	sent     atomic.Uint64
	created  atomic.Uint64
	codes    []string
	pick     func() int // index into codes
	pages    int
	runID    string

	getHeader, postHeader http.Header

	// Prefixes that tell the kind of a result from its URL.
	listPrefix, healthURL string
}

// newBenchTargeter builds the requests of mix m over codes, drawn from a
// Zipf distribution of exponent zipf, or uniformly when zipf is 0.
func newBenchTargeter(c *apiClient, m benchMix, codes []string, zipf float64) *benchTargeter {
	base := strings.TrimSuffix(c.base.String(), "/")
	tg := &benchTargeter{
		base:       base,
		schedule:   mixSchedule(m),
		codes:      codes,
		pages:      max(1, (len(codes)+benchListPerPage-1)/benchListPerPage),
		runID:      strconv.FormatUint(rand.Uint64()>>16, 36),
		getHeader:  http.Header{"User-Agent": {"linkbolt-bench/" + version}},
		postHeader: http.Header{"User-Agent": {"linkbolt-bench/" + version}, "Content-Type": {"application/json"}},
		listPrefix: base + "/urls?",
		healthURL:  base + "/health",
	}
	if c.key != "" {
		tg.getHeader.Set("Authorization", "Bearer "+c.key)
		tg.postHeader.Set("Authorization", "Bearer "+c.key)
	}
	if len(codes) > 0 {
		tg.pick = uniformPicker(len(codes))
		if zipf != 0 {
			tg.pick = zipfPicker(len(codes), zipf)
		}
	}
	return tg
}

// uniformPicker draws indexes below n with equal chances.
func uniformPicker(n int) func() int {
	return func() int { return rand.IntN(n) }
}

// zipfPicker draws indexes below n from a Zipf distribution of exponent s:
// index k comes with a chance proportional to 1/(k+1)^s. rand.Zipf is not
// safe for concurrent use, so draws take a lock.
func zipfPicker(n int, s float64) func() int {
	if n == 1 {
		return func() int { return 0 }
	}
	var mu sync.Mutex
	z := rand.NewZipf(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), s, 1, uint64(n-1))
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return int(z.Uint64())
	}
}

// next fills t with the next request of the schedule.
func (tg *benchTargeter) next(t *vegeta.Target) error {
	i := tg.sent.Add(1) - 1
	t.Method = http.MethodGet
	t.Header = tg.getHeader
	switch tg.schedule[i%uint64(len(tg.schedule))] {
	case kindRedirect:
		t.URL = tg.base + "/" + url.PathEscape(tg.codes[tg.pick()])
	case kindList:
		page := rand.IntN(tg.pages) + 1
		t.URL = tg.listPrefix + "page=" + strconv.Itoa(page) + "&per_page=" + strconv.Itoa(benchListPerPage)
	case kindCreate:
		n := tg.created.Add(1)
		t.Method = http.MethodPost
		t.URL = tg.base + "/urls"
		t.Header = tg.postHeader
		t.Body = fmt.Appendf(nil, `{"original_url":"%s%s/%d"}`, benchTargetPrefix, tg.runID, n)
	case kindHealth:
		t.URL = tg.healthURL
	}
	return nil
}

// kindOf returns the kind of the request that gave res.
func (tg *benchTargeter) kindOf(res *vegeta.Result) benchKind {
	switch {
	case res.Method == http.MethodPost:
		return kindCreate
	case res.URL == tg.healthURL:
		return kindHealth
	case strings.HasPrefix(res.URL, tg.listPrefix):
		return kindList
	}
	return kindRedirect
}

// prepareLinks returns the codes of n links: with reuse, those of active
// links of the server that have no click limit or expiry, in id order,
// then new links seeded for the rest.
func prepareLinks(ctx context.Context, c *apiClient, n int, reuse bool, progressOut io.Writer) ([]string, error) {
	var codes []string
	if reuse {
		var err error
		codes, err = reusableCodes(ctx, c, n)
		if err != nil {
			return nil, fmt.Errorf("reusing links: %w", err)
		}
	}
	if len(codes) == n {
		return codes, nil
	}
	seeded, err := createBenchLinks(ctx, c, n-len(codes), progressOut)
	if err != nil {
		return nil, err
	}
	codes = append(codes, seeded...)

	// Links of one linkbolt server never share a code. A server that
	// returns one code twice would get fewer distinct links than the
	// report names.
	seen := make(map[string]bool, len(codes))
	for _, code := range codes {
		if seen[code] {
			err := fmt.Errorf("the server returned short code %q for two links, which linkbolt never does", code)
			return nil, fmt.Errorf("seeding links: %w", &unavailableError{op: http.MethodPost + " " + c.endpoint("/urls", nil), err: err})
		}
		seen[code] = true
	}
	return codes, nil
}

// errEnoughLinks stops the paging of reusableCodes once it has its links.
var errEnoughLinks = errors.New("enough links")

// reusableCodes reads the codes of at most n active links without a click
// limit or expiry, which redirect on every request. A link without a
// short code, or a code listed for two links, is an *unavailableError,
// because linkbolt sends neither, and a run over them would request GET /
// or fewer links than the report names.
func reusableCodes(ctx context.Context, c *apiClient, n int) ([]string, error) {
	codes := make([]string, 0, min(n, maxPerPage))
	ids := make(map[string]uint64) // link id by code
	query := url.Values{"is_active": {"true"}}
	pr := pageRequest{page: 1, perPage: maxPerPage, all: true}
	err := c.eachPage(ctx, "/urls", query, pr, func(items []json.RawMessage, _ int64) error {
		urls, err := decodeItems[apiURL](items)
		if err != nil {
			return err
		}
		for _, u := range urls {
			repeated, err := checkListedCode(u, ids)
			if err != nil {
				return &unavailableError{op: http.MethodGet + " " + c.endpoint("/urls", nil), err: err}
			}
			if repeated || u.MaxClicks != nil || u.ExpiresAt != nil {
				continue
			}
			codes = append(codes, u.ShortCode)
			if len(codes) == n {
				return errEnoughLinks
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnoughLinks) {
		return nil, err
	}
	return codes, nil
}

// checkListedCode returns an error when a listed link has no short code,
// or the code of another link in ids, and otherwise adds the code to ids.
// It reports a link that ids already holds as repeated, because a link
// imported while the pages are read moves later links one place down, so
// a page can list again the last link of the page before it.
func checkListedCode(u apiURL, ids map[string]uint64) (repeated bool, err error) {
	if u.ShortCode == "" {
		return false, fmt.Errorf("the server listed link %d without a short_code, which every linkbolt link has", u.ID)
	}
	if id, ok := ids[u.ShortCode]; ok {
		if id == u.ID {
			return true, nil
		}
		return false, fmt.Errorf("the server listed short code %q for links %d and %d, which linkbolt never does", u.ShortCode, id, u.ID)
	}
	ids[u.ShortCode] = u.ID
	return false, nil
}

// createBenchLinks creates n links through POST /urls, seedConcurrency at a time,
// and returns their codes. The first failure cancels the rest. A response
// without a short code is an *unavailableError, because linkbolt sends one
// for every link it creates.
func createBenchLinks(ctx context.Context, c *apiClient, n int, progressOut io.Writer) ([]string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bar := startProgress(progressOut, int64(n), "seeding links", false)

	codes := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, seedConcurrency) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				body := map[string]string{"original_url": benchTargetPrefix + "seed/" + strconv.Itoa(i)}
				var u apiURL
				data, _, err := c.callJSON(ctx, http.MethodPost, "/urls", nil, body, &u)
				if err == nil && u.ShortCode == "" {
					err = &unavailableError{
						op:  http.MethodPost + " " + c.endpoint("/urls", nil),
						err: fmt.Errorf("the response has no short_code, which linkbolt sends for every link it creates: %s", bodyExcerpt(data)),
					}
				}
				if err != nil {
					cancel(err)
					return
				}
				codes[i] = u.ShortCode
				bar.add(1)
			}
		})
	}
	wg.Wait()

	err := context.Cause(ctx)
	bar.finish(err)
	if err != nil {
		return nil, fmt.Errorf("seeding links: %w", err)
	}
	return codes, nil
}

// dialGuard dials TCP connections, and rejects a connection to an address
// outside the loopback range unless remote targets are allowed. It checks
// the resolved address, so a host name that resolves elsewhere is caught
// too.
type dialGuard struct {
	net.Dialer
}

func newDialGuard(allowRemote bool, timeout time.Duration) *dialGuard {
	g := &dialGuard{Dialer: net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}}
	if !allowRemote {
		g.Control = rejectRemote
	}
	return g
}

// rejectRemote is a net.Dialer Control function that fails the dial of an
// address outside the loopback range.
func rejectRemote(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("connection to %s rejected: not a loopback address, and --allow-remote is not given", address)
	}
	return nil
}
