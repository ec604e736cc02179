package main

// End-to-end tests of the linkbolt binary: each test builds the real binary
// once, runs it as a child process on 127.0.0.1:0 with a bbolt file in a
// temporary directory, and talks to it over HTTP.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the end-to-end tests. Each bounds one wait, so that a hung
// child process fails the test instead of stalling it.
const (
	buildTimeout   = 5 * time.Minute
	startTimeout   = 20 * time.Second
	stopTimeout    = 20 * time.Second
	commandTimeout = 30 * time.Second
	requestTimeout = 10 * time.Second

	// inUseTimeout bounds how long a second process may take to report
	// that the database file is in use.
	inUseTimeout = 5 * time.Second
)

// seedDir holds the seed CSV files, beside the module checkout.
var seedDir = filepath.Join("..", "shared", "data")

// timestampPattern is the API's time format: UTC, seconds, no zone.
var timestampPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

var (
	binaryDir  string
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "linkbolt-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the build directory failed:", err)
		os.Exit(1)
	}
	binaryDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// linkboltBinary builds the binary on first use and returns its path.
func linkboltBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		path := filepath.Join(binaryDir, "linkbolt")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", path, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		binaryPath = path
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// childEnv returns the test's environment without LINKBOLT_ variables, so
// that only the command line configures the child.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LINKBOLT_")
	})
}

// cliResult is the outcome of one short-lived linkbolt command.
type cliResult struct {
	code    int
	stdout  string
	stderr  string
	elapsed time.Duration
}

// runLinkbolt runs the binary with args and waits for it to exit.
func runLinkbolt(t *testing.T, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, linkboltBinary(t), args...)
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("linkbolt %s did not exit within %v; stderr:\n%s", strings.Join(args, " "), timeout, res.stderr)
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running linkbolt %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// logLine is one JSON line of the server log.
type logLine map[string]any

func (l logLine) msg() string {
	s, _ := l["msg"].(string)
	return s
}

// serverProcess is a running `linkbolt serve`.
type serverProcess struct {
	cmd  *exec.Cmd
	base string // http://host:port
	db   string

	mu    sync.Mutex
	lines []logLine
	raw   bytes.Buffer

	done    chan struct{} // closed once the process exited and its log is read
	waitErr error
}

// startServer runs `linkbolt serve` on db and returns once the startup log
// line names the address. The process is killed when the test ends.
func startServer(t *testing.T, db string, extra ...string) *serverProcess {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, extra...)
	cmd := exec.Command(linkboltBinary(t), args...)
	cmd.Env = childEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, db: db, done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.raw}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting linkbolt serve: %v", err)
	}

	addrs := make(chan string, 1)
	go p.readLog(stderr, addrs)
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("log of linkbolt serve --db %s:\n%s", db, p.log())
		}
	})

	select {
	case addr := <-addrs:
		p.base = "http://" + addr
	case <-p.done:
		t.Fatalf("linkbolt serve exited before it started (%v); log:\n%s", p.waitErr, p.log())
	case <-time.After(startTimeout):
		t.Fatalf("linkbolt serve did not log its start within %v; log:\n%s", startTimeout, p.log())
	}
	return p
}

// readLog collects the log lines until the process closes stderr, sends
// the address of the startup line, then waits for the process.
func (p *serverProcess) readLog(r io.Reader, addrs chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line logLine
		json.Unmarshal(sc.Bytes(), &line)
		p.mu.Lock()
		p.raw.Write(sc.Bytes())
		p.raw.WriteByte('\n')
		if line != nil {
			p.lines = append(p.lines, line)
		}
		p.mu.Unlock()
		if addr, ok := line["addr"].(string); ok && line.msg() == "linkbolt started" {
			addrs <- addr
		}
	}
	io.Copy(io.Discard, r)
	p.waitErr = p.cmd.Wait()
	close(p.done)
}

