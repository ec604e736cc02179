package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

// apiServer is a linkbolt server running in the test process on a new
// database file.
type apiServer struct {
	url   string
	store *store.Store
	srv   *server.Server
	http  *httptest.Server
}

// startAPIServer starts a server with opts on a new database file. It is
// shut down, and its store closed, when the test ends.
func startAPIServer(t *testing.T, opts server.Options) *apiServer {
	t.Helper()
	return startAPIServerOn(t, filepath.Join(t.TempDir(), "api.db"), nil, opts, nil)
}

// startAPIServerOn starts a server on the database file path opened with
// storeOpts. wrap, if not nil, wraps the server's handler, to inject
// faults in front of the real routes.
func startAPIServerOn(t *testing.T, path string, storeOpts *store.Options, opts server.Options, wrap func(http.Handler) http.Handler) *apiServer {
	t.Helper()
	st, err := store.Open(path, storeOpts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	srv, err := server.New(opts)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return &apiServer{url: ts.URL, store: st, srv: srv, http: ts}
}

// apiResponse is the status, headers and body of one API request.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// request sends a request straight to the server, bypassing the CLI, with
// body as JSON when it is not nil and the headers given.
func (s *apiServer) request(t *testing.T, method, path string, body any, header map[string]string) apiResponse {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

// mustRequest is request that fails the test unless the status is want,
// and decodes the body into out when out is not nil.
func (s *apiServer) mustRequest(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	res := s.request(t, method, path, body, nil)
	if res.status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, res.status, want, res.body)
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, res.body, err)
		}
	}
}

// createLink creates a link through the API and returns it.
func (s *apiServer) createLink(t *testing.T, fields map[string]any) apiURL {
	t.Helper()
	var u apiURL
	s.mustRequest(t, http.MethodPost, "/urls", fields, http.StatusCreated, &u)
	return u
}

// getLink returns the link with id through the API.
func (s *apiServer) getLink(t *testing.T, id uint64) apiURL {
	t.Helper()
	var u apiURL
	s.mustRequest(t, http.MethodGet, "/urls/"+strconv.FormatUint(id, 10), nil, http.StatusOK, &u)
	return u
}

// click follows the short code once as a browser would, with a referrer.
func (s *apiServer) click(t *testing.T, code, referrer, userAgent string, want int) {
	t.Helper()
	res := s.request(t, http.MethodGet, "/"+code, nil, map[string]string{"Referer": referrer, "User-Agent": userAgent})
	if res.status != want {
		t.Fatalf("GET /%s: status %d, want %d; body %s", code, res.status, want, res.body)
	}
}

// fetchAll reads every page of a list through the API and returns the items
// as raw JSON and the X-Total-Count.
func (s *apiServer) fetchAll(t *testing.T, path string) ([]json.RawMessage, int) {
	t.Helper()
	var all []json.RawMessage
	for page := 1; ; page++ {
		res := s.request(t, http.MethodGet, fmt.Sprintf("%s?page=%d&per_page=1000", path, page), nil, nil)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s page %d: status %d; body %s", path, page, res.status, res.body)
		}
		total, err := strconv.Atoi(res.header.Get("X-Total-Count"))
		if err != nil {
			t.Fatalf("GET %s: X-Total-Count %q: %v", path, res.header.Get("X-Total-Count"), err)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(res.body, &items); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		all = append(all, items...)
		if len(items) == 0 || len(all) >= total {
			return all, total
		}
	}
}

// cli runs a client command against the server, with --server added.
func (s *apiServer) cli(t *testing.T, args ...string) result {
	t.Helper()
	return runCommand(t, append(args, "--server", s.url)...)
}

// decodeOutput decodes stdout as exactly one JSON document into v.
func decodeOutput(t *testing.T, res result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(res.out))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, res.out)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON document (next: %v)\n%s", err, res.out)
	}
}

// expectExit fails the test unless the command exited with code and its
// stderr contains each of wantErr.
func expectExit(t *testing.T, res result, code int, wantErr ...string) {
	t.Helper()
	if res.code != code {
		t.Fatalf("exit code %d, want %d; stdout: %s\nstderr: %s", res.code, code, res.out, res.errOut)
	}
	for _, want := range wantErr {
		if !strings.Contains(res.errOut, want) {
			t.Errorf("stderr %q does not contain %q", res.errOut, want)
		}
	}
}

