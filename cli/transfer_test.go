package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

func TestImportRemote(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	urls := writeFile(t, dir, "urls.csv", urlsCSV)
	events := writeFile(t, dir, "events.csv", eventsCSV)
	badURLs := writeFile(t, dir, "bad_urls.csv", urlsInvalidLine4CSV)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantErr    []string
		wantCounts [3]int // users, urls, events through the API
	}{
		{
			name: "all three in flag order",
			args: []string{"--events", events, "--urls", urls, "--users", users},
			wantOut: "imported 2 users from " + users + "\n" +
				"imported 3 urls from " + urls + "\n" +
				"imported 2 events from " + events + "\n",
			wantCounts: [3]int{2, 3, 2},
		},
		{
			name:       "json",
			args:       []string{"--users", users, "-o", "json"},
			wantOut:    "[\n  {\n    \"kind\": \"users\",\n    \"file\": \"" + users + "\",\n    \"imported\": 2\n  }\n]\n",
			wantCounts: [3]int{2, 0, 0},
		},
		{
			name:       "invalid row after a valid file",
			args:       []string{"--users", users, "--urls", badURLs},
			wantCode:   exitRejected,
			wantOut:    "imported 2 users from " + users + "\n",
			wantErr:    []string{"import urls from " + badURLs, "POST /urls/bulk", "422", "line 4: is_active"},
			wantCounts: [3]int{2, 0, 0},
		},
		{
			name:     "missing file",
			args:     []string{"--users", filepath.Join(dir, "missing.csv")},
			wantCode: exitUsage,
			wantErr:  []string{"--users " + filepath.Join(dir, "missing.csv") + ": no such file"},
		},
		{
			name:     "nothing to import",
			wantCode: exitUsage,
			wantErr:  []string{"nothing to import"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAPIServer(t, server.Options{})
			res := s.cli(t, append([]string{"import"}, tt.args...)...)
			expectExit(t, res, tt.wantCode, tt.wantErr...)
			if res.out != tt.wantOut {
				t.Errorf("output = %q, want %q", res.out, tt.wantOut)
			}
			for i, path := range []string{"/users", "/urls", "/events"} {
				if _, total := s.fetchAll(t, path); total != tt.wantCounts[i] {
					t.Errorf("%s holds %d records, want %d", path, total, tt.wantCounts[i])
				}
			}
		})
	}
}

func TestImportRemoteRecords(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	s := startAPIServer(t, server.Options{})
	res := s.cli(t, "import", "--users", writeFile(t, dir, "users.csv", usersCSV), "--urls", writeFile(t, dir, "urls.csv", urlsCSV))
	expectExit(t, res, exitOK)

	var bob apiUser
	s.mustRequest(t, http.MethodGet, "/users/2", nil, http.StatusOK, &bob)
	if want := (apiUser{ID: 2, Username: "bob", Email: "bob@example.com", CreatedAt: "2025-01-02T10:00:00"}); bob != want {
		t.Errorf("user 2 = %+v, want %+v", bob, want)
	}
	u := s.getLink(t, 2)
	if u.ShortCode != "def456" || u.OriginalURL != "https://example.com/two?q=%2B" || u.IsActive {
		t.Errorf("url 2 = %s, want inactive def456 to https://example.com/two?q=%%2B", describeLink(u))
	}
}

func TestImportDatabaseJSON(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	badURLs := writeFile(t, dir, "bad_urls.csv", urlsInvalidLine4CSV)
	db := filepath.Join(dir, "json.db")

	// The JSON output names the files loaded before the failure.
	res := runCommand(t, "import", "--db", db, "--users", users, "--urls", badURLs, "-o", "json")
	expectExit(t, res, exitFailure, "import urls from "+badURLs, "line 4")
	var results []importResult
	decodeOutput(t, res, &results)
	want := []importResult{{Kind: "users", File: users, Imported: 2}}
	if !slices.Equal(results, want) {
		t.Errorf("results = %+v, want %+v", results, want)
	}
	if got := dbCounts(t, db); got != (store.Counts{Users: 2}) {
		t.Errorf("counts = %+v, want 2 users", got)
	}
}

func TestImportWithoutDatabase(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	s := startAPIServer(t, server.Options{})
	t.Setenv("LINKBOLT_SERVER", s.url)

	// Without --db or LINKBOLT_DB the rows go to the server, and no
	// database file appears in the working directory.
	res := runCommand(t, "import", "--users", writeFile(t, dir, "users.csv", usersCSV))
	expectExit(t, res, exitOK)
	if _, total := s.fetchAll(t, "/users"); total != 2 {
		t.Errorf("server holds %d users, want 2", total)
	}
	if _, err := os.Stat(filepath.Join(dir, defaultDB)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (stat error %v), want no such file", defaultDB, err)
	}
}