// log returns everything the process wrote so far.
func (p *serverProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// logLines returns a copy of the JSON log lines so far.
func (p *serverProcess) logLines() []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// stop sends sig and returns the exit code once the process exited.
func (p *serverProcess) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Fatalf("linkbolt serve did not exit within %v of %v", stopTimeout, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

// lockedWriter serializes writes to a buffer that readLog also fills.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// httpClient sends requests straight to the child process, never through a
// proxy, and does not follow redirects.
var httpClient = &http.Client{
	Timeout: requestTimeout,
	Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 32,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// send sends one request to p and reads the whole response.
func (p *serverProcess) send(t *testing.T, method, path, contentType string, body []byte) response {
	t.Helper()
	res, err := sendRequest(p.base, method, path, contentType, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

// sendRequest sends one request and reads the whole response. Unlike send,
// it returns the error, so that worker goroutines can call it.
func sendRequest(base, method, path, contentType string, body []byte) (response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// sendJSON sends v as a JSON body.
func (p *serverProcess) sendJSON(t *testing.T, method, path string, v any) response {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return p.send(t, method, path, "application/json", body)
}

// get sends a GET without a body.
func (p *serverProcess) get(t *testing.T, path string) response {
	t.Helper()
	return p.send(t, http.MethodGet, path, "", nil)
}

// expectStatus fails the test unless the response has the status.
func expectStatus(t *testing.T, request string, res response, want int) {
	t.Helper()
	if res.status != want {
		t.Fatalf("%s: status %d, want %d; body: %s", request, res.status, want, res.body)
	}
}

// decode unmarshals the body into v.
func decode(t *testing.T, request string, res response, v any) {
	t.Helper()
	if err := json.Unmarshal(res.body, v); err != nil {
		t.Fatalf("%s: decoding %q: %v", request, res.body, err)
	}
}

// totalCount returns the X-Total-Count header of a list response.
func totalCount(t *testing.T, request string, res response) int {
	t.Helper()
	n, err := strconv.Atoi(res.header.Get("X-Total-Count"))
	if err != nil {
		t.Fatalf("%s: X-Total-Count %q: %v", request, res.header.Get("X-Total-Count"), err)
	}
	return n
}

// apiUser, apiURL and apiEvent hold the response fields that the tests
// compare. Decoding ignores the other fields.
type apiUser struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
}

type apiURL struct {
	ID          int64   `json:"id"`
	UserID      *int64  `json:"user_id"`
	ShortCode   string  `json:"short_code"`
	OriginalURL string  `json:"original_url"`
	Title       *string `json:"title"`
	IsActive    bool    `json:"is_active"`
	CreatedAt   string  `json:"created_at"`
	UpdatedAt   string  `json:"updated_at"`
	ClickCount  int64   `json:"click_count"`
}

type apiEvent struct {
	ID        int64           `json:"id"`
	URLID     int64           `json:"url_id"`
	UserID    *int64          `json:"user_id"`
	EventType string          `json:"event_type"`
	Timestamp string          `json:"timestamp"`
	Details   json.RawMessage `json:"details"`
}

// urlRow and eventRow are comparable forms of apiURL and apiEvent. A zero
// UserID means null, HasTitle false means a null title, and Details is
// canonical JSON.
type urlRow struct {
	ID          int64
	UserID      int64
	ShortCode   string
	OriginalURL string
	Title       string
	HasTitle    bool
	IsActive    bool
	CreatedAt   string
	UpdatedAt   string
}

type eventRow struct {
	ID        int64
	URLID     int64
	UserID    int64
	EventType string
	Timestamp string
	Details   string
}

func (u apiURL) row() urlRow {
	r := urlRow{
		ID: u.ID, ShortCode: u.ShortCode, OriginalURL: u.OriginalURL,
		IsActive: u.IsActive, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	if u.UserID != nil {
		r.UserID = *u.UserID
	}
	if u.Title != nil {
		r.Title, r.HasTitle = *u.Title, true
	}
	return r
}

func (ev apiEvent) row(t *testing.T) eventRow {
	t.Helper()
	r := eventRow{ID: ev.ID, URLID: ev.URLID, EventType: ev.EventType, Timestamp: ev.Timestamp}
	if ev.UserID != nil {
		r.UserID = *ev.UserID
	}
	r.Details = canonicalJSON(t, string(ev.Details))
	return r
}

// canonicalJSON re-encodes a JSON text with sorted keys and no spaces.
func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// seedData is the content of the seed CSV files, keyed by id.
type seedData struct {
	users  map[int64]apiUser
	urls   map[int64]urlRow
	events map[int64]eventRow
	order  []int64 // url ids in file order
}

// seedFiles returns the paths of the seed CSV files, skipping the test when
// they are absent unless LINKBOLT_REQUIRE_INTEGRATION=1.
func seedFiles(t *testing.T) (users, urls, events string) {
	t.Helper()
	users = filepath.Join(seedDir, "users.csv")
	urls = filepath.Join(seedDir, "urls.csv")
	events = filepath.Join(seedDir, "events.csv")
	for _, path := range []string{users, urls, events} {
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
				t.Fatalf("seed file missing: %v", err)
			}
			t.Skipf("seed file missing (set LINKBOLT_REQUIRE_INTEGRATION=1 to fail instead): %v", err)
		}
	}
	return users, urls, events
}

// readCSV returns the rows of a CSV file after its header.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no header", path)
	}
	return rows[1:]
}

// csvTime converts a seed timestamp to the API's format.
func csvTime(s string) string {
	return strings.Replace(s, " ", "T", 1)
}

// csvID parses an id cell and returns 0 for an empty cell.
func csvID(t *testing.T, s string) int64 {
	t.Helper()
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("invalid id cell %q: %v", s, err)
	}
	return n
}

func loadSeed(t *testing.T, usersPath, urlsPath, eventsPath string) seedData {
	t.Helper()
	seed := seedData{users: map[int64]apiUser{}, urls: map[int64]urlRow{}, events: map[int64]eventRow{}}
	for _, r := range readCSV(t, usersPath) {
		id := csvID(t, r[0])
		seed.users[id] = apiUser{ID: id, Username: r[1], Email: r[2], CreatedAt: csvTime(r[3])}
	}
	for _, r := range readCSV(t, urlsPath) {
		id := csvID(t, r[0])
		seed.urls[id] = urlRow{
			ID: id, UserID: csvID(t, r[1]), ShortCode: r[2], OriginalURL: r[3],
			Title: r[4], HasTitle: r[4] != "", IsActive: r[5] == "True",
			CreatedAt: csvTime(r[6]), UpdatedAt: csvTime(r[7]),
		}
		seed.order = append(seed.order, id)
	}
	for _, r := range readCSV(t, eventsPath) {
		id := csvID(t, r[0])
		seed.events[id] = eventRow{
			ID: id, URLID: csvID(t, r[1]), UserID: csvID(t, r[2]), EventType: r[3],
			Timestamp: csvTime(r[4]), Details: canonicalJSON(t, r[5]),
		}
	}
	return seed
}

// listAll reads every page of a list route with the largest page size.
func listAll[T any](t *testing.T, p *serverProcess, path string) (items []T, total int) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for page := 1; ; page++ {
		res := p.get(t, fmt.Sprintf("%s%sper_page=1000&page=%d", path, sep, page))
		expectStatus(t, "GET "+path, res, http.StatusOK)
		total = totalCount(t, "GET "+path, res)
		var batch []T
		decode(t, "GET "+path, res, &batch)
		items = append(items, batch...)
		if len(batch) == 0 || len(items) >= total {
			return items, total
		}
	}
}