// closedServerURL returns the URL of a server that was closed, so that
// nothing listens there any more.
func closedServerURL(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	return url
}

// readOnlyServer starts a server on a database file opened read-only, so
// that every write fails with 503.
func readOnlyServer(t *testing.T) *apiServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "readonly.db")
	st, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return startAPIServerOn(t, path, &store.Options{ReadOnly: true}, server.Options{}, nil)
}

func TestClientErrors(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	readOnly := readOnlyServer(t)
	down := closedServerURL(t)

	// proxy responds like a reverse proxy whose upstream is down: a 502
	// with an HTML body.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>\n")
	}))
	defer proxy.Close()

	// stalled reads requests and sends nothing until the client gives up.
	// The server notices a closed connection only once the body is read.
	stalled := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer stalled.Close()

	users := writeFile(t, t.TempDir(), "users.csv", usersCSV)
	backup := filepath.Join(t.TempDir(), "stalled.db")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{
			name:     "validation error with field",
			args:     []string{"create", "not-a-url", "--server", s.url},
			wantCode: exitRejected,
			wantErr:  []string{"POST /urls", "422 Unprocessable Entity", "original_url must be", "(field original_url)"},
		},
		{
			name:     "not found",
			args:     []string{"get", "999", "--server", s.url},
			wantCode: exitRejected,
			wantErr:  []string{"404 Not Found", `no link with the id or short code "999"`},
		},
		{
			name:     "connection refused",
			args:     []string{"list", "--server", down},
			wantCode: exitUnavailable,
			wantErr:  []string{"GET " + down + "/urls", "connection refused", "LINKBOLT_SERVER"},
		},
		{
			name:     "store unavailable",
			args:     []string{"create", "https://example.com/a", "--server", readOnly.url},
			wantCode: exitUnavailable,
			wantErr:  []string{"the server failed", "503 Service Unavailable", "database is not available"},
		},
		{
			name:     "proxy error page",
			args:     []string{"list", "--server", proxy.URL},
			wantCode: exitUnavailable,
			wantErr:  []string{"502 Bad Gateway", "<h1>502 Bad Gateway</h1>"},
		},
		{
			name:     "no response in time",
			args:     []string{"list", "--server", stalled.URL, "--timeout", "200ms"},
			wantCode: exitUnavailable,
			wantErr:  []string{"no response within 200ms", "raise --timeout"},
		},
		{
			name:     "upload without response",
			args:     []string{"import", "--users", users, "--server", stalled.URL, "--timeout", "200ms"},
			wantCode: exitUnavailable,
			wantErr:  []string{"import users from " + users, "no data moved for 200ms"},
		},
		{
			name:     "download without response",
			args:     []string{"backup", "--out", backup, "--server", stalled.URL, "--timeout", "200ms"},
			wantCode: exitUnavailable,
			wantErr:  []string{"GET " + stalled.URL + "/admin/backup", "no data moved for 200ms"},
		},
		{
			name:     "server not a URL",
			args:     []string{"list", "--server", "127.0.0.1:8080"},
			wantCode: exitUsage,
			wantErr:  []string{`invalid --server "127.0.0.1:8080"`},
		},
		{
			name:     "server with query",
			args:     []string{"list", "--server", s.url + "/?x=1"},
			wantCode: exitUsage,
			wantErr:  []string{"invalid --server", "remove the query string"},
		},
		{
			name:     "server not parsed, with password",
			args:     []string{"list", "--server", "http://bob:secret@127.0.0.1:abc"},
			wantCode: exitUsage,
			wantErr:  []string{`invalid --server "http://xxxxx@127.0.0.1:abc": use an http or https URL`},
		},
		{
			name:     "server with empty port",
			args:     []string{"list", "--server", "http://127.0.0.1:"},
			wantCode: exitUsage,
			wantErr:  []string{"invalid --server", "remove the colon after the host"},
		},
		{
			name:     "server with escape in host",
			args:     []string{"list", "--server", "http://a%2540127.0.0.1:8080"},
			wantCode: exitUsage,
			wantErr:  []string{"invalid --server", "remove the escapes and other characters from the host"},
		},
		{
			name:     "server with fragment",
			args:     []string{"list", "--server", s.url + "/#top"},
			wantCode: exitUsage,
			wantErr:  []string{"invalid --server", "remove the fragment"},
		},
		{
			name:     "server with password",
			args:     []string{"list", "--server", "http://user:secret@127.0.0.1:8080"},
			wantCode: exitUsage,
			wantErr:  []string{"invalid --server", "remove the user name and password", apiKeyEnv, `"http://xxxxx@127.0.0.1:8080"`},
		},
		{
			name:     "zero timeout",
			args:     []string{"list", "--server", s.url, "--timeout", "0s"},
			wantCode: exitUsage,
			wantErr:  []string{"invalid --timeout"},
		},
		{
			name:     "unknown output format",
			args:     []string{"list", "--server", s.url, "--output", "yaml"},
			wantCode: exitUsage,
			wantErr:  []string{`"yaml" is not table or json`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, tt.args...)
			expectExit(t, res, tt.wantCode, tt.wantErr...)
			if res.out != "" {
				t.Errorf("stdout = %q, want empty on failure", res.out)
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	const key = "k3y-for-tests"
	clearEnv(t)
	s := startAPIServer(t, server.Options{APIKeys: []string{key}})

	tests := []struct {
		name     string
		envKey   string // "" leaves LINKBOLT_API_KEY unset
		wantCode int
		wantErr  []string
	}{
		{"key sent", key, exitOK, nil},
		{"key with spaces around it", "  " + key + "\n", exitOK, nil},
		{"no key", "", exitRejected, []string{"401 Unauthorized", "missing or invalid API key", "set LINKBOLT_API_KEY"}},
		{"wrong key", "not-the-key", exitRejected, []string{"401 Unauthorized", "set LINKBOLT_API_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.envKey != "" {
				t.Setenv(apiKeyEnv, tt.envKey)
			}
			res := s.cli(t, "create", "https://example.com/key", "--output", "json")
			expectExit(t, res, tt.wantCode, tt.wantErr...)
			if tt.wantCode != exitOK {
				return
			}
			var u apiURL
			decodeOutput(t, res, &u)
			if u.OriginalURL != "https://example.com/key" {
				t.Errorf("original_url = %q, want https://example.com/key", u.OriginalURL)
			}
		})
	}
}