func TestImportRemoteAPIKey(t *testing.T) {
	const key = "bulk-key"
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	s := startAPIServer(t, server.Options{APIKeys: []string{key}})

	expectExit(t, s.cli(t, "import", "--users", users), exitRejected, "401 Unauthorized", "LINKBOLT_API_KEY")

	t.Setenv(apiKeyEnv, key)
	expectExit(t, s.cli(t, "import", "--users", users), exitOK)
	if res := s.request(t, http.MethodGet, "/users", nil, map[string]string{"Authorization": "Bearer " + key}); res.header.Get("X-Total-Count") != "2" {
		t.Errorf("X-Total-Count = %q after the import, want 2", res.header.Get("X-Total-Count"))
	}
}

func TestImportLargeUpload(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()

	// The file is larger than any buffer on the way, so it has to stream
	// through the pipe in many writes.
	const rows = 20000
	var b strings.Builder
	b.WriteString("id,username,email,created_at\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "%d,user%d,user%d@example.com,2025-01-01 10:00:00\n", i, i, i)
	}
	users := writeFile(t, dir, "users.csv", b.String())
	s := startAPIServer(t, server.Options{})

	res := s.cli(t, "import", "--users", users)
	expectExit(t, res, exitOK)
	if want := fmt.Sprintf("imported %d users from %s\n", rows, users); res.out != want {
		t.Errorf("output = %q, want %q", res.out, want)
	}
	var last apiUser
	s.mustRequest(t, http.MethodGet, fmt.Sprintf("/users/%d", rows), nil, http.StatusOK, &last)
	if last.Email != fmt.Sprintf("user%d@example.com", rows) {
		t.Errorf("last user = %+v", last)
	}
}

// seedTimePattern matches the timestamps of the seed files.
var seedTimePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)

// readCSVFile returns the rows of a CSV file, header first.
func readCSVFile(t *testing.T, path string) [][]string {
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
	return rows
}

// exportFixture builds a server with one record of each kind of cell that
// an export writes.
func exportFixture(t *testing.T) *apiServer {
	t.Helper()
	s := startAPIServer(t, server.Options{})
	var owner apiUser
	s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "owner", "email": "owner@example.com"}, http.StatusCreated, &owner)
	s.createLink(t, map[string]any{
		"original_url": "https://example.com/a?x=1&y=%2F#frag", "short_code": "opts", "title": `Quoted, "title"`,
		"user_id": owner.ID, "expires_at": "2099-01-02T03:04:05", "max_clicks": 4, "redirect_type": 308,
	})
	s.createLink(t, map[string]any{"original_url": "https://example.com/plain", "short_code": "plain", "is_active": false})
	s.click(t, "opts", "https://ref.example/?q=<b>", "Mozilla/5.0", http.StatusPermanentRedirect)
	return s
}