// maxReportedDiffs caps the mismatches that one comparison reports.
const maxReportedDiffs = 10

func TestSeedImportAndServe(t *testing.T) {
	usersPath, urlsPath, eventsPath := seedFiles(t)
	seed := loadSeed(t, usersPath, urlsPath, eventsPath)
	db := filepath.Join(t.TempDir(), "seed.db")

	res := runLinkbolt(t, commandTimeout, "import", "--db", db,
		"--users", usersPath, "--urls", urlsPath, "--events", eventsPath)
	if res.code != 0 {
		t.Fatalf("import exit code %d, want 0; stderr:\n%s", res.code, res.stderr)
	}
	for _, want := range []string{"imported 400 users", "imported 2000 urls", "imported 3422 events"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("import output %q does not contain %q", res.stdout, want)
		}
	}

	p := startServer(t, db)
	t.Run("startup log counts", func(t *testing.T) {
		started := findLog(p.logLines(), "linkbolt started")
		if started == nil {
			t.Fatal("no startup line")
		}
		for key, want := range map[string]float64{"users": 400, "urls": 2000, "events": 3422} {
			if started[key] != want {
				t.Errorf("startup %s = %v, want %v", key, started[key], want)
			}
		}
	})

	// The lists are read before the redirects, whose clicks add events.
	t.Run("users equal csv", func(t *testing.T) {
		users, total := listAll[apiUser](t, p, "/users")
		if total != 400 {
			t.Errorf("X-Total-Count = %d, want 400", total)
		}
		compareRows(t, "user", users, seed.users, func(u apiUser) (int64, apiUser) { return u.ID, u })
	})
	t.Run("urls equal csv", func(t *testing.T) {
		urls, total := listAll[apiURL](t, p, "/urls")
		if total != 2000 {
			t.Errorf("X-Total-Count = %d, want 2000", total)
		}
		compareRows(t, "url", urls, seed.urls, func(u apiURL) (int64, urlRow) { return u.ID, u.row() })
	})
	t.Run("events equal csv", func(t *testing.T) {
		events, total := listAll[apiEvent](t, p, "/events")
		if total != 3422 {
			t.Errorf("X-Total-Count = %d, want 3422", total)
		}
		compareRows(t, "event", events, seed.events, func(ev apiEvent) (int64, eventRow) { return ev.ID, ev.row(t) })
	})

	t.Run("spot checks by id", func(t *testing.T) {
		tests := []struct {
			name string
			path string
			id   int64
		}{
			{"first user", "/users/", 1},
			{"middle user", "/users/", 200},
			{"last user", "/users/", 400},
			{"first url", "/urls/", 1},
			{"middle url", "/urls/", 1000},
			{"last url", "/urls/", 2000},
			{"first event", "/events/", 1},
			{"middle event", "/events/", 1711},
			{"last event", "/events/", 3422},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := tt.path + strconv.FormatInt(tt.id, 10)
				res := p.get(t, path)
				expectStatus(t, "GET "+path, res, http.StatusOK)
				var got, want any
				switch tt.path {
				case "/users/":
					var u apiUser
					decode(t, path, res, &u)
					got, want = u, seed.users[tt.id]
				case "/urls/":
					var u apiURL
					decode(t, path, res, &u)
					got, want = u.row(), seed.urls[tt.id]
				case "/events/":
					var ev apiEvent
					decode(t, path, res, &ev)
					got, want = ev.row(t), seed.events[tt.id]
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("GET %s = %+v, want %+v", path, got, want)
				}
			})
		}
	})

	active := 0
	t.Run("every code redirects", func(t *testing.T) {
		diffs := 0
		for _, id := range seed.order {
			u := seed.urls[id]
			res := p.get(t, "/"+u.ShortCode)
			want := http.StatusNotFound
			if u.IsActive {
				want = http.StatusFound
				active++
			}
			loc := res.header.Get("Location")
			ok := res.status == want && (!u.IsActive || loc == u.OriginalURL)
			if !ok && diffs < maxReportedDiffs {
				t.Errorf("GET /%s (id %d, active %v): status %d Location %q, want %d %q",
					u.ShortCode, id, u.IsActive, res.status, loc, want, u.OriginalURL)
			}
			if !ok {
				diffs++
			}
		}
		if diffs > 0 {
			t.Errorf("%d of %d codes returned a wrong status or Location", diffs, len(seed.order))
		}
	})

	t.Run("redirects recorded clicks", func(t *testing.T) {
		res := p.get(t, "/events?event_type=click&per_page=1")
		expectStatus(t, "GET /events?event_type=click", res, http.StatusOK)
		if got := totalCount(t, "click events", res); got != active {
			t.Errorf("click events = %d, want %d (one per active code)", got, active)
		}
	})
}