func TestClientEnv(t *testing.T) {
	s := startAPIServer(t, server.Options{})
	s.createLink(t, map[string]any{"original_url": "https://example.com/env", "short_code": "envcode"})
	down := closedServerURL(t)

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantJSON bool
		wantErr  string
	}{
		{"LINKBOLT_SERVER used without flag", map[string]string{"LINKBOLT_SERVER": s.url}, nil, exitOK, false, ""},
		{"server flag wins over env", map[string]string{"LINKBOLT_SERVER": down}, []string{"--server", s.url}, exitOK, false, ""},
		{"LINKBOLT_OUTPUT json", map[string]string{"LINKBOLT_SERVER": s.url, "LINKBOLT_OUTPUT": "json"}, nil, exitOK, true, ""},
		{"output flag wins over env", map[string]string{"LINKBOLT_SERVER": s.url, "LINKBOLT_OUTPUT": "json"}, []string{"-o", "table"}, exitOK, false, ""},
		{"invalid LINKBOLT_OUTPUT", map[string]string{"LINKBOLT_SERVER": s.url, "LINKBOLT_OUTPUT": "xml"}, nil, exitUsage, false, "LINKBOLT_OUTPUT"},
		{"invalid LINKBOLT_TIMEOUT", map[string]string{"LINKBOLT_SERVER": s.url, "LINKBOLT_TIMEOUT": "soon"}, nil, exitUsage, false, "LINKBOLT_TIMEOUT"},
		{"LINKBOLT_SERVER down", map[string]string{"LINKBOLT_SERVER": down}, nil, exitUnavailable, false, down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			res := runCommand(t, append([]string{"get", "envcode"}, tt.args...)...)
			expectExit(t, res, tt.wantCode, tt.wantErr)
			if tt.wantCode != exitOK {
				return
			}
			if tt.wantJSON {
				var u apiURL
				decodeOutput(t, res, &u)
				if u.ShortCode != "envcode" {
					t.Errorf("short_code = %q, want envcode", u.ShortCode)
				}
				return
			}
			if !strings.Contains(res.out, "short_url      "+s.url+"/envcode") {
				t.Errorf("table output does not name the short URL on %s:\n%s", s.url, res.out)
			}
		})
	}
}

