package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/linkbolt/linkbolt/server"
)

// startFakeServer starts a server on 127.0.0.1 that serves h, and
// returns its URL and a function that returns the number of bench load
// requests it got so far.
func startFakeServer(t *testing.T, h http.HandlerFunc) (string, func() int64) {
	t.Helper()
	var load atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vegeta-Attack") == benchAttackName {
			load.Add(1)
		}
		h(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, load.Load
}

// writeFakeList sends body as linkbolt sends a list, with the JSON
// Content-Type and an X-Total-Count of total.
func writeFakeList(w http.ResponseWriter, body string, total int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	io.WriteString(w, body)
}

// fakeLink returns the JSON of an active link with id and code.
func fakeLink(id int, code string) string {
	return fmt.Sprintf(`{"id":%d,"short_code":%q,"original_url":"https://example.com/%d","is_active":true}`, id, code, id)
}

func TestBenchProbeRejectsForeignServer(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<html><body>welcome</body></html>")
		}, `the response has Content-Type "text/html; charset=utf-8", not the application/json list of links that linkbolt sends: <html><body>welcome</body></html>`},
		{"empty object", func(w http.ResponseWriter, r *http.Request) {
			writeFakeList(w, "{}", 0)
		}, "the response is not the JSON array of links that linkbolt sends: {}"},
		{"null", func(w http.ResponseWriter, r *http.Request) {
			writeFakeList(w, "null", 0)
		}, "the response is not the JSON array of links that linkbolt sends: null"},
		{"no total count", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[]")
		}, `the response has no X-Total-Count count, which linkbolt sends with every list (got "")`},
		{"link without code", func(w http.ResponseWriter, r *http.Request) {
			writeFakeList(w, "["+fakeLink(4, "")+"]", 1)
		}, "the response lists link 4 without a short_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, loadRequests := startFakeServer(t, tt.handler)
			res := runCommand(t, "bench", "--server", url, "--mix", "create", "--rate", "50", "--duration", "1s")
			expectExit(t, res, exitUnavailable, "checking the server before the load: GET "+url+"/urls: "+tt.wantErr)
			if n := loadRequests(); n != 0 {
				t.Errorf("server got %d load requests, want none", n)
			}
			if res.out != "" {
				t.Errorf("stdout = %q, want no report", res.out)
			}
		})
	}
}

func TestBenchCreateNeedsShortCode(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name      string
		status    int
		body      string
		wantCode  string
		wantError string
	}{
		{"200 with a link", http.StatusOK, fakeLink(1, "abc123"), "200", "create: status 200, want 201"},
		{"201 empty object", http.StatusCreated, "{}", "201", "create: status 201 without a short_code in a JSON body: {}"},
		{"201 empty code", http.StatusCreated, fakeLink(1, ""), "201", "create: status 201 without a short_code in a JSON body"},
		{"201 html", http.StatusCreated, "<p>created</p>", "201", "create: status 201 without a short_code in a JSON body: <p>created</p>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The fake passes the probe with an empty list of links, then
			// responds to every create with tt.status and tt.body.
			url, loadRequests := startFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					writeFakeList(w, "[]", 0)
					return
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			res := runCommand(t, "bench", "--server", url, "--mix", "create", "--rate", "100", "--duration", "200ms", "--output", "json")
			var rep benchReport
			decodeOutput(t, res, &rep)
			n := rep.Requests
			expectExit(t, res, exitFailure,
				fmt.Sprintf("none of %d requests succeeded (status codes %s); %d of them: %s", n, tt.wantCode, n, tt.wantError))

			// The 20 scheduled requests, or a few fewer when the
			// generator falls behind on a busy machine.
			if n < 12 || n > 20 {
				t.Errorf("requests = %d, want 12 to 20", n)
			}
			if got := loadRequests(); got != int64(n) {
				t.Errorf("server got %d load requests, report counts %d", got, n)
			}
			if rep.Successful != 0 || rep.Kinds["create"].Successful != 0 {
				t.Errorf("successful = %d, create successful = %d, want 0 and 0", rep.Successful, rep.Kinds["create"].Successful)
			}
			if rep.Errors != n {
				t.Errorf("errors = %d, want all %d requests", rep.Errors, n)
			}
			if len(rep.ErrorSamples) != 1 {
				t.Fatalf("error samples %+v, want one", rep.ErrorSamples)
			}
			if got := rep.ErrorSamples[0]; got.Count != n || !strings.HasPrefix(got.Error, tt.wantError) {
				t.Errorf("error sample %+v, want %d requests of %q", got, n, tt.wantError)
			}
		})
	}
}