// compareRows checks that got holds exactly the rows of want, and reports
// at most maxReportedDiffs mismatches.
func compareRows[A any, R comparable](t *testing.T, kind string, got []A, want map[int64]R, row func(A) (int64, R)) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %ss listed, want %d", len(got), kind, len(want))
	}
	diffs := 0
	var prev int64
	for _, item := range got {
		id, r := row(item)
		if id <= prev {
			t.Errorf("%s id %d listed after %d; lists are in ascending id order", kind, id, prev)
		}
		prev = id
		if w, ok := want[id]; !ok || w != r {
			diffs++
			if diffs <= maxReportedDiffs {
				t.Errorf("%s %d = %+v, want %+v", kind, id, r, w)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d %ss differ from the CSV", diffs, kind)
	}
}

// findLog returns the first log line with the message, or nil.
func findLog(lines []logLine, msg string) logLine {
	for _, l := range lines {
		if l.msg() == msg {
			return l
		}
	}
	return nil
}

// expectJSONError checks that a response is a JSON error body.
func expectJSONError(t *testing.T, request string, res response) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", request, ct)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil || body.Error == "" {
		t.Errorf("%s: body %q is not {\"error\": ...}", request, res.body)
	}
}

// multipartCSV builds a multipart/form-data body with the CSV as its file
// field and an ignored row_count field.
func multipartCSV(t *testing.T, csvText string) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("row_count", "2"); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("file", "users.csv")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, csvText)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