func TestServerPathPrefix(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})

	// prefixed serves the API under /linkbolt, as a reverse proxy would.
	prefixed := httptest.NewServer(http.StripPrefix("/linkbolt", s.srv))
	defer prefixed.Close()

	res := runCommand(t, "create", "https://example.com/prefix", "--code", "pre", "--server", prefixed.URL+"/linkbolt/")
	expectExit(t, res, exitOK)
	if want := prefixed.URL + "/linkbolt/pre"; !strings.Contains(res.out, want) {
		t.Errorf("output does not contain the short URL %s:\n%s", want, res.out)
	}
}

func TestHelpExitCodes(t *testing.T) {
	res := runCommand(t, "--help")
	expectExit(t, res, exitOK)
	for _, want := range []string{
		"0  success",
		"2  invalid command line",
		"4  the server rejected the request",
		"5  the server could not be reached",
	} {
		if !strings.Contains(res.out, want) {
			t.Errorf("root help does not contain %q:\n%s", want, res.out)
		}
	}
}

func TestCommandHelpExitCodes(t *testing.T) {
	// The command paths come from the tree, so that a new command is
	// covered without a change here.
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			p := append(slices.Clone(path), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(newRootCommand(io.Discard, io.Discard), nil)
	for _, want := range []string{"serve", "backup", "check", "user create", "user list", "user delete"} {
		if !slices.ContainsFunc(paths, func(p []string) bool { return strings.Join(p, " ") == want }) {
			t.Errorf("the command tree has no %q: %v", want, paths)
		}
	}

	for _, path := range paths {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			res := runCommand(t, append(path, "--help")...)
			expectExit(t, res, exitOK)
			for _, want := range []string{"Exit codes:", "0  ", "2  invalid command line", "3  the database file is in use"} {
				if !strings.Contains(res.out, want) {
					t.Errorf("help does not contain %q:\n%s", want, res.out)
				}
			}
			if n := strings.Count(res.out, "Exit codes:"); n != 1 {
				t.Errorf("help lists exit codes %d times, want once:\n%s", n, res.out)
			}
		})
	}
}

func TestClientCommandsHelp(t *testing.T) {
	commands := [][]string{
		{"create"}, {"list"}, {"get"}, {"update"}, {"delete"}, {"purge"},
		{"import"}, {"export"}, {"backup"}, {"user", "create"}, {"user", "list"}, {"user", "delete"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := runCommand(t, append(args, "--help")...)
			expectExit(t, res, exitOK)
			for _, want := range []string{"--server", "--output", "--timeout", "LINKBOLT_API_KEY"} {
				if !strings.Contains(res.out, want) {
					t.Errorf("help does not mention %s:\n%s", want, res.out)
				}
			}
		})
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	bar := startProgress(&buf, 10, "export users", false)
	bar.add(4)
	bar.setTotal(20)
	bar.add(16)
	bar.finish(nil)
	out := buf.String()
	for _, want := range []string{"export users", "100%", "(20/20)"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output %q does not contain %q", out, want)
		}
	}

	if empty := startProgress(&buf, 0, "export users", false); empty != nil {
		t.Errorf("startProgress with a total of 0 = %v, want nil", empty)
	}

	// A nil bar, as shown when stderr is not a terminal, accepts every call.
	var none *progress
	none.add(1)
	none.setTotal(5)
	if n, err := none.Write([]byte("abc")); n != 3 || err != nil {
		t.Errorf("nil bar Write = %d, %v; want 3, nil", n, err)
	}
	none.finish(nil)
}

func TestTerminalOutput(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	tests := []struct {
		name string
		w    io.Writer
	}{
		{"buffer", &bytes.Buffer{}},
		{"regular file", file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminalOutput(tt.w); got != nil {
				t.Errorf("terminalOutput(%T) = %v, want nil", tt.w, got)
			}
		})
	}
}

func TestServerErrorListsRowsOnce(t *testing.T) {
	reason := `short_code "taken" belongs to url 1`
	conflict := &serverError{op: "POST /urls/bulk", status: http.StatusUnprocessableEntity,
		message: "no rows were imported: row with id 50: conflict: " + reason,
		rows:    []serverRowError{{ID: 50, Reason: reason}}}
	if got := strings.Count(conflict.Error(), reason); got != 1 {
		t.Errorf("conflict error names its reason %d times, want once: %s", got, conflict.Error())
	}

	var many []serverRowError
	for id := range 50 {
		many = append(many, serverRowError{ID: uint64(id + 1), Reason: "taken"})
	}
	listed := &serverError{op: "POST /urls/bulk", status: http.StatusUnprocessableEntity,
		message: "no rows were imported: 55 rows conflict with stored records; the first 50 are listed", rows: many}
	if want := "; and 40 more of the 50 rows listed"; !strings.Contains(listed.Error(), want) {
		t.Errorf("error %q does not contain %q", listed.Error(), want)
	}

	invalid := &serverError{op: "POST /urls/bulk", status: http.StatusUnprocessableEntity,
		message: "no rows were imported: 1 invalid row",
		rows:    []serverRowError{{Line: 2, Reason: "original_url must be an absolute http or https URL with a host"}}}
	if want := "; line 2: original_url must be"; !strings.Contains(invalid.Error(), want) {
		t.Errorf("error %q does not contain %q", invalid.Error(), want)
	}
}