func TestBenchCreateCountsOnlyLinks(t *testing.T) {
	clearEnv(t)

	// Every other load create gets a 201 with {} instead of reaching
	// linkbolt, so only the others create a link.
	var count atomic.Int64
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "fake-creates.db"), nil, server.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Vegeta-Attack") == benchAttackName && count.Add(1)%2 == 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "{}")
				return
			}
			next.ServeHTTP(w, r)
		})
	})

	rep := runBenchJSON(t, s, "--mix", "create", "--rate", "100", "--duration", "300ms")
	if rep.Requests < 20 || rep.Requests > 30 {
		t.Errorf("requests = %d, want the 30 scheduled, or a few fewer on a busy machine", rep.Requests)
	}
	if created := urlCount(t, s); rep.Successful != created {
		t.Errorf("successful = %d, want the %d links in the store", rep.Successful, created)
	}

	// Requests 1, 3, 5 and so on, in the order they arrive, reach
	// linkbolt.
	if want := (rep.Requests + 1) / 2; rep.Successful != want || rep.Errors != rep.Requests-want {
		t.Errorf("successful = %d and errors = %d of %d requests, want %d and %d",
			rep.Successful, rep.Errors, rep.Requests, want, rep.Requests-want)
	}
	if rep.StatusCodes["201"] != rep.Requests {
		t.Errorf("status codes %v, want all %d requests 201", rep.StatusCodes, rep.Requests)
	}
	if len(rep.ErrorSamples) != 1 || rep.ErrorSamples[0].Count != rep.Errors {
		t.Errorf("error samples %+v, want one of %d requests", rep.ErrorSamples, rep.Errors)
	}
}

func TestBenchReuseRejectsForeignLinks(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name    string
		links   string
		wantErr string
	}{
		{"empty code", "[" + fakeLink(1, "a1") + "," + fakeLink(2, "") + "]",
			"the server listed link 2 without a short_code, which every linkbolt link has"},
		{"code of two links", "[" + fakeLink(1, "dup") + "," + fakeLink(2, "dup") + "]",
			`the server listed short code "dup" for links 1 and 2, which linkbolt never does`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var posts atomic.Int64
			url, loadRequests := startFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					posts.Add(1)
				}
				writeFakeList(w, tt.links, 2)
			})
			res := runCommand(t, "bench", "--server", url, "--reuse", "--links", "5", "--rate", "50", "--duration", "1s")
			expectExit(t, res, exitUnavailable, "reusing links: GET "+url+"/urls: "+tt.wantErr)
			if n := loadRequests(); n != 0 {
				t.Errorf("server got %d load requests, want none", n)
			}
			if n := posts.Load(); n != 0 {
				t.Errorf("server got %d POST requests, want no seeding", n)
			}
		})
	}
}

func TestBenchReuseSkipsRepeatedLink(t *testing.T) {
	clearEnv(t)

	// Page 2 starts with the last link of page 1 again, as a link
	// imported between the two reads makes linkbolt do.
	var redirects [4]atomic.Int64
	url, _ := startFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/urls" && r.URL.Query().Get("page") == "1":
			writeFakeList(w, "["+fakeLink(1, "c1")+","+fakeLink(2, "c2")+"]", 3)
		case r.URL.Path == "/urls":
			writeFakeList(w, "["+fakeLink(2, "c2")+","+fakeLink(3, "c3")+"]", 3)
		default:
			if i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/c")); err == nil && i < len(redirects) {
				redirects[i].Add(1)
			}
			http.Redirect(w, r, "https://example.com/", http.StatusFound)
		}
	})
	res := runCommand(t, "bench", "--server", url, "--reuse", "--links", "3", "--rate", "200", "--duration", "300ms", "--output", "json")
	expectExit(t, res, exitOK)
	var rep benchReport
	decodeOutput(t, res, &rep)
	if rep.Requests < 40 || rep.Requests > 60 {
		t.Errorf("requests = %d, want the 60 scheduled, or a few fewer on a busy machine", rep.Requests)
	}
	if rep.Successful != rep.Requests {
		t.Errorf("successful = %d, want all %d requests", rep.Successful, rep.Requests)
	}
	if rep.Links != 3 {
		t.Errorf("links = %d, want 3", rep.Links)
	}

	// Three codes drawn uniformly 40 times all come up, but for a chance
	// of about 3 × (2/3)^40, below one in 10^6.
	for i := 1; i <= 3; i++ {
		if redirects[i].Load() == 0 {
			t.Errorf("code c%d got no redirect", i)
		}
	}
}