func TestAPIWalkthrough(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "api.db"))

	t.Run("health", func(t *testing.T) {
		res := p.get(t, "/health")
		expectStatus(t, "GET /health", res, http.StatusOK)
		var body map[string]any
		decode(t, "GET /health", res, &body)
		if body["status"] != "ok" {
			t.Errorf("status = %v, want ok", body["status"])
		}
	})

	var user apiUser
	t.Run("users crud", func(t *testing.T) {
		res := p.sendJSON(t, http.MethodPost, "/users", map[string]any{"username": "alice", "email": "alice@example.com"})
		expectStatus(t, "POST /users", res, http.StatusCreated)
		decode(t, "POST /users", res, &user)
		if user.ID <= 0 || user.Username != "alice" || user.Email != "alice@example.com" {
			t.Errorf("created user = %+v", user)
		}
		if !timestampPattern.MatchString(user.CreatedAt) {
			t.Errorf("created_at %q is not YYYY-MM-DDTHH:MM:SS", user.CreatedAt)
		}

		res = p.sendJSON(t, http.MethodPost, "/users", map[string]any{"username": "ALICE", "email": "other@example.com"})
		expectStatus(t, "POST /users with a taken username", res, http.StatusConflict)
		expectJSONError(t, "409", res)

		path := fmt.Sprintf("/users/%d", user.ID)
		res = p.sendJSON(t, http.MethodPut, path, map[string]any{"email": "alice@example.org"})
		expectStatus(t, "PUT "+path, res, http.StatusOK)
		decode(t, "PUT "+path, res, &user)
		if user.Email != "alice@example.org" || user.Username != "alice" {
			t.Errorf("updated user = %+v", user)
		}

		res = p.get(t, path)
		expectStatus(t, "GET "+path, res, http.StatusOK)
		var got apiUser
		decode(t, "GET "+path, res, &got)
		if got != user {
			t.Errorf("GET %s = %+v, want %+v", path, got, user)
		}

		res = p.get(t, "/users")
		expectStatus(t, "GET /users", res, http.StatusOK)
		if n := totalCount(t, "GET /users", res); n != 1 {
			t.Errorf("X-Total-Count = %d, want 1", n)
		}
		if res.header.Get("Link") == "" {
			t.Error("GET /users has no Link header")
		}
	})

	// The target keeps escapes, a repeated and a valueless parameter and a
	// fragment, which the redirect must send back byte for byte.
	const target = "https://example.com/a%2Fb?q=1+2&q=%25&flag#frag"
	var link apiURL
	t.Run("urls crud", func(t *testing.T) {
		res := p.sendJSON(t, http.MethodPost, "/urls", map[string]any{"original_url": target, "user_id": user.ID, "title": "Docs"})
		expectStatus(t, "POST /urls", res, http.StatusCreated)
		decode(t, "POST /urls", res, &link)
		if link.ShortCode == "" || !link.IsActive || link.OriginalURL != target {
			t.Errorf("created url = %+v", link)
		}
		if link.UserID == nil || *link.UserID != user.ID {
			t.Errorf("user_id = %v, want %d", link.UserID, user.ID)
		}

		path := fmt.Sprintf("/urls/%d", link.ID)
		res = p.get(t, path)
		expectStatus(t, "GET "+path, res, http.StatusOK)
		var got apiURL
		decode(t, "GET "+path, res, &got)
		if got.row() != link.row() {
			t.Errorf("GET %s = %+v, want %+v", path, got.row(), link.row())
		}

		filter := fmt.Sprintf("/urls?user_id=%d", user.ID)
		res = p.get(t, filter)
		expectStatus(t, "GET "+filter, res, http.StatusOK)
		if n := totalCount(t, filter, res); n != 1 {
			t.Errorf("%s: X-Total-Count = %d, want 1", filter, n)
		}
	})

	t.Run("redirects", func(t *testing.T) {
		tests := []struct {
			name   string
			method string
			path   string
		}{
			{"short path", http.MethodGet, "/" + link.ShortCode},
			{"redirect route", http.MethodGet, "/urls/" + link.ShortCode + "/redirect"},
			{"trailing slash", http.MethodGet, "/" + link.ShortCode + "/"},
			{"head", http.MethodHead, "/" + link.ShortCode},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := p.send(t, tt.method, tt.path, "", nil)
				expectStatus(t, tt.method+" "+tt.path, res, http.StatusFound)
				if loc := res.header.Get("Location"); loc != target {
					t.Errorf("Location = %q, want %q", loc, target)
				}
				if tt.method == http.MethodHead && len(res.body) != 0 {
					t.Errorf("HEAD body = %q, want none", res.body)
				}
			})
		}

		// The three GETs record a click each and the HEAD none.
		path := fmt.Sprintf("/events?url_id=%d&event_type=click", link.ID)
		res := p.get(t, path)
		expectStatus(t, "GET "+path, res, http.StatusOK)
		if n := totalCount(t, path, res); n != 3 {
			t.Errorf("click events = %d, want 3", n)
		}
	})

	t.Run("events", func(t *testing.T) {
		res := p.sendJSON(t, http.MethodPost, "/events", map[string]any{
			"event_type": "shared", "url_id": link.ID, "user_id": user.ID, "details": map[string]any{"via": "email"},
		})
		expectStatus(t, "POST /events", res, http.StatusCreated)
		var ev apiEvent
		decode(t, "POST /events", res, &ev)
		path := fmt.Sprintf("/events/%d", ev.ID)
		res = p.get(t, path)
		expectStatus(t, "GET "+path, res, http.StatusOK)
		var got apiEvent
		decode(t, "GET "+path, res, &got)
		if got.row(t) != ev.row(t) || got.EventType != "shared" || got.URLID != link.ID {
			t.Errorf("GET %s = %+v, want %+v", path, got.row(t), ev.row(t))
		}

		created := fmt.Sprintf("/events?url_id=%d&event_type=created", link.ID)
		res = p.get(t, created)
		expectStatus(t, "GET "+created, res, http.StatusOK)
		var events []apiEvent
		decode(t, created, res, &events)
		if len(events) != 1 {
			t.Fatalf("%s listed %d events, want 1", created, len(events))
		}
		wantDetails := canonicalJSON(t, fmt.Sprintf(`{"short_code":%q,"original_url":%q}`, link.ShortCode, target))
		if got := canonicalJSON(t, string(events[0].Details)); got != wantDetails {
			t.Errorf("created event details = %s, want %s", got, wantDetails)
		}
	})

	t.Run("deactivate and delete", func(t *testing.T) {
		path := fmt.Sprintf("/urls/%d", link.ID)
		res := p.sendJSON(t, http.MethodPut, path, map[string]any{"is_active": false})
		expectStatus(t, "PUT "+path, res, http.StatusOK)
		var got apiURL
		decode(t, "PUT "+path, res, &got)
		if got.IsActive {
			t.Error("is_active is still true after PUT")
		}
		res = p.get(t, "/"+link.ShortCode)
		expectStatus(t, "GET of an inactive code", res, http.StatusNotFound)
		expectJSONError(t, "inactive code", res)

		res = p.send(t, http.MethodDelete, path, "", nil)
		expectStatus(t, "DELETE "+path, res, http.StatusNoContent)
		res = p.get(t, path)
		expectStatus(t, "GET of a deleted url", res, http.StatusNotFound)

		userPath := fmt.Sprintf("/users/%d", user.ID)
		res = p.send(t, http.MethodDelete, userPath, "", nil)
		expectStatus(t, "DELETE "+userPath, res, http.StatusNoContent)
		res = p.get(t, userPath)
		expectStatus(t, "GET of a deleted user", res, http.StatusNotFound)
	})

	t.Run("bulk upload", func(t *testing.T) {
		ct, body := multipartCSV(t, "id,username,email,created_at\n"+
			"50,bulkone,bulkone@example.com,2025-01-02 03:04:05\n"+
			"51,bulktwo,bulktwo@example.com,2025-01-03 03:04:05\n")
		res := p.send(t, http.MethodPost, "/users/bulk", ct, body)
		expectStatus(t, "POST /users/bulk", res, http.StatusCreated)
		var got map[string]int
		decode(t, "POST /users/bulk", res, &got)
		if got["imported"] != 2 || got["count"] != 2 {
			t.Errorf("bulk result = %v, want imported 2 and count 2", got)
		}
		res = p.get(t, "/users/51")
		expectStatus(t, "GET /users/51", res, http.StatusOK)
		var u apiUser
		decode(t, "GET /users/51", res, &u)
		want := apiUser{ID: 51, Username: "bulktwo", Email: "bulktwo@example.com", CreatedAt: "2025-01-03T03:04:05"}
		if u != want {
			t.Errorf("imported user = %+v, want %+v", u, want)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name        string
			method      string
			path        string
			contentType string
			body        string
			want        int
		}{
			{"unknown path", http.MethodGet, "/no/such/route", "", "", http.StatusNotFound},
			{"unknown code", http.MethodGet, "/zzzzzz", "", "", http.StatusNotFound},
			{"id not an integer", http.MethodGet, "/users/abc", "", "", http.StatusNotFound},
			{"missing user", http.MethodGet, "/users/999999", "", "", http.StatusNotFound},
			{"wrong method", http.MethodDelete, "/health", "", "", http.StatusMethodNotAllowed},
			{"body not json", http.MethodPost, "/users", "application/json", "not json", http.StatusBadRequest},
			{"body an array", http.MethodPost, "/users", "application/json", "[]", http.StatusBadRequest},
			{"missing email", http.MethodPost, "/users", "application/json", `{"username":"bob"}`, http.StatusUnprocessableEntity},
			{"invalid original_url", http.MethodPost, "/urls", "application/json", `{"original_url":"not-a-url"}`, http.StatusUnprocessableEntity},
			{"unknown user_id", http.MethodPost, "/urls", "application/json", `{"original_url":"https://example.com","user_id":999999}`, http.StatusNotFound},
			{"page zero", http.MethodGet, "/urls?page=0", "", "", http.StatusUnprocessableEntity},
			{"invalid bulk row", http.MethodPost, "/users/bulk", "text/csv", "id,username,email,created_at\n1,x,not-an-email,2025-01-01 00:00:00\n", http.StatusUnprocessableEntity},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var body []byte
				if tt.body != "" {
					body = []byte(tt.body)
				}
				res := p.send(t, tt.method, tt.path, tt.contentType, body)
				if res.status != tt.want {
					t.Errorf("%s %s: status %d, want %d; body %s", tt.method, tt.path, res.status, tt.want, res.body)
				}
				expectJSONError(t, tt.method+" "+tt.path, res)
				if tt.want == http.StatusMethodNotAllowed && !strings.Contains(res.header.Get("Allow"), "GET") {
					t.Errorf("Allow = %q, want it to list GET", res.header.Get("Allow"))
				}
			})
		}
	})
}