// TestServerErrorNamesPathSent gives --server a path, which the client
// puts before every route, and expects the error to name the path sent.
func TestServerErrorNamesPathSent(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	res := runCommand(t, "list", "--server", s.url+"/prefix")
	expectExit(t, res, exitRejected, "GET /prefix/urls: the server rejected the request (404 Not Found)")
}

func TestHidePassword(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"http://bob:secret@127.0.0.1:8080/api", "http://xxxxx@127.0.0.1:8080/api"},
		{"http://token@127.0.0.1:8080", "http://xxxxx@127.0.0.1:8080"},
		{"bob:secret@127.0.0.1:8080", "bob:xxxxx@127.0.0.1:8080"},
		{"//bob:secret@127.0.0.1:8080", "xxxxx@127.0.0.1:8080"},
		{"http:/bob:secret@127.0.0.1", "http:/xxxxx@127.0.0.1"},
		{"http:///bob:secret@127.0.0.1", "http://xxxxx@127.0.0.1"},
		{"http//bob:secret@127.0.0.1", "xxxxx@127.0.0.1"},
		{"http://bob:se%zzcret@[127.0.0.1:1", "http://xxxxx@[127.0.0.1:1"},
		{"http://bob:p@ss@host/x", "http://xxxxx@host/x"},
		{"http://bob:secret%40127.0.0.1:8080", "http://xxxxx"},
		{"http://bob:secret%2540127.0.0.1:8080", "http://xxxxx"},
		{"http://bob:secret%25%34%30127.0.0.1", "http://xxxxx"},
		{"http://bob:secret\uFF20127.0.0.1:1", "http://xxxxx"},
		{"http://bob:secret\uFE6B127.0.0.1:1", "http://xxxxx"},
		{"http://bob:secret%EF%BC%A0127.0.0.1:1", "http://xxxxx"},
		{"http%3A%2F%2Fbob%3Asecret%40127.0.0.1", "xxxxx"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:8080/a%zz", "http://127.0.0.1:8080/a%zz"},
	}
	for _, tt := range tests {
		if got := hidePassword(tt.raw); got != tt.want {
			t.Errorf("hidePassword(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestServerPasswordNeverPrinted(t *testing.T) {
	clearEnv(t)
	for _, server := range []string{
		"http://bob:secret@127.0.0.1:abc", "bob:secret@127.0.0.1:8080", "ftp://bob:secret@127.0.0.1",
		"http://bob:secret@127.0.0.1:8080", "http://bob:secret@127.0.0.1:8080/%zz",
		"//bob:secret@127.0.0.1:8080", "http:/bob:secret@127.0.0.1", "http://bob:secret%40127.0.0.1:8080",
		"http://secret%2540127.0.0.1:1", "http://bob:secret%25%34%30127.0.0.1:1", "http://bob:secret\uFF20127.0.0.1:1",
		"http://secret%EF%BC%A0127.0.0.1:1", "http://[::1%25bob:secret%2540x]:1",
	} {
		for _, args := range [][]string{{"list", "--server", server}, {"bench", "--server", server, "--duration", "1s"}} {
			res := runCommand(t, args...)
			if res.code != exitUsage || strings.Contains(res.errOut, "secret") {
				t.Errorf("%v: exit %d, stderr %q; want exit 2 without the password", args, res.code, res.errOut)
			}
		}
	}
	t.Setenv("LINKBOLT_SERVER", "http://bob:secret@127.0.0.1:abc")
	if res := runCommand(t, "list"); res.code != exitUsage || strings.Contains(res.errOut, "secret") {
		t.Errorf("LINKBOLT_SERVER: exit %d, stderr %q; want exit 2 without the password", res.code, res.errOut)
	}
}