func TestExportCSV(t *testing.T) {
	clearEnv(t)
	s := exportFixture(t)
	dir := filepath.Join(t.TempDir(), "new", "export")

	res := s.cli(t, "export", "--dir", dir)
	expectExit(t, res, exitOK)
	want := "exported 1 user to " + filepath.Join(dir, "users.csv") + "\n" +
		"exported 2 urls to " + filepath.Join(dir, "urls.csv") + "\n" +
		"exported 3 events to " + filepath.Join(dir, "events.csv") + "\n" +
		"exported 3 reservations to " + filepath.Join(dir, "reservations.csv") + "\n"
	if res.out != want {
		t.Errorf("output = %q, want %q", res.out, want)
	}

	users := readCSVFile(t, filepath.Join(dir, "users.csv"))
	if !slices.Equal(users[0], []string{"id", "username", "email", "created_at"}) {
		t.Errorf("users header = %q", users[0])
	}
	if len(users) != 2 || users[1][1] != "owner" || !seedTimePattern.MatchString(users[1][3]) {
		t.Errorf("users rows = %q", users[1:])
	}

	urls := readCSVFile(t, filepath.Join(dir, "urls.csv"))
	wantHeader := []string{"id", "user_id", "short_code", "original_url", "title", "is_active", "created_at", "updated_at", "expires_at", "max_clicks", "redirect_type"}
	if !slices.Equal(urls[0], wantHeader) {
		t.Errorf("urls header = %q, want %q", urls[0], wantHeader)
	}
	if len(urls) != 3 {
		t.Fatalf("urls.csv has %d rows, want a header and 2", len(urls))
	}
	opts, plain := urls[1], urls[2]
	wantOpts := []string{"1", "1", "opts", "https://example.com/a?x=1&y=%2F#frag", `Quoted, "title"`, "True", opts[6], opts[7], "2099-01-02 03:04:05", "4", "308"}
	if !slices.Equal(opts, wantOpts) {
		t.Errorf("row of opts = %q\nwant            %q", opts, wantOpts)
	}
	// plain follows the server's default status, so its cell is empty.
	wantPlain := []string{"2", "", "plain", "https://example.com/plain", "", "False", plain[6], plain[7], "", "", ""}
	if !slices.Equal(plain, wantPlain) {
		t.Errorf("row of plain = %q\nwant             %q", plain, wantPlain)
	}
	for _, row := range urls[1:] {
		for _, i := range []int{6, 7} {
			if !seedTimePattern.MatchString(row[i]) {
				t.Errorf("%s of %s = %q, want YYYY-MM-DD HH:MM:SS", wantHeader[i], row[2], row[i])
			}
		}
	}

	events := readCSVFile(t, filepath.Join(dir, "events.csv"))
	if !slices.Equal(events[0], []string{"id", "url_id", "user_id", "event_type", "timestamp", "details"}) {
		t.Errorf("events header = %q", events[0])
	}
	types := make([]string, 0, len(events)-1)
	for _, row := range events[1:] {
		types = append(types, row[3])
		var details map[string]any
		if err := json.Unmarshal([]byte(row[5]), &details); err != nil {
			t.Errorf("details of event %s is not a JSON object: %q", row[0], row[5])
		}
		if !seedTimePattern.MatchString(row[4]) {
			t.Errorf("timestamp of event %s = %q", row[0], row[4])
		}
	}
	if got := strings.Join(types, " "); got != "created created click" {
		t.Errorf("event types = %q, want created created click", got)
	}

	// The highest id of each kind; no link was removed, so no code.
	reservations := readCSVFile(t, filepath.Join(dir, "reservations.csv"))
	wantReservations := [][]string{{"kind", "id", "short_code"}, {"user", "1", ""}, {"url", "2", ""}, {"event", "3", ""}}
	if !slices.EqualFunc(reservations, wantReservations, slices.Equal) {
		t.Errorf("reservations.csv = %q, want %q", reservations, wantReservations)
	}

	// Only details cells need quotes, as in the seed files.
	raw, err := os.ReadFile(filepath.Join(dir, "events.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`,"{""short_code"":""opts""`)) {
		t.Errorf("events.csv does not quote details as the seed files do:\n%s", raw)
	}
	assertNoTempFiles(t, dir)
}

func TestExportJSONL(t *testing.T) {
	clearEnv(t)
	s := exportFixture(t)
	dir := t.TempDir()

	res := s.cli(t, "export", "--dir", dir, "--format", "jsonl", "-o", "json")
	expectExit(t, res, exitOK)
	var results []exportResult
	decodeOutput(t, res, &results)
	wantResults := []exportResult{
		{Kind: "users", File: filepath.Join(dir, "users.jsonl"), Records: 1},
		{Kind: "urls", File: filepath.Join(dir, "urls.jsonl"), Records: 2},
		{Kind: "events", File: filepath.Join(dir, "events.jsonl"), Records: 3},
		{Kind: "reservations", File: filepath.Join(dir, "reservations.jsonl"), Records: 3},
	}
	if !slices.Equal(results, wantResults) {
		t.Errorf("results = %+v, want %+v", results, wantResults)
	}

	for _, kind := range []string{"users", "urls", "events", "reservations"} {
		t.Run(kind, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, kind+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			path := "/" + kind
			if kind == "reservations" {
				path = "/admin/reservations"
			}
			want, _ := s.fetchAll(t, path)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(lines) != len(want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), data)
			}
			for i, line := range lines {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal([]byte(line), &obj); err != nil {
					t.Errorf("line %d is not a JSON object: %q", i+1, line)
				}
				var compact bytes.Buffer
				json.Compact(&compact, want[i])
				if line != compact.String() {
					t.Errorf("line %d = %s\nwant      %s", i+1, line, compact.String())
				}
			}
		})
	}
}

// assertNoTempFiles fails the test if dir holds a temporary file of an
// export.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

// answerPath wraps a server's handler so that requests for path get
// status and the JSON body, and all others reach the server.
func answerPath(path string, status int, body string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		})
	}
}

func TestExportFailureLeavesNoFile(t *testing.T) {
	clearEnv(t)

	// The events list fails after users and urls were read.
	failEvents := answerPath("/events", http.StatusServiceUnavailable, `{"error":"the database is not available"}`)
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "fail.db"), nil, server.Options{}, failEvents)
	s.createLink(t, map[string]any{"original_url": "https://example.com/f"})

	dir := t.TempDir()
	oldUsers := writeFile(t, dir, "users.csv", "from an earlier export\n")

	res := s.cli(t, "export", "--dir", dir, "--force")
	expectExit(t, res, exitUnavailable, "export events", "503 Service Unavailable")
	if res.out != "" {
		t.Errorf("output = %q, want empty", res.out)
	}
	if data, err := os.ReadFile(oldUsers); err != nil || string(data) != "from an earlier export\n" {
		t.Errorf("users.csv = %q (%v), want the earlier file untouched", data, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "urls.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("urls.csv exists (stat error %v), want no file", err)
	}
	assertNoTempFiles(t, dir)
}

func TestExportFromServerWithoutReservations(t *testing.T) {
	clearEnv(t)

	// A server older than the reservations route responds to it with 404.
	noRoute := answerPath("/admin/reservations", http.StatusNotFound, `{"error":"not found"}`)
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "old.db"), nil, server.Options{}, noRoute)
	s.createLink(t, map[string]any{"original_url": "https://example.com/old"})

	dir := t.TempDir()
	res := s.cli(t, "export", "--dir", dir)
	expectExit(t, res, exitOK)
	if !strings.Contains(res.errOut, "no reservations file was written") {
		t.Errorf("stderr = %q, want a note about the missing reservations", res.errOut)
	}
	for _, name := range []string{"users.csv", "urls.csv", "events.csv"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v, want the file written", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "reservations.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reservations.csv exists (stat error %v), want no file", err)
	}
	assertNoTempFiles(t, dir)
}

func TestExportFailureRemovesDirectory(t *testing.T) {
	clearEnv(t)

	// failing responds 503 to the events list, after users and urls were
	// read and written.
	failing := startAPIServerOn(t, filepath.Join(t.TempDir(), "fail.db"), nil, server.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/events" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":"the database is not available"}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	down := closedServerURL(t)
	parent := t.TempDir()
	existing := filepath.Join(parent, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		server   string
		dir      string
		wantGone string // directory that must not exist afterwards, "" for none
	}{
		{"server down", down, filepath.Join(parent, "down"), filepath.Join(parent, "down")},
		{"server down, nested", down, filepath.Join(parent, "a", "b", "c"), filepath.Join(parent, "a")},
		{"events fail", failing.url, filepath.Join(parent, "events"), filepath.Join(parent, "events")},
		{"existing directory kept", down, existing, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, "export", "--dir", tt.dir, "--server", tt.server)
			expectExit(t, res, exitUnavailable)
			if tt.wantGone != "" {
				if _, err := os.Stat(tt.wantGone); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists (stat error %v), want it removed", tt.wantGone, err)
				}
			}
		})
	}

	if entries, err := os.ReadDir(existing); err != nil || len(entries) != 0 {
		t.Errorf("existing directory: %d entries (%v), want it kept and empty", len(entries), err)
	}
	if entries, err := os.ReadDir(parent); err != nil || len(entries) != 1 {
		t.Errorf("%s holds %d entries (%v), want only the existing directory", parent, len(entries), err)
	}
}

func TestExportExistingFiles(t *testing.T) {
	clearEnv(t)
	s := exportFixture(t)
	dir := t.TempDir()
	oldUsers := writeFile(t, dir, "users.csv", "from an earlier export\n")
	oldURLs := writeFile(t, dir, "urls.csv", "from an earlier export\n")

	res := s.cli(t, "export", "--dir", dir)
	expectExit(t, res, exitUsage, "--dir "+dir+" already contains users.csv, urls.csv:", "--force")
	for _, path := range []string{oldUsers, oldURLs} {
		if data, err := os.ReadFile(path); err != nil || string(data) != "from an earlier export\n" {
			t.Errorf("%s = %q (%v), want the earlier file untouched", path, data, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "events.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("events.csv exists (stat error %v), want no file", err)
	}
	assertNoTempFiles(t, dir)

	// Files of the other format do not count.
	expectExit(t, s.cli(t, "export", "--dir", dir, "--format", "jsonl"), exitOK)

	res = s.cli(t, "export", "--dir", dir, "--force")
	expectExit(t, res, exitOK)
	if users := readCSVFile(t, oldUsers); len(users) != 2 || users[1][1] != "owner" {
		t.Errorf("users.csv after --force = %q, want the new export", users)
	}
}

func TestExportErrors(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	file := writeFile(t, t.TempDir(), "file", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no dir", []string{"export"}, exitUsage, "missing --dir"},
		{"unknown format", []string{"export", "--dir", t.TempDir(), "--format", "xml"}, exitUsage, `invalid --format "xml"`},
		{"dir is a file", []string{"export", "--dir", file}, exitFailure, "create export directory"},
		{"server down", []string{"export", "--dir", t.TempDir(), "--server", closedServerURL(t)}, exitUnavailable, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !slices.Contains(args, "--server") {
				args = append(args, "--server", s.url)
			}
			expectExit(t, runCommand(t, args...), tt.wantCode, tt.wantErr)
		})
	}
}

func TestBackupCommand(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	seedLinks(t, s, 3)
	dir := t.TempDir()

	tests := []struct {
		name   string
		out    string
		before string // content of the file before the backup, "" for none
		json   bool
	}{
		{"new file", filepath.Join(dir, "new.db"), "", false},
		{"force replaces a file", filepath.Join(dir, "old.db"), "old content", false},
		{"json", filepath.Join(dir, "json.db"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != "" {
				writeFile(t, dir, filepath.Base(tt.out), tt.before)
			}
			args := []string{"backup", "--out", tt.out}
			if tt.before != "" {
				args = append(args, "--force")
			}
			if tt.json {
				args = append(args, "-o", "json")
			}
			res := s.cli(t, args...)
			expectExit(t, res, exitOK)

			info, err := os.Stat(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if tt.json {
				var got backupJSON
				decodeOutput(t, res, &got)
				if got != (backupJSON{File: tt.out, Bytes: info.Size()}) {
					t.Errorf("output = %+v, want file %s of %d bytes", got, tt.out, info.Size())
				}
			} else if want := fmt.Sprintf("wrote backup of %d bytes to %s\n", info.Size(), tt.out); res.out != want {
				t.Errorf("output = %q, want %q", res.out, want)
			}
			assertNoTempFiles(t, dir)

			// The copy opens as a database with the server's records.
			st, err := store.Open(tt.out, &store.Options{ReadOnly: true})
			if err != nil {
				t.Fatalf("opening the backup: %v", err)
			}
			defer st.Close()
			counts, err := st.Counts()
			if err != nil {
				t.Fatal(err)
			}
			if want := (store.Counts{Users: 2, URLs: 3, Events: 3}); counts != want {
				t.Errorf("backup counts = %+v, want %+v", counts, want)
			}
		})
	}
}

func TestBackupErrors(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})

	// short announces more bytes than it sends, as a server that failed
	// during the snapshot does.
	short := startAPIServerOn(t, filepath.Join(t.TempDir(), "short.db"), nil, server.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/admin/backup" {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Length", "4096")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, strings.Repeat("x", 1000))
			panic(http.ErrAbortHandler)
		})
	})

	dir := t.TempDir()
	kept := writeFile(t, dir, "kept.db", "earlier backup")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no out", []string{"backup", "--server", s.url}, exitUsage, "missing --out"},
		{"short body", []string{"backup", "--out", kept, "--force", "--server", short.url}, exitUnavailable, "GET " + short.url + "/admin/backup"},
		{"directory missing", []string{"backup", "--out", filepath.Join(dir, "no", "such", "dir.db"), "--server", s.url}, exitFailure,
			"--out " + filepath.Join(dir, "no", "such", "dir.db") + ": directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{"server down", []string{"backup", "--out", filepath.Join(dir, "down.db"), "--server", closedServerURL(t)}, exitUnavailable, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, tt.args...)
			expectExit(t, res, tt.wantCode, tt.wantErr)
			if strings.Contains(res.errOut, ".tmp") {
				t.Errorf("stderr names a temporary file: %s", res.errOut)
			}
		})
	}

	// The failed backups left the earlier file alone and no temporary file.
	if data, err := os.ReadFile(kept); err != nil || string(data) != "earlier backup" {
		t.Errorf("kept.db = %q (%v), want the earlier backup", data, err)
	}
	assertNoTempFiles(t, dir)
}

func TestBackupRejectsNonDatabase(t *testing.T) {
	clearEnv(t)

	// A real backup with both meta pages damaged has the right size but
	// no valid meta page.
	s := startAPIServer(t, server.Options{})
	seedLinks(t, s, 2)
	good := filepath.Join(t.TempDir(), "good.db")
	expectExit(t, s.cli(t, "backup", "--out", good), exitOK)
	damaged, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []int{0, 1} {
		damaged[page*os.Getpagesize()+16] ^= 0xff // the magic number
	}

	// A valid bbolt file of another program has none of linkbolt's
	// buckets.
	foreignPath := filepath.Join(t.TempDir(), "foreign.db")
	fdb, err := bolt.Open(foreignPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = fdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if closeErr := fdb.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := os.ReadFile(foreignPath)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		body []byte
		size bool // send Content-Length
	}{
		{"zeros without size", make([]byte, 5000), false},
		{"zeros with size", make([]byte, 16384), true},
		{"html page", []byte("<html>Welcome</html>\n"), true},
		{"empty body", nil, true},
		{"damaged meta pages", damaged, true},
		{"bbolt file of another program", foreign, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.size {
					w.Header().Set("Content-Length", strconv.Itoa(len(tt.body)))
				}
				w.WriteHeader(http.StatusOK)
				w.Write(tt.body)
			}))
			defer fake.Close()

			dir := t.TempDir()
			out := filepath.Join(dir, "backup.db")
			res := runCommand(t, "backup", "--out", out, "--server", fake.URL)
			expectExit(t, res, exitUnavailable, fmt.Sprintf("the response of %d bytes is not a sound linkbolt database", len(tt.body)),
				"names linkbolt itself, not a proxy")
			// The server responded, so the hint is not about reaching it,
			// and the removed temporary file is not named.
			for _, unwanted := range []string{"check that the server runs", ".tmp", "restore it from a backup"} {
				if strings.Contains(res.errOut, unwanted) {
					t.Errorf("stderr %q contains %q", res.errOut, unwanted)
				}
			}
			if res.out != "" {
				t.Errorf("output = %q, want empty", res.out)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Errorf("%s holds %d entries (%v), want none", dir, len(entries), err)
			}
		})
	}
}

func TestBackupRedirectIsUnavailable(t *testing.T) {
	clearEnv(t)
	// A static file server redirects a request for a directory path.
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
	}))
	defer fake.Close()

	dir := t.TempDir()
	res := runCommand(t, "backup", "--out", filepath.Join(dir, "b.db"), "--server", fake.URL)
	expectExit(t, res, exitUnavailable, "301 Moved Permanently", "names linkbolt itself")
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("%s holds %d entries (%v), want none", dir, len(entries), err)
	}
}

func TestBackupExistingTarget(t *testing.T) {
	clearEnv(t)

	// The wrapper counts downloads, because a rejected target must be
	// rejected before the download starts.
	var downloads atomic.Int64
	countBackups := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/admin/backup" {
				downloads.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}
	liveDB := filepath.Join(t.TempDir(), "live.db")
	s := startAPIServerOn(t, liveDB, nil, server.Options{}, countBackups)
	seedLinks(t, s, 2)

	dir := t.TempDir()
	regular := writeFile(t, dir, "regular.db", "earlier backup")
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	tests := []struct {
		name     string
		out      string
		force    bool
		wantCode int
		wantErr  []string
	}{
		{"regular file", regular, false, exitUsage, []string{"already exists", "--force", "never the database file that the server runs on"}},
		{"directory", subdir, false, exitUsage, []string{subdir + " is a directory"}},
		{"directory with force", subdir, true, exitUsage, []string{subdir + " is a directory"}},
		{"symbolic link with force", link, true, exitUsage, []string{link + " is a symbolic link"}},
		{"socket with force", socket, true, exitUsage, []string{socket + " is a socket"}},
		{"live database", liveDB, false, exitUsage, []string{"already exists"}},
		{"live database with force", liveDB, true, exitInUse, []string{"in use by another process", "live database"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantCode == exitInUse && !slices.Contains([]string{"darwin", "dragonfly", "freebsd", "linux", "netbsd", "openbsd"}, runtime.GOOS) {
				t.Skipf("backup does not detect a locked file on %s", runtime.GOOS)
			}
			before, err := os.Lstat(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			downloads.Store(0)
			args := []string{"backup", "--out", tt.out}
			if tt.force {
				args = append(args, "--force")
			}
			expectExit(t, s.cli(t, args...), tt.wantCode, tt.wantErr...)

			after, err := os.Lstat(tt.out)
			if err != nil {
				t.Fatalf("%s is gone: %v", tt.out, err)
			}
			if !os.SameFile(before, after) || before.Mode() != after.Mode() {
				t.Errorf("%s was replaced: mode %v before, %v after", tt.out, before.Mode(), after.Mode())
			}
			if n := downloads.Load(); n != 0 {
				t.Errorf("%d backups downloaded, want the target rejected first", n)
			}
		})
	}

	if data, err := os.ReadFile(regular); err != nil || string(data) != "earlier backup" {
		t.Errorf("regular.db = %q (%v), want the earlier backup", data, err)
	}
	assertNoTempFiles(t, dir)

	// The server still writes to the file it opened, so writes after the
	// backup attempts are not lost.
	s.createLink(t, map[string]any{"original_url": "https://example.com/after", "short_code": "after"})
	if got := s.getLink(t, 3); got.ShortCode != "after" {
		t.Errorf("link 3 = %s, want the one created after the backup attempts", describeLink(got))
	}
}

func TestBackupTargetCreatedDuringDownload(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "appears.db")

	// The server creates the target while it sends the backup, as another
	// process could.
	s := startAPIServerOn(t, filepath.Join(t.TempDir(), "api.db"), nil, server.Options{}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/admin/backup" {
				if err := os.WriteFile(target, []byte("written meanwhile"), 0o600); err != nil {
					t.Error(err)
				}
			}
			next.ServeHTTP(w, r)
		})
	})

	expectExit(t, s.cli(t, "backup", "--out", target), exitUsage, "already exists")
	if data, err := os.ReadFile(target); err != nil || string(data) != "written meanwhile" {
		t.Errorf("%s = %q (%v), want the file written during the download", target, data, err)
	}
	assertNoTempFiles(t, dir)
}

func TestImportRejectsJSONLines(t *testing.T) {
	clearEnv(t)
	exported := t.TempDir()
	expectExit(t, exportFixture(t).cli(t, "export", "--dir", exported, "--format", "jsonl"), exitOK)

	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	data, err := os.ReadFile(filepath.Join(exported, "urls.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	renamed := writeFile(t, dir, "urls-renamed.csv", string(data))
	csvNamedJSON := writeFile(t, dir, "users.json", usersCSV)

	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{
			name:    "export in JSON Lines",
			args:    importArgs(exported, "jsonl"),
			wantErr: []string{"--users " + filepath.Join(exported, "users.jsonl") + " is JSON", "import reads only the CSV format", "JSON Lines exports are for other tools"},
		},
		{
			name:    "JSON Lines after a CSV file",
			args:    []string{"import", "--users", users, "--urls", filepath.Join(exported, "urls.jsonl")},
			wantErr: []string{"--urls " + filepath.Join(exported, "urls.jsonl") + " is JSON"},
		},
		{
			name:    "CSV under a json name",
			args:    []string{"import", "--users", csvNamedJSON},
			wantErr: []string{"--users " + csvNamedJSON + " has the name of a JSON file (.json)", "rename it to end in .csv"},
		},
		{
			name:    "JSON Lines under a csv name",
			args:    []string{"import", "--users", users, "--urls", renamed},
			wantErr: []string{"--urls " + renamed + " is JSON", "import reads only the CSV format"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAPIServer(t, server.Options{})
			res := s.cli(t, tt.args...)
			expectExit(t, res, exitUsage, tt.wantErr...)
			if res.out != "" {
				t.Errorf("output = %q, want empty", res.out)
			}
			for _, path := range []string{"/users", "/urls", "/events"} {
				if _, total := s.fetchAll(t, path); total != 0 {
					t.Errorf("%s holds %d records, want none imported", path, total)
				}
			}

			db := filepath.Join(t.TempDir(), "direct.db")
			expectExit(t, runCommand(t, append(tt.args, "--db", db)...), exitUsage, tt.wantErr...)
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists (stat error %v), want no file", db, err)
			}
		})
	}
}

func TestImportChecksFilesFirst(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	urls := writeFile(t, dir, "urls.csv", urlsCSV)
	missing := filepath.Join(dir, "missing.csv")

	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"missing third file", []string{"--users", users, "--urls", urls, "--events", missing}, []string{"--events " + missing + ": no such file"}},
		{"missing first file", []string{"--users", missing, "--urls", urls}, []string{"--users " + missing + ": no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAPIServer(t, server.Options{})
			res := s.cli(t, append([]string{"import"}, tt.args...)...)
			expectExit(t, res, exitUsage, tt.wantErr...)
			if res.out != "" {
				t.Errorf("output = %q, want empty", res.out)
			}
			for _, path := range []string{"/users", "/urls"} {
				if _, total := s.fetchAll(t, path); total != 0 {
					t.Errorf("%s holds %d records, want none imported", path, total)
				}
			}

			db := filepath.Join(t.TempDir(), "direct.db")
			res = runCommand(t, append([]string{"import", "--db", db}, tt.args...)...)
			expectExit(t, res, exitUsage, tt.wantErr...)
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists (stat error %v), want no file", db, err)
			}
		})
	}
}

// seedDataDir is the folder of the seed CSV files beside the project.
const seedDataDir = "../../shared/data"

// requireSeedData skips the test when the seed files are absent, unless
// LINKBOLT_REQUIRE_INTEGRATION=1. It is called before clearEnv.
func requireSeedData(t *testing.T) {
	t.Helper()
	for _, name := range []string{"users.csv", "urls.csv", "events.csv"} {
		if _, err := os.Stat(filepath.Join(seedDataDir, name)); err != nil {
			if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
				t.Fatalf("seed file missing: %v", err)
			}
			t.Skipf("seed file missing (set LINKBOLT_REQUIRE_INTEGRATION=1 to fail instead): %v", err)
		}
	}
}

// importArgs returns the arguments that import the three files of dir.
func importArgs(dir, ext string) []string {
	return []string{"import",
		"--users", filepath.Join(dir, "users."+ext),
		"--urls", filepath.Join(dir, "urls."+ext),
		"--events", filepath.Join(dir, "events."+ext)}
}

func TestExportImportRoundTrip(t *testing.T) {
	requireSeedData(t)
	clearEnv(t)
	a := startAPIServer(t, server.Options{})
	expectExit(t, a.cli(t, importArgs(seedDataDir, "csv")...), exitOK)

	// Change server A through the CLI and the API, so that the export
	// holds every kind of record and field the API writes.
	steps := [][]string{
		{"create", "https://example.com/options?a=1&b=%2F", "--code", "rt-options", "--title", `Options, "quoted"`,
			"--user-id", "3", "--expires-at", "2099-06-07T08:09:10", "--max-clicks", "2", "--redirect-type", "308"},
		{"create", "https://example.com/expired", "--code", "rt-expired", "--expires-at", "2099-01-01T00:00:00", "--redirect-type", "301"},
		{"update", "2002", "--expires-at", "2020-01-01T00:00:00"},
		{"create", "https://example.com/inactive", "--code", "rt-inactive", "--inactive"},
		{"update", "1", "--title", "Renamed", "--inactive"},
		{"update", "2", "--no-user", "--max-clicks", "10", "--no-title"},
		{"update", "4", "--url", "https://example.com/moved#x", "--redirect-type", "307"},
		{"user", "create", "roundtrip", "roundtrip@example.com"},
		{"user", "delete", "5"},
		{"delete", "10"},
	}
	for _, args := range steps {
		expectExit(t, a.cli(t, args...), exitOK)
	}
	second := a.getLink(t, 2)
	for i := range 3 {
		a.click(t, second.ShortCode, fmt.Sprintf("https://ref%d.example/", i%2), "Mozilla/5.0", http.StatusFound)
	}
	a.click(t, second.ShortCode, "", "Slackbot-LinkExpanding 1.0", http.StatusFound)
	a.click(t, "rt-options", "https://news.example/?q=<a&b>", "Mozilla/5.0", http.StatusPermanentRedirect)
	a.click(t, "rt-options", "", "Mozilla/5.0", http.StatusPermanentRedirect)
	a.click(t, "rt-options", "", "Mozilla/5.0", http.StatusGone)
	a.click(t, "rt-expired", "", "Mozilla/5.0", http.StatusGone)
	a.mustRequest(t, http.MethodPost, "/events", map[string]any{
		"event_type": "note", "url_id": 3, "user_id": nil, "details": map[string]any{"text": "<b>&amp;</b>", "n": 1.5},
	}, http.StatusCreated, nil)

	dir := t.TempDir()
	expectExit(t, a.cli(t, "export", "--dir", dir), exitOK)

	b := startAPIServer(t, server.Options{})
	res := b.cli(t, importArgs(dir, "csv")...)
	expectExit(t, res, exitOK)

	for _, path := range []string{"/users", "/urls", "/events"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			fromA, totalA := a.fetchAll(t, path)
			fromB, totalB := b.fetchAll(t, path)
			if totalA != totalB || len(fromA) != len(fromB) {
				t.Fatalf("A holds %d (%d listed), B holds %d (%d listed)", totalA, len(fromA), totalB, len(fromB))
			}
			diffs := 0
			for i := range fromA {
				if !bytes.Equal(fromA[i], fromB[i]) {
					diffs++
					if diffs <= 10 {
						t.Errorf("record %d differs:\nA: %s\nB: %s", i, fromA[i], fromB[i])
					}
				}
			}
			if diffs > 10 {
				t.Errorf("and %d more records differ", diffs-10)
			}
		})
	}

	// The link options survived and still act on server B.
	opts := b.getLink(t, 2001)
	if opts.ShortCode != "rt-options" || cell(opts.ExpiresAt) != "2099-06-07T08:09:10" ||
		idCell(opts.MaxClicks) != "2" || opts.RedirectType != 308 || opts.ClickCount != 2 {
		t.Errorf("rt-options on B = %s click_count=%d", describeLink(opts), opts.ClickCount)
	}
	b.click(t, "rt-options", "", "Mozilla/5.0", http.StatusGone)
	b.click(t, "rt-expired", "", "Mozilla/5.0", http.StatusGone)

	// Stats come from the events, so they match too.
	for _, id := range []uint64{second.ID, opts.ID} {
		path := "/urls/" + strconv.FormatUint(id, 10) + "/stats?days=3660"
		statsA := a.request(t, http.MethodGet, path, nil, nil)
		statsB := b.request(t, http.MethodGet, path, nil, nil)
		if statsA.status != http.StatusOK || !bytes.Equal(statsA.body, statsB.body) {
			t.Errorf("GET %s: A %d %s\nB %d %s", path, statsA.status, statsA.body, statsB.status, statsB.body)
		}
	}

	// A JSON Lines export holds one API object per line, the same as the
	// lists of server A.
	jsonlDir := t.TempDir()
	expectExit(t, a.cli(t, "export", "--dir", jsonlDir, "--format", "jsonl"), exitOK)
	for _, kind := range []string{"users", "urls", "events"} {
		data, err := os.ReadFile(filepath.Join(jsonlDir, kind+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := a.fetchAll(t, "/"+kind)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != len(want) {
			t.Errorf("%s.jsonl has %d lines, want %d", kind, len(lines), len(want))
			continue
		}
		for i, line := range lines {
			if !strings.HasPrefix(line, "{") || !json.Valid([]byte(line)) || line != string(want[i]) {
				t.Errorf("%s.jsonl line %d = %s, want %s", kind, i+1, line, want[i])
				break
			}
		}
	}
}

// TestImportRejectsRouteWordReservations imports a reservation of a code
// that names a route, which POST /urls refuses, so import refuses it too,
// into a server and into a file.
func TestImportRejectsRouteWordReservations(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "reservations.csv", "kind,id,short_code\nurl,7,gone\nurl,8,Admin\n")
	wantErr := []string{"line 3", `short_code "Admin" is a path of this API`}

	s := startAPIServer(t, server.Options{})
	expectExit(t, s.cli(t, "import", "--reservations", path), exitRejected, wantErr...)
	if list, total := s.fetchAll(t, "/admin/reservations"); total != 0 {
		t.Errorf("reservations = %s, want none imported", list)
	}

	db := filepath.Join(t.TempDir(), "direct.db")
	expectExit(t, runCommand(t, "import", "--db", db, "--reservations", path), exitFailure, wantErr...)
}

func TestImportRejectsDBWithServer(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	db := filepath.Join(dir, "direct.db")
	res := runCommand(t, "import", "--db", db, "--server", "http://127.0.0.1:1", "--users", users)
	expectExit(t, res, exitUsage, "--server and --db name two targets")
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (stat error %v), want no file", db, err)
	}
}

func TestImportRejectsRepeatedFileFlag(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	first := writeFile(t, dir, "first.csv", usersCSV)
	second := writeFile(t, dir, "second.csv", usersCSV)
	db := filepath.Join(dir, "direct.db")
	res := runCommand(t, "import", "--db", db, "--users", first, "--users", second)
	expectExit(t, res, exitUsage, `"--users" flag: given twice`, first, second)
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (stat error %v), want no file", db, err)
	}
}