// shutdownSteps are the log messages of a clean shutdown, in order.
var shutdownSteps = []string{"shutting down", "stopping http server", "flushing clicks", "server stopped", "database closed"}

func TestRestartKeepsData(t *testing.T) {
	tests := []struct {
		name   string
		signal os.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"SIGINT", os.Interrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "restart.db")

			// The maximum flush interval keeps every click queued until
			// the shutdown writes it.
			p := startServer(t, db, "--click-flush", "1m")
			res := p.sendJSON(t, http.MethodPost, "/users", map[string]any{"username": "restart", "email": "restart@example.com"})
			expectStatus(t, "POST /users", res, http.StatusCreated)
			var user apiUser
			decode(t, "POST /users", res, &user)
			res = p.sendJSON(t, http.MethodPost, "/urls", map[string]any{"original_url": "https://example.com/restart", "user_id": user.ID})
			expectStatus(t, "POST /urls", res, http.StatusCreated)
			var link apiURL
			decode(t, "POST /urls", res, &link)

			usersBefore, _ := listAll[apiUser](t, p, "/users")
			urlsBefore, _ := listAll[apiURL](t, p, "/urls")
			eventsBefore, _ := listAll[apiEvent](t, p, "/events")

			const clicks = 50
			for range clicks {
				res := p.get(t, "/"+link.ShortCode)
				expectStatus(t, "GET /"+link.ShortCode, res, http.StatusFound)
			}

			if code := p.stop(t, tt.signal); code != 0 {
				t.Errorf("exit code after %s = %d, want 0", tt.name, code)
			}
			checkShutdownLog(t, p.logLines(), clicks)

			p = startServer(t, db)
			usersAfter, _ := listAll[apiUser](t, p, "/users")
			if !reflect.DeepEqual(usersAfter, usersBefore) {
				t.Errorf("users after restart = %+v, want %+v", usersAfter, usersBefore)
			}
			urlsAfter, _ := listAll[apiURL](t, p, "/urls")
			if len(urlsAfter) != len(urlsBefore) {
				t.Fatalf("%d urls after restart, want %d", len(urlsAfter), len(urlsBefore))
			}
			for i := range urlsAfter {
				if urlsAfter[i].row() != urlsBefore[i].row() {
					t.Errorf("url after restart = %+v, want %+v", urlsAfter[i].row(), urlsBefore[i].row())
				}
			}
			if urlsAfter[0].ClickCount != clicks {
				t.Errorf("click_count after restart = %d, want %d", urlsAfter[0].ClickCount, clicks)
			}

			eventsAfter, _ := listAll[apiEvent](t, p, "/events")
			if len(eventsAfter) != len(eventsBefore)+clicks {
				t.Errorf("%d events after restart, want %d before plus %d clicks", len(eventsAfter), len(eventsBefore), clicks)
			}
			for i, ev := range eventsBefore {
				if i < len(eventsAfter) && eventsAfter[i].row(t) != ev.row(t) {
					t.Errorf("event after restart = %+v, want %+v", eventsAfter[i].row(t), ev.row(t))
				}
			}
			path := fmt.Sprintf("/events?url_id=%d&event_type=click", link.ID)
			res = p.get(t, path)
			expectStatus(t, "GET "+path, res, http.StatusOK)
			if n := totalCount(t, path, res); n != clicks {
				t.Errorf("click events after restart = %d, want %d", n, clicks)
			}
		})
	}
}