func TestBenchSeedingRejectsForeignLinks(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name    string
		created func(id int64) string
		wantErr string
	}{
		{"no code", func(id int64) string { return fmt.Sprintf(`{"id":%d}`, id) },
			"the response has no short_code, which linkbolt sends for every link it creates: {\"id\":"},
		{"same code", func(id int64) string { return fakeLink(int(id), "same") },
			`the server returned short code "same" for two links, which linkbolt never does`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id atomic.Int64
			url, loadRequests := startFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, tt.created(id.Add(1)))
			})
			res := runCommand(t, "bench", "--server", url, "--links", "5", "--rate", "50", "--duration", "1s")
			expectExit(t, res, exitUnavailable, "seeding links: POST "+url+"/urls: "+tt.wantErr)
			if n := loadRequests(); n != 0 {
				t.Errorf("server got %d load requests, want none", n)
			}
			if res.out != "" {
				t.Errorf("stdout = %q, want no report", res.out)
			}
		})
	}
}

func TestBenchErrorSamplesByKind(t *testing.T) {
	stats := newBenchStats(nil)
	start := time.Now()
	add := func(kind benchKind, code uint16, msg string) {
		stats.add(&vegeta.Result{Code: code, Error: msg, Timestamp: start, Latency: time.Millisecond}, kind)
	}

	// The messages of a server that is down differ in the code requested
	// and the local port, but not in their cause.
	for i := range 8 {
		add(kindRedirect, 0, fmt.Sprintf(`Get "http://127.0.0.1:8080/c%d": read tcp 127.0.0.1:%d->127.0.0.1:8080: read: connection reset by peer`, i, 40000+i))
	}
	for i := range 3 {
		add(kindRedirect, 0, fmt.Sprintf(`Get "http://127.0.0.1:8080/c%d": dial tcp 127.0.0.1:8080: connect: connection refused`, i))
	}
	add(kindList, 503, "503 Service Unavailable")
	add(kindCreate, 503, "503 Service Unavailable")
	add(kindCreate, 503, "503 Service Unavailable")

	o := &benchOptions{mix: mixHackathon, links: 5, rate: 100, duration: time.Second}
	rep := stats.report(o, "http://127.0.0.1:8080", false)
	want := []errorSample{
		{`Get "http://127.0.0.1:8080/c0": read tcp 127.0.0.1:40000->127.0.0.1:8080: read: connection reset by peer`, 8},
		{`Get "http://127.0.0.1:8080/c0": dial tcp 127.0.0.1:8080: connect: connection refused`, 3},
		{"list: status 503", 1},
		{"create: status 503, want 201", 2},
	}
	if fmt.Sprint(rep.ErrorSamples) != fmt.Sprint(want) {
		t.Errorf("error samples\n%+v\nwant\n%+v", rep.ErrorSamples, want)
	}
	if rep.Errors != 14 || rep.NoResponse != 11 {
		t.Errorf("errors = %d, no_response = %d, want 14 and 11", rep.Errors, rep.NoResponse)
	}

	// Kinds past maxErrorSamples count in errors, but get no sample.
	for i := range 3 {
		add(kindHealth, uint16(500+i), "")
	}
	rep = stats.report(o, "http://127.0.0.1:8080", false)
	if len(rep.ErrorSamples) != maxErrorSamples {
		t.Errorf("%d error samples, want %d", len(rep.ErrorSamples), maxErrorSamples)
	}
	if rep.Errors != 17 {
		t.Errorf("errors = %d, want 17", rep.Errors)
	}
}

func TestResultErrorOfRedirects(t *testing.T) {
	for code, want := range map[uint16]bool{301: true, 302: true, 303: true, 307: true, 308: true, 300: false, 304: false, 200: false, 404: false} {
		got := resultError(kindRedirect, &vegeta.Result{Code: code}) == ""
		if got != want {
			t.Errorf("redirect answered %d: success %v, want %v", code, got, want)
		}
	}
}