func TestShutdownDuringRedirects(t *testing.T) {
	const (
		workers = 8

		// stopAfter is the number of redirects after which SIGTERM is sent
		// while the workers keep sending.
		stopAfter = 2000
	)
	db := filepath.Join(t.TempDir(), "drain.db")
	p := startServer(t, db)
	res := p.sendJSON(t, http.MethodPost, "/urls", map[string]any{"original_url": "https://example.com/drain"})
	expectStatus(t, "POST /urls", res, http.StatusCreated)
	var link apiURL
	decode(t, "POST /urls", res, &link)

	var (
		redirected atomic.Int64
		midway     = make(chan struct{})
		midOnce    sync.Once
		wg         sync.WaitGroup
		badState   atomic.Value
	)
	for range workers {
		wg.Go(func() {
			for {
				res, err := sendRequest(p.base, http.MethodGet, "/"+link.ShortCode, "", nil)
				if err != nil {
					return
				}
				if res.status != http.StatusFound {
					// A server that is stopping may refuse new requests,
					// but not with a wrong redirect.
					if res.status != http.StatusServiceUnavailable {
						badState.CompareAndSwap(nil, fmt.Sprintf("GET /%s: status %d, body %s", link.ShortCode, res.status, res.body))
					}
					return
				}
				if redirected.Add(1) == stopAfter {
					midOnce.Do(func() { close(midway) })
				}
			}
		})
	}

	select {
	case <-midway:
	case <-time.After(startTimeout):
		t.Fatalf("fewer than %d redirects within %v", stopAfter, startTimeout)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	wg.Wait()
	if msg := badState.Load(); msg != nil {
		t.Errorf("unexpected answer during the shutdown: %v", msg)
	}
	checkShutdownLog(t, p.logLines(), -1)

	p = startServer(t, db)
	path := fmt.Sprintf("/events?url_id=%d&event_type=click&per_page=1", link.ID)
	res = p.get(t, path)
	expectStatus(t, "GET "+path, res, http.StatusOK)
	clicks := int64(totalCount(t, path, res))
	got := redirected.Load()

	// Every redirect the client received has its click. A worker may also
	// have lost the response of its last request, which still counts.
	if clicks < got {
		t.Errorf("%d click events after restart, want at least the %d redirects received", clicks, got)
	}
	if clicks > got+workers {
		t.Errorf("%d click events after restart, want at most %d redirects plus %d in flight", clicks, got, workers)
	}
	t.Logf("%d redirects received, %d clicks stored", got, clicks)
}

// checkShutdownLog checks that the shutdown steps were logged in order and
// that the click flush found the queued clicks. A negative queued skips the
// count.
func checkShutdownLog(t *testing.T, lines []logLine, queued int) {
	t.Helper()
	next := 0
	for _, l := range lines {
		if next < len(shutdownSteps) && l.msg() == shutdownSteps[next] {
			next++
		}
	}
	if next < len(shutdownSteps) {
		t.Errorf("shutdown log is missing %q (steps in order: %q)", shutdownSteps[next], shutdownSteps)
	}
	flush := findLog(lines, "flushing clicks")
	if flush != nil && queued >= 0 && flush["queued"] != float64(queued) {
		t.Errorf("flushing clicks logged queued=%v, want %d", flush["queued"], queued)
	}
}

// ackedURL is a create that the server acknowledged with 201.
type ackedURL struct {
	id     int64
	code   string
	target string
}

func TestCrashKeepsAcknowledgedCreates(t *testing.T) {
	const (
		workers     = 16
		maxRequests = 2000

		// killAfter is the number of acknowledged creates after which the
		// process is killed, well before the burst ends.
		killAfter = 1000
	)
	db := filepath.Join(t.TempDir(), "crash.db")
	p := startServer(t, db)

	var (
		mu       sync.Mutex
		acked    []ackedURL
		sent     atomic.Int64
		failed   atomic.Int64
		midway   = make(chan struct{})
		midOnce  sync.Once
		wg       sync.WaitGroup
		badState atomic.Value
	)
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				if sent.Add(1) > maxRequests {
					return
				}
				target := fmt.Sprintf("https://example.com/crash/%d/%d", w, i)
				body := fmt.Sprintf(`{"original_url":%q}`, target)
				res, err := sendRequest(p.base, http.MethodPost, "/urls", "application/json", []byte(body))
				if err != nil {
					// The process is gone: the create was not acknowledged.
					failed.Add(1)
					return
				}
				if res.status != http.StatusCreated {
					badState.CompareAndSwap(nil, fmt.Sprintf("POST /urls: status %d, body %s", res.status, res.body))
					failed.Add(1)
					continue
				}
				var u apiURL
				if err := json.Unmarshal(res.body, &u); err != nil {
					badState.CompareAndSwap(nil, fmt.Sprintf("POST /urls: body %q: %v", res.body, err))
					continue
				}
				mu.Lock()
				acked = append(acked, ackedURL{id: u.ID, code: u.ShortCode, target: target})
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					midOnce.Do(func() { close(midway) })
				}
			}
		})
	}

	select {
	case <-midway:
	case <-time.After(startTimeout):
		t.Fatalf("fewer than %d creates were acknowledged within %v", killAfter, startTimeout)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Fatalf("process did not exit within %v of SIGKILL", stopTimeout)
	}

	// Each worker stops at its first refused request, and every request has
	// the client's timeout, so this wait is bounded.
	wg.Wait()
	if msg := badState.Load(); msg != nil {
		t.Errorf("unexpected answer during the burst: %v", msg)
	}
	if failed.Load() == 0 {
		t.Fatalf("all %d requests succeeded: the kill did not land during the burst", maxRequests)
	}
	t.Logf("%d creates acknowledged before SIGKILL, %d requests failed", len(acked), failed.Load())

	p = startServer(t, db)
	res := p.get(t, "/urls?per_page=1")
	expectStatus(t, "GET /urls", res, http.StatusOK)
	if n := totalCount(t, "GET /urls", res); n < len(acked) {
		t.Errorf("X-Total-Count after restart = %d, want at least the %d acknowledged creates", n, len(acked))
	}

	lost := 0
	for _, a := range acked {
		if ok := checkAcked(t, p, a, lost < maxReportedDiffs); !ok {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged creates are missing or wrong after the crash", lost, len(acked))
	}
}

// checkAcked reports whether an acknowledged create survived the crash:
// its id returns the same code, and the code redirects to its target.
func checkAcked(t *testing.T, p *serverProcess, a ackedURL, report bool) bool {
	t.Helper()
	path := fmt.Sprintf("/urls/%d", a.id)
	res := p.get(t, path)
	var u apiURL
	if res.status == http.StatusOK {
		json.Unmarshal(res.body, &u)
	}
	if res.status != http.StatusOK || u.ShortCode != a.code || u.OriginalURL != a.target {
		if report {
			t.Errorf("GET %s: status %d, short_code %q, original_url %q; want 200, %q, %q",
				path, res.status, u.ShortCode, u.OriginalURL, a.code, a.target)
		}
		return false
	}
	res = p.get(t, "/"+a.code)
	if loc := res.header.Get("Location"); res.status != http.StatusFound || loc != a.target {
		if report {
			t.Errorf("GET /%s: status %d Location %q, want 302 %q", a.code, res.status, loc, a.target)
		}
		return false
	}
	return true
}

func TestDatabaseLock(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "locked.db")
	users := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(users, []byte("id,username,email,created_at\n1,lock,lock@example.com,2025-01-01 00:00:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, db)

	tests := []struct {
		name string
		args []string
	}{
		{"second serve", []string{"serve", "--addr", "127.0.0.1:0", "--db", db}},
		{"import", []string{"import", "--db", db, "--users", users}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The command timeout is longer than inUseTimeout so that a
			// slow failure is measured instead of killed.
			res := runLinkbolt(t, commandTimeout, tt.args...)
			if res.code != 3 {
				t.Errorf("exit code %d, want 3; stderr:\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, "in use by another process") {
				t.Errorf("stderr does not say the file is in use:\n%s", res.stderr)
			}
			if res.elapsed > inUseTimeout {
				t.Errorf("failed after %v, want within %v", res.elapsed, inUseTimeout)
			}
		})
	}

	// The failed commands left the running server and its data alone.
	res := p.get(t, "/health")
	expectStatus(t, "GET /health", res, http.StatusOK)
	res = p.get(t, "/users")
	expectStatus(t, "GET /users", res, http.StatusOK)
	if n := totalCount(t, "GET /users", res); n != 0 {
		t.Errorf("X-Total-Count = %d after the refused import, want 0", n)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	res := runLinkbolt(t, commandTimeout, "serve", "--addr", addr, "--db", filepath.Join(t.TempDir(), "port.db"))
	if res.code == 0 {
		t.Fatalf("serve on a taken port exited with 0; stderr:\n%s", res.stderr)
	}
	for _, want := range []string{addr, "address already in use"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, `"msg":"linkbolt started"`) {
		t.Errorf("serve logged its start although it could not listen:\n%s", res.stderr)
	}
}
