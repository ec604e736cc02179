package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/linkbolt/linkbolt/cache"
	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

// commandTimeout bounds one in-process command, so that a command that
// starts serving by mistake fails the test instead of hanging it.
const commandTimeout = 20 * time.Second

// CSV fixtures in the format that import reads: a header, then one record
// per row.
const (
	usersCSV = "id,username,email,created_at\n" +
		"1,alice,alice@example.com,2025-01-01 10:00:00\n" +
		"2,bob,bob@example.com,2025-01-02 10:00:00\n"
	urlsCSV = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n" +
		"1,1,abc123,https://example.com/one,One,True,2025-01-03 10:00:00,2025-01-03 11:00:00\n" +
		"2,1,def456,https://example.com/two?q=%2B,Two,False,2025-01-04 10:00:00,2025-01-04 10:00:00\n" +
		"3,2,ghi789,https://example.com/three#top,Three,True,2025-01-05 10:00:00,2025-01-05 10:00:00\n"
	eventsCSV = "id,url_id,user_id,event_type,timestamp,details\n" +
		`1,1,1,created,2025-01-03 10:00:00,"{""short_code"":""abc123"",""original_url"":""https://example.com/one""}"` + "\n" +
		`2,2,1,updated,2025-01-04 12:00:00,"{""field"":""is_active"",""new_value"":""off""}"` + "\n"

	// usersInvalidLine3CSV has an invalid email on line 3.
	usersInvalidLine3CSV = "id,username,email,created_at\n" +
		"1,alice,alice@example.com,2025-01-01 10:00:00\n" +
		"2,bob,not-an-email,2025-01-02 10:00:00\n"

	// urlsInvalidLine4CSV has an is_active that is not True or False on
	// line 4.
	urlsInvalidLine4CSV = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n" +
		"1,1,abc123,https://example.com/one,One,True,2025-01-03 10:00:00,2025-01-03 10:00:00\n" +
		"2,1,def456,https://example.com/two,Two,True,2025-01-04 10:00:00,2025-01-04 10:00:00\n" +
		"3,2,ghi789,https://example.com/three,Three,maybe,2025-01-05 10:00:00,2025-01-05 10:00:00\n"

	// eventsInvalidLine2CSV has details that are a JSON array on line 2.
	eventsInvalidLine2CSV = "id,url_id,user_id,event_type,timestamp,details\n" +
		`1,1,1,created,2025-01-03 10:00:00,"[1,2]"` + "\n"
)

// result is the outcome of one in-process command.
type result struct {
	code   int
	out    string
	errOut string
}

// runCommand runs args through run and fails the test if the command does
// not return within commandTimeout.
func runCommand(t *testing.T, args ...string) result {
	t.Helper()
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		done <- result{code: code, out: out.String(), errOut: errOut.String()}
	}()
	select {
	case res := <-done:
		return res
	case <-time.After(commandTimeout):
		t.Fatalf("linkbolt %s did not return within %v", strings.Join(args, " "), commandTimeout)
		return result{}
	}
}

// clearEnv unsets every LINKBOLT_ variable for the duration of the test,
// so that the environment of the test run cannot change its outcome.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "LINKBOLT_") {
			t.Setenv(name, value)
			os.Unsetenv(name)
		}
	}
}

// writeFile writes a fixture into dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dbCounts opens the database file and returns its record counts.
func dbCounts(t *testing.T, path string) store.Counts {
	t.Helper()
	st, err := store.Open(path, nil)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer st.Close()
	c, err := st.Counts()
	if err != nil {
		t.Fatalf("counting records of %s: %v", path, err)
	}
	return c
}

// takenAddr returns a loopback address that a listener of the test holds
// until the test ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestVersion(t *testing.T) {
	res := runCommand(t, "version")
	if res.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.code, res.errOut)
	}
	want := regexp.MustCompile(`^linkbolt \S+ \(commit \S+, built \S+, ` + regexp.QuoteMeta(runtime.Version()) + `\)\n$`)
	if !want.MatchString(res.out) {
		t.Errorf("output %q does not match %s", res.out, want)
	}
	if !strings.HasPrefix(res.out, "linkbolt "+version+" (commit "+commit+", built "+date+",") {
		t.Errorf("output %q does not name version %s, commit %s and date %s", res.out, version, commit, date)
	}
	if res.errOut != "" {
		t.Errorf("stderr = %q, want empty", res.errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "usage.db")
	busyAddr := takenAddr(t)

	// Every serve case names a busy address, so that a command that
	// accepted its arguments by mistake fails to listen instead of serving.
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"serve", "--no-such-flag", "--addr", busyAddr, "--db", db}, "unknown flag"},
		{"unknown global flag", []string{"--no-such-flag", "version"}, "unknown flag"},
		{"flag value not an integer", []string{"serve", "--cache-size", "many", "--addr", busyAddr, "--db", db}, "cache-size"},
		{"flag value not a duration", []string{"serve", "--click-flush", "soon", "--addr", busyAddr, "--db", db}, "click-flush"},
		{"argument to version", []string{"version", "extra"}, "extra"},
		{"argument to import", []string{"import", "--db", db, "extra"}, "extra"},
		{"import without files", []string{"import", "--db", db}, "nothing to import"},
		{"invalid log level", []string{"serve", "--log-level", "loud", "--addr", busyAddr, "--db", db}, "loud"},
		{"invalid log format", []string{"serve", "--log-format", "xml", "--addr", busyAddr, "--db", db}, "xml"},
		{"zero cache size", []string{"serve", "--cache-size", "0", "--addr", busyAddr, "--db", db}, "cache-size"},
		{"invalid redirect status", []string{"serve", "--redirect-status", "303", "--addr", busyAddr, "--db", db}, "303"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, tt.args...)
			if res.code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, exitUsage, res.errOut)
			}
			if !strings.Contains(res.errOut, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", res.errOut, tt.wantErr)
			}
			lines := strings.Split(strings.TrimSuffix(res.errOut, "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "linkbolt: ") {
				t.Errorf("last line of stderr %q does not start with \"linkbolt: \"", last)
			}
		})
	}
}

func TestNumericFlagErrors(t *testing.T) {
	clearEnv(t)
	db := filepath.Join(t.TempDir(), "flags.db")
	busyAddr := takenAddr(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bench rate out of range", []string{"bench", "--rate", "99999999999999999999"},
			`invalid --rate "99999999999999999999": out of range; use an integer from 0 to 1000000 requests per second`},
		{"bench workers not a number", []string{"bench", "--workers", "many"},
			`invalid --workers "many": use an integer from 1 to 10000`},
		{"bench zipf out of range", []string{"bench", "--zipf", "1e999"},
			`invalid --zipf "1e999": out of range; use 0, or a number above 1 and at most 100`},
		{"bench duration not a duration", []string{"bench", "--duration", "9999999999999h"},
			`invalid --duration "9999999999999h": use a duration such as 10s, above 0 and at most 1h0m0s`},
		{"list negative user id", []string{"list", "--user-id", "-1"},
			`invalid --user-id "-1": use a user id from 1 to 9007199254740991`},
		{"list per page out of range", []string{"list", "--per-page", "99999999999999999999"},
			`invalid --per-page "99999999999999999999": out of range; use an integer from 1 to 1000`},
		{"create max clicks out of range", []string{"create", "https://example.com/", "--max-clicks", "99999999999999999999"},
			`invalid --max-clicks "99999999999999999999": out of range; use an integer from 1 to 9223372036854775807`},
		{"get days out of range", []string{"get", "1", "--stats", "--days", "99999999999999999999"},
			`invalid --days "99999999999999999999": out of range; use an integer from 1 to 3660`},
		{"serve cache size out of range", []string{"serve", "--cache-size", "99999999999999999999", "--addr", busyAddr, "--db", db},
			`invalid --cache-size "99999999999999999999": out of range; use an integer from 16 to 9223372036854775807`},
		{"nginx-conf keepalive not a number", []string{"nginx-conf", "--peers", "127.0.0.1:1", "--keepalive", "1.5"},
			`invalid --keepalive "1.5": use an integer from 1 to 9223372036854775807`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, tt.args...)
			expectExit(t, res, exitUsage, tt.want)
			if strings.Contains(res.errOut, "strconv") {
				t.Errorf("stderr shows the strconv error: %s", res.errOut)
			}
		})
	}

	t.Run("environment variable", func(t *testing.T) {
		t.Setenv("LINKBOLT_RATE_LIMIT", "1e999")
		res := runCommand(t, "serve", "--addr", busyAddr, "--db", db)
		expectExit(t, res, exitUsage, `invalid LINKBOLT_RATE_LIMIT "1e999": out of range; use requests per second from 0.001 to 1000000`)
	})
}

func TestNumericFlagsStateRanges(t *testing.T) {
	numeric := map[string]bool{"int": true, "int64": true, "uint64": true, "float64": true, "duration": true, "durationSlice": true}
	var visit func(cmd *cobra.Command)
	visit = func(cmd *cobra.Command) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if numeric[f.Value.Type()] && len(f.Annotations[rangeAnnotation]) == 0 {
				t.Errorf("%s --%s (%s) states no range with describeRanges", cmd.CommandPath(), f.Name, f.Value.Type())
			}
		})
		for _, sub := range cmd.Commands() {
			visit(sub)
		}
	}
	visit(newRootCommand(io.Discard, io.Discard))
}

func TestImportFixtures(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	urls := writeFile(t, dir, "urls.csv", urlsCSV)
	events := writeFile(t, dir, "events.csv", eventsCSV)

	tests := []struct {
		name       string
		files      []string // flag, path pairs
		wantOut    string
		wantCounts store.Counts
	}{
		{
			name:       "users only",
			files:      []string{"--users", users},
			wantOut:    "imported 2 users from " + users + "\n",
			wantCounts: store.Counts{Users: 2},
		},
		{
			name:       "urls only",
			files:      []string{"--urls", urls},
			wantOut:    "imported 3 urls from " + urls + "\n",
			wantCounts: store.Counts{URLs: 3},
		},
		{
			name:  "all three in flag order",
			files: []string{"--events", events, "--urls", urls, "--users", users},
			wantOut: "imported 2 users from " + users + "\n" +
				"imported 3 urls from " + urls + "\n" +
				"imported 2 events from " + events + "\n",
			wantCounts: store.Counts{Users: 2, URLs: 3, Events: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "import.db")
			args := append([]string{"import", "--db", db}, tt.files...)
			res := runCommand(t, args...)
			if res.code != exitOK {
				t.Fatalf("exit code %d, want 0; stderr: %s", res.code, res.errOut)
			}
			if res.out != tt.wantOut {
				t.Errorf("output = %q, want %q", res.out, tt.wantOut)
			}
			if got := dbCounts(t, db); got != tt.wantCounts {
				t.Errorf("counts = %+v, want %+v", got, tt.wantCounts)
			}

			// Rows are upserted by id, so a second import changes no count.
			res = runCommand(t, args...)
			if res.code != exitOK {
				t.Fatalf("second import: exit code %d, want 0; stderr: %s", res.code, res.errOut)
			}
			if got := dbCounts(t, db); got != tt.wantCounts {
				t.Errorf("counts after a second import = %+v, want %+v", got, tt.wantCounts)
			}
		})
	}
}

func TestImportKeepsRecords(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "records.db")
	res := runCommand(t, "import", "--db", db,
		"--users", writeFile(t, dir, "users.csv", usersCSV),
		"--urls", writeFile(t, dir, "urls.csv", urlsCSV))
	if res.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.code, res.errOut)
	}

	st, err := store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.GetUser(2)
	if err != nil {
		t.Fatalf("user 2: %v", err)
	}
	if u.Username != "bob" || u.Email != "bob@example.com" {
		t.Errorf("user 2 = %+v, want bob <bob@example.com>", u)
	}
	if want := time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC); !u.CreatedAt.Equal(want) {
		t.Errorf("user 2 created_at = %v, want %v", u.CreatedAt, want)
	}

	tests := []struct {
		name       string
		code       string
		wantID     uint64
		wantTarget string
		wantActive bool
	}{
		{"active url", "abc123", 1, "https://example.com/one", true},
		{"inactive url with escape", "def456", 2, "https://example.com/two?q=%2B", false},
		{"url with fragment", "ghi789", 3, "https://example.com/three#top", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.GetURLByCode(tt.code)
			if err != nil {
				t.Fatalf("url %s: %v", tt.code, err)
			}
			if got.ID != tt.wantID {
				t.Errorf("id = %d, want %d", got.ID, tt.wantID)
			}
			if got.OriginalURL != tt.wantTarget {
				t.Errorf("original_url = %q, want %q", got.OriginalURL, tt.wantTarget)
			}
			if got.IsActive != tt.wantActive {
				t.Errorf("is_active = %v, want %v", got.IsActive, tt.wantActive)
			}
		})
	}
}

func TestImportInvalidCSV(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	badUsers := writeFile(t, dir, "bad_users.csv", usersInvalidLine3CSV)
	badURLs := writeFile(t, dir, "bad_urls.csv", urlsInvalidLine4CSV)
	badEvents := writeFile(t, dir, "bad_events.csv", eventsInvalidLine2CSV)

	tests := []struct {
		name       string
		files      []string
		wantErr    []string
		wantOut    string
		wantCounts store.Counts
	}{
		{
			name:    "invalid users row",
			files:   []string{"--users", badUsers},
			wantErr: []string{"import users from " + badUsers, "line 3"},
		},
		{
			name:       "invalid urls row after valid users",
			files:      []string{"--users", users, "--urls", badURLs},
			wantErr:    []string{"import urls from " + badURLs, "line 4"},
			wantOut:    "imported 2 users from " + users + "\n",
			wantCounts: store.Counts{Users: 2},
		},
		{
			name:    "events details not an object",
			files:   []string{"--events", badEvents},
			wantErr: []string{"import events from " + badEvents, "line 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "invalid.db")
			res := runCommand(t, append([]string{"import", "--db", db}, tt.files...)...)
			if res.code != exitFailure {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, exitFailure, res.errOut)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(res.errOut, want) {
					t.Errorf("stderr %q does not contain %q", res.errOut, want)
				}
			}
			if res.out != tt.wantOut {
				t.Errorf("output = %q, want %q", res.out, tt.wantOut)
			}
			// An import that created the file and loaded nothing removes
			// it again.
			if tt.wantCounts == (store.Counts{}) {
				if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists (stat error %v), want it removed after a failed first load", db, err)
				}
				return
			}
			if got := dbCounts(t, db); got != tt.wantCounts {
				t.Errorf("counts = %+v, want %+v: an invalid file must load nothing", got, tt.wantCounts)
			}
		})
	}
}

func TestImportKeepsExistingFileOnFailure(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "kept.db")
	users := writeFile(t, dir, "users.csv", usersCSV)
	expectExit(t, runCommand(t, "import", "--db", db, "--users", users), exitOK)

	badURLs := writeFile(t, dir, "bad_urls.csv", urlsInvalidLine4CSV)
	res := runCommand(t, "import", "--db", db, "--urls", badURLs)
	expectExit(t, res, exitFailure, "line 4")
	if got := dbCounts(t, db); got != (store.Counts{Users: 2}) {
		t.Errorf("counts = %+v, want the 2 users of the earlier import", got)
	}
}

func TestImportDatabaseInUse(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "held.db")
	st, err := store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	res := runCommand(t, "import", "--db", db, "--users", writeFile(t, dir, "users.csv", usersCSV))
	if res.code != exitInUse {
		t.Errorf("exit code %d, want %d; stderr: %s", res.code, exitInUse, res.errOut)
	}
	if !strings.Contains(res.errOut, "in use by another process") {
		t.Errorf("stderr %q does not say the file is in use", res.errOut)
	}
}

func TestEnvDatabase(t *testing.T) {
	tests := []struct {
		name      string
		envDB     string // file name under the test directory, "" for unset
		flagDB    string // file name under the test directory, "" for no flag
		wantDB    string // file that receives the import
		absentDBs []string
	}{
		{"env used without flag", "env.db", "", "env.db", []string{"flag.db", defaultDB}},
		{"flag wins over env", "env.db", "flag.db", "flag.db", []string{"env.db", defaultDB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			dir := t.TempDir()

			// The default database file is relative to the working directory.
			t.Chdir(dir)
			users := writeFile(t, dir, "users.csv", usersCSV)
			if tt.envDB != "" {
				t.Setenv("LINKBOLT_DB", filepath.Join(dir, tt.envDB))
			}
			args := []string{"import", "--users", users}
			if tt.flagDB != "" {
				args = append(args, "--db", filepath.Join(dir, tt.flagDB))
			}

			res := runCommand(t, args...)
			if res.code != exitOK {
				t.Fatalf("exit code %d, want 0; stderr: %s", res.code, res.errOut)
			}
			if got := dbCounts(t, filepath.Join(dir, tt.wantDB)); got.Users != 2 {
				t.Errorf("%s holds %d users, want 2", tt.wantDB, got.Users)
			}
			for _, name := range tt.absentDBs {
				if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists (stat error %v), want no such file", name, err)
				}
			}
		})
	}
}

func TestEnvServe(t *testing.T) {
	// Every case fails before serving: --db names a directory, so a command
	// that accepted its flags logs "opening database" at Info level, which
	// shows the log level and format in effect, and then rejects the path.
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantErr    []string
		notWantErr []string
	}{
		{
			name:     "default log level is info",
			wantCode: exitUsage,
			wantErr:  []string{`"msg":"opening database"`, "is a directory"},
		},
		{
			name:       "LINKBOLT_LOG_LEVEL used without flag",
			env:        map[string]string{"LINKBOLT_LOG_LEVEL": "warn"},
			wantCode:   exitUsage,
			wantErr:    []string{"is a directory"},
			notWantErr: []string{"opening database"},
		},
		{
			name:     "log level flag wins over env",
			env:      map[string]string{"LINKBOLT_LOG_LEVEL": "warn"},
			args:     []string{"--log-level", "info"},
			wantCode: exitUsage,
			wantErr:  []string{`"msg":"opening database"`},
		},
		{
			name:     "LINKBOLT_LOG_FORMAT used without flag",
			env:      map[string]string{"LINKBOLT_LOG_FORMAT": "text"},
			wantCode: exitUsage,
			wantErr:  []string{`msg="opening database"`},
		},
		{
			name:     "invalid LINKBOLT_LOG_LEVEL",
			env:      map[string]string{"LINKBOLT_LOG_LEVEL": "loud"},
			wantCode: exitUsage,
			wantErr:  []string{"loud"},
		},
		{
			name:     "invalid log level in env ignored when flag is set",
			env:      map[string]string{"LINKBOLT_LOG_LEVEL": "loud"},
			args:     []string{"--log-level", "error"},
			wantCode: exitUsage,
			wantErr:  []string{"is a directory"},
		},
		{
			name:     "invalid LINKBOLT_CACHE_SIZE",
			env:      map[string]string{"LINKBOLT_CACHE_SIZE": "abc"},
			wantCode: exitUsage,
			wantErr:  []string{"LINKBOLT_CACHE_SIZE", "abc"},
		},
		{
			name:     "invalid LINKBOLT_CLICK_FLUSH",
			env:      map[string]string{"LINKBOLT_CLICK_FLUSH": "soon"},
			wantCode: exitUsage,
			wantErr:  []string{"LINKBOLT_CLICK_FLUSH", "soon"},
		},
		{
			name:     "invalid LINKBOLT_ACCESS_LOG",
			env:      map[string]string{"LINKBOLT_ACCESS_LOG": "maybe"},
			wantCode: exitUsage,
			wantErr:  []string{"LINKBOLT_ACCESS_LOG", "maybe"},
		},
		{
			name:     "invalid LINKBOLT_CACHE_SIZE ignored when flag is set",
			env:      map[string]string{"LINKBOLT_CACHE_SIZE": "abc"},
			args:     []string{"--cache-size", "100"},
			wantCode: exitUsage,
			wantErr:  []string{"is a directory"},
		},
		{
			name:     "LINKBOLT_CACHE_SIZE zero used without flag",
			env:      map[string]string{"LINKBOLT_CACHE_SIZE": "0"},
			wantCode: exitUsage,
			wantErr:  []string{"invalid LINKBOLT_CACHE_SIZE 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", t.TempDir()}, tt.args...)

			res := runCommand(t, args...)
			if res.code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, tt.wantCode, res.errOut)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(res.errOut, want) {
					t.Errorf("stderr %q does not contain %q", res.errOut, want)
				}
			}
			for _, unwanted := range tt.notWantErr {
				if strings.Contains(res.errOut, unwanted) {
					t.Errorf("stderr %q contains %q", res.errOut, unwanted)
				}
			}
		})
	}
}

func TestEnvAddr(t *testing.T) {
	clearEnv(t)
	busyAddr := takenAddr(t)
	t.Setenv("LINKBOLT_ADDR", busyAddr)

	res := runCommand(t, "serve", "--db", filepath.Join(t.TempDir(), "addr.db"))
	if res.code != exitFailure {
		t.Errorf("exit code %d, want %d; stderr: %s", res.code, exitFailure, res.errOut)
	}
	if want := "listen on LINKBOLT_ADDR " + busyAddr; !strings.Contains(res.errOut, want) {
		t.Errorf("stderr %q does not contain %q: LINKBOLT_ADDR was not used", res.errOut, want)
	}
}

// syncBuffer is a bytes.Buffer that a logger and the test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServeOptions returns serve options on a loopback port and a new
// database file, with every other value at the command's default.
func testServeOptions(t *testing.T) *serveOptions {
	t.Helper()
	return &serveOptions{
		addr:            "127.0.0.1:0",
		db:              filepath.Join(t.TempDir(), "serve.db"),
		cacheSize:       cache.DefaultSize,
		redirectStatus:  server.DefaultRedirectStatus,
		shutdownTimeout: 5 * time.Second,
	}
}

// httpClient talks to in-process servers only, never through a proxy, and
// does not follow redirects.
var httpClient = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func TestServeInProcess(t *testing.T) {
	opts := testServeOptions(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	started := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, opts, log, started) }()

	var addr string
	select {
	case addr = <-started:
	case err := <-errc:
		t.Fatalf("serve returned before it started: %v", err)
	case <-time.After(commandTimeout):
		t.Fatalf("serve did not start within %v", commandTimeout)
	}
	base := "http://" + addr

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
	}{
		{"health", http.MethodGet, "/health", "", http.StatusOK},
		{"create user", http.MethodPost, "/users", `{"username":"inproc","email":"inproc@example.com"}`, http.StatusCreated},
		{"create url", http.MethodPost, "/urls", `{"original_url":"https://example.com/inproc","short_code":"inproc"}`, http.StatusCreated},
		{"redirect", http.MethodGet, "/inproc", "", http.StatusFound},
		{"unknown code", http.MethodGet, "/nosuchcode", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("%s %s: status %d, want %d; body %s", tt.method, tt.path, resp.StatusCode, tt.wantStatus, body)
			}
		})
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(commandTimeout):
		t.Fatalf("serve did not return within %v of cancel", commandTimeout)
	}

	for _, msg := range []string{"linkbolt started", "shutting down", "flushing clicks", "server stopped", "database closed"} {
		if !strings.Contains(logs.String(), `"msg":"`+msg+`"`) {
			t.Errorf("log has no %q line:\n%s", msg, logs.String())
		}
	}

	// serve closed the file, so it opens at once, and the writes and the
	// click of the redirect are in it.
	if got, want := dbCounts(t, opts.db), (store.Counts{Users: 1, URLs: 1, Events: 2}); got != want {
		t.Errorf("counts after serve = %+v, want %+v (one user, one url, its created event and one click)", got, want)
	}
}

func TestServeErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, o *serveOptions)
		wantIs    error // nil to skip the errors.Is check
		wantUsage bool  // run maps a usage error to exit code 2
	}{
		{
			name:      "zero cache size",
			setup:     func(t *testing.T, o *serveOptions) { o.cacheSize = 0 },
			wantUsage: true,
		},
		{
			name: "database in use",
			setup: func(t *testing.T, o *serveOptions) {
				st, err := store.Open(o.db, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
			},
			wantIs: store.ErrInUse,
		},
		{
			name:  "port in use",
			setup: func(t *testing.T, o *serveOptions) { o.addr = takenAddr(t) },
		},
		{
			name:      "invalid redirect status",
			setup:     func(t *testing.T, o *serveOptions) { o.redirectStatus = 303 },
			wantUsage: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testServeOptions(t)
			tt.setup(t, opts)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			started := make(chan string, 1)
			errc := make(chan error, 1)
			go func() { errc <- serve(ctx, opts, slog.New(slog.DiscardHandler), started) }()

			var err error
			select {
			case err = <-errc:
			case addr := <-started:
				cancel()
				<-errc
				t.Fatalf("serve started on %s, want an error", addr)
			case <-time.After(commandTimeout):
				t.Fatalf("serve did not return within %v", commandTimeout)
			}
			if err == nil {
				t.Fatal("serve returned nil, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			var usage usageError
			if got := errors.As(err, &usage); got != tt.wantUsage {
				t.Errorf("error %v is a usage error: %v, want %v", err, got, tt.wantUsage)
			}
		})
	}
}

func TestServeFlagRanges(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()

	// --db names a directory, which serve rejects just before it would
	// open the file, after every other flag: a command that accepted its
	// flags exits with 2 and this message without serving.
	db := filepath.Join(dir, "db-directory")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	opened := []string{"--db " + db + " is a directory"}

	emptyKeys := writeFile(t, dir, "empty-keys.txt", "# no keys yet\n\n")
	longLine := writeFile(t, dir, "long-line.txt", "key-one\n"+strings.Repeat("k", maxAPIKeyLine+1)+"\n")
	longestKey := writeFile(t, dir, "longest-key.txt", strings.Repeat("k", maxAPIKeyLine)+"\r\n")
	noNewline := writeFile(t, dir, "no-newline.txt", strings.Repeat("\x00", 3*maxAPIKeyLine))

	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  []string
	}{
		{name: "rate limit Inf", args: []string{"--rate-limit", "Inf"}, wantCode: exitUsage, wantErr: []string{"invalid --rate-limit +Inf", "from 0.001 to 1000000"}},
		{name: "rate limit NaN", args: []string{"--rate-limit", "NaN"}, wantCode: exitUsage, wantErr: []string{"invalid --rate-limit NaN"}},
		{name: "rate limit negative", args: []string{"--rate-limit", "-1"}, wantCode: exitUsage, wantErr: []string{"invalid --rate-limit -1", "or 0 to turn the limit off"}},
		{name: "rate limit too small", args: []string{"--rate-limit", "1e-300"}, wantCode: exitUsage, wantErr: []string{"invalid --rate-limit 1e-300", "from 0.001"}},
		{name: "rate limit too large", args: []string{"--rate-limit", "1e300"}, wantCode: exitUsage, wantErr: []string{"invalid --rate-limit 1e+300", "to 1000000"}},
		{name: "rate limit from env", env: map[string]string{"LINKBOLT_RATE_LIMIT": "-Inf"}, wantCode: exitUsage, wantErr: []string{"invalid LINKBOLT_RATE_LIMIT -Inf"}},
		{name: "rate burst negative", args: []string{"--rate-limit", "1", "--rate-burst", "-5"}, wantCode: exitUsage, wantErr: []string{"invalid --rate-burst -5", "at least 0"}},
		{name: "rate burst without rate", args: []string{"--rate-burst", "5"}, wantCode: exitUsage, wantErr: []string{"invalid --rate-burst 5", "--rate-limit above 0"}},
		{name: "rate limit and burst", args: []string{"--rate-limit", "0.5", "--rate-burst", "3"}, wantCode: exitUsage, wantErr: opened},
		{name: "click queue negative", args: []string{"--click-queue", "-1"}, wantCode: exitUsage, wantErr: []string{"invalid --click-queue -1", "1 to 10000000"}},
		{name: "click queue too large", args: []string{"--click-queue", "10000001"}, wantCode: exitUsage, wantErr: []string{"invalid --click-queue 10000001", "1 to 10000000"}},
		{name: "click queue huge from env", env: map[string]string{"LINKBOLT_CLICK_QUEUE": "99999999999999"}, wantCode: exitUsage, wantErr: []string{"invalid LINKBOLT_CLICK_QUEUE 99999999999999"}},
		{name: "click queue at the bound", args: []string{"--click-queue", "10000000"}, wantCode: exitUsage, wantErr: opened},
		{name: "click queue default", args: []string{"--click-queue", "0"}, wantCode: exitUsage, wantErr: opened},
		{name: "click flush negative", args: []string{"--click-flush", "-1ms"}, wantCode: exitUsage, wantErr: []string{"invalid --click-flush -1ms"}},
		{name: "click flush too long", args: []string{"--click-flush", "1000h"}, wantCode: exitUsage, wantErr: []string{"invalid --click-flush 1000h0m0s", "0 to 1m0s"}},
		{name: "click flush at the bound", args: []string{"--click-flush", "1m"}, wantCode: exitUsage, wantErr: opened},
		{name: "empty db", args: []string{"--db", ""}, wantCode: exitUsage, wantErr: []string{"missing --db FILE"}},
		{name: "redirect status 0", args: []string{"--redirect-status", "0"}, wantCode: exitUsage, wantErr: []string{"invalid --redirect-status 0", "301, 302, 307 or 308"}},
		{name: "redirect status 303", args: []string{"--redirect-status", "303"}, wantCode: exitUsage, wantErr: []string{"invalid --redirect-status 303", "301, 302, 307 or 308"}},
		{name: "redirect status 308", args: []string{"--redirect-status", "308"}, wantCode: exitUsage, wantErr: opened},
		{name: "key file missing", args: []string{"--api-keys-file", filepath.Join(dir, "missing.txt")}, wantCode: exitUsage, wantErr: []string{"--api-keys-file " + filepath.Join(dir, "missing.txt") + ": no such file"}},
		{name: "key file directory", args: []string{"--api-keys-file", dir}, wantCode: exitUsage, wantErr: []string{"--api-keys-file " + dir + " is a directory"}},
		{name: "key file device", args: []string{"--api-keys-file", os.DevNull}, wantCode: exitUsage, wantErr: []string{"--api-keys-file " + os.DevNull + " is a device"}},
		{name: "key file without keys", args: []string{"--api-keys-file", emptyKeys}, wantCode: exitUsage, wantErr: []string{"invalid --api-keys-file " + emptyKeys, "no key found"}},
		{name: "key file line too long", args: []string{"--api-keys-file", longLine}, wantCode: exitUsage, wantErr: []string{"line 2 is longer than 4096 bytes"}},
		{name: "key file without newline", args: []string{"--api-keys-file", noNewline}, wantCode: exitUsage, wantErr: []string{"line 1 is longer than 4096 bytes"}},
		{name: "key file with longest key", args: []string{"--api-keys-file", longestKey}, wantCode: exitUsage, wantErr: opened},
		{name: "keys variable of separators", env: map[string]string{"LINKBOLT_API_KEYS": ",, ,"}, wantCode: exitUsage, wantErr: []string{"invalid LINKBOLT_API_KEYS", "no key"}},
		{name: "keys variable of spaces", env: map[string]string{"LINKBOLT_API_KEYS": "  "}, wantCode: exitUsage, wantErr: []string{"invalid LINKBOLT_API_KEYS", "no key"}},
		{name: "keys variable empty", env: map[string]string{"LINKBOLT_API_KEYS": ""}, wantCode: exitUsage, wantErr: opened},
		{name: "keys variable with a key", env: map[string]string{"LINKBOLT_API_KEYS": " ,key-one, "}, wantCode: exitUsage, wantErr: opened},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, value := range tt.env {
				t.Setenv(name, value)
			}
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, tt.args...)
			res := runCommand(t, args...)
			expectExit(t, res, tt.wantCode, tt.wantErr...)
		})
	}
}

func TestServeProfiles(t *testing.T) {
	var logs bytes.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer serveProfiles(ln, slog.New(slog.NewJSONHandler(&logs, nil)))()

	var line struct {
		Addr string `json:"pprof_addr"`
	}
	if err := json.Unmarshal(bytes.SplitN(logs.Bytes(), []byte("\n"), 2)[0], &line); err != nil || line.Addr == "" {
		t.Fatalf("no address in the log %q: %v", logs.String(), err)
	}
	resp, err := http.Get("http://" + line.Addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile")) {
		t.Errorf("goroutine profile: status %d, body %.80q", resp.StatusCode, body)
	}
}

func TestServePortClashCreatesNoFile(t *testing.T) {
	clearEnv(t)
	for name, flags := range map[string][]string{
		"addr":       {"--addr", takenAddr(t)},
		"pprof-addr": {"--addr", "127.0.0.1:0", "--pprof-addr", takenAddr(t)},
	} {
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "never.db")
			res := runCommand(t, append([]string{"serve", "--db", db}, flags...)...)
			expectExit(t, res, exitFailure, "listen on", "address already in use")
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a port clash left %s behind (stat error %v)", db, err)
			}
		})
	}
}

func TestServeProfilePortClash(t *testing.T) {
	clearEnv(t)

	// The address is taken, so a serve that got past the check would exit
	// with 1 when it listens on --addr.
	busy := takenAddr(t)
	_, port, _ := net.SplitHostPort(busy)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"same address", nil, []string{"--addr", busy, "--pprof-addr", busy},
			"invalid --pprof-addr " + busy + ": it clashes with --addr " + busy},
		{"every address", nil, []string{"--addr", busy, "--pprof-addr", ":" + port},
			"invalid --pprof-addr :" + port + ": it clashes with --addr " + busy},
		{"localhost", nil, []string{"--addr", "LocalHost:" + port, "--pprof-addr", busy},
			"it clashes with --addr LocalHost:" + port},
		{"mapped address", nil, []string{"--addr", busy, "--pprof-addr", "[::ffff:127.0.0.1]:" + port},
			"it clashes with --addr " + busy},
		{"from the environment", map[string]string{"LINKBOLT_PPROF_ADDR": busy, "LINKBOLT_ADDR": busy}, nil,
			"invalid LINKBOLT_PPROF_ADDR " + busy + ": it clashes with LINKBOLT_ADDR " + busy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			db := filepath.Join(t.TempDir(), "never.db")
			res := runCommand(t, append([]string{"serve", "--db", db}, tt.args...)...)
			expectExit(t, res, exitUsage, tt.want, "the same port")
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a rejected serve created %s (%v)", db, err)
			}
		})
	}
}

func TestServeProfileListenErrors(t *testing.T) {
	clearEnv(t)
	busy := takenAddr(t)
	db := filepath.Join(t.TempDir(), "never.db")

	res := runCommand(t, "serve", "--db", db, "--addr", "127.0.0.1:0", "--pprof-addr", busy)
	expectExit(t, res, exitFailure, "listen on --pprof-addr "+busy, "address already in use")
	if strings.Contains(res.errOut, "clash") {
		t.Errorf("stderr %q names a clash with --addr, whose port differs", res.errOut)
	}

	t.Setenv("LINKBOLT_PPROF_ADDR", busy)
	res = runCommand(t, "serve", "--db", db, "--addr", "127.0.0.1:0")
	expectExit(t, res, exitFailure, "listen on LINKBOLT_PPROF_ADDR "+busy, "address already in use")

	// The hosts differ, so only the failed listen can tell that the port
	// of --addr is in use.
	_, port, _ := net.SplitHostPort(busy)
	o := &serveOptions{addr: "host.example:" + port, pprofAddr: busy}
	_, err := net.Listen("tcp", busy)
	if err == nil {
		t.Fatalf("listen on %s succeeded, want address already in use", busy)
	}
	if msg := o.profileListenError(err).Error(); !strings.Contains(msg, "it may clash with --addr host.example:"+port) {
		t.Errorf("error %q does not name the clash with --addr", msg)
	}
}

func TestEnvValueErrorsNameVariable(t *testing.T) {
	clearEnv(t)
	db := filepath.Join(t.TempDir(), "env.db")
	busyAddr := takenAddr(t)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		notWant string
	}{
		{"server from environment", map[string]string{"LINKBOLT_SERVER": "bogus"}, []string{"list"},
			`invalid LINKBOLT_SERVER "bogus": use an http or https URL`, "--server"},
		{"server from flag", map[string]string{"LINKBOLT_SERVER": "bogus"}, []string{"list", "--server", "also-bogus"},
			`invalid --server "also-bogus": use an http or https URL`, "LINKBOLT_SERVER"},
		{"timeout from environment", map[string]string{"LINKBOLT_TIMEOUT": "0s"}, []string{"list"},
			"invalid LINKBOLT_TIMEOUT 0s: must be positive", "--timeout"},
		{"bench remote server from environment", map[string]string{"LINKBOLT_SERVER": "http://192.0.2.1:8080"}, []string{"bench"},
			`LINKBOLT_SERVER host "192.0.2.1" is not a loopback address`, "--server"},
		{"access log not a boolean", map[string]string{"LINKBOLT_ACCESS_LOG": "maybe"}, []string{"serve", "--addr", busyAddr, "--db", db},
			`invalid LINKBOLT_ACCESS_LOG "maybe": use true or false (or 1 or 0)`, "strconv"},
		{"access log flag not a boolean", nil, []string{"serve", "--access-log=maybe", "--addr", busyAddr, "--db", db},
			`invalid --access-log "maybe": use true or false (or 1 or 0)`, "strconv"},
		{"cache size from environment", map[string]string{"LINKBOLT_CACHE_SIZE": "3"}, []string{"serve", "--addr", busyAddr, "--db", db},
			"invalid LINKBOLT_CACHE_SIZE 3: must be at least 16", "--cache-size"},
		{"click queue from environment", map[string]string{"LINKBOLT_CLICK_QUEUE": "-1"}, []string{"serve", "--addr", busyAddr, "--db", db},
			"invalid LINKBOLT_CLICK_QUEUE -1: use 1 to", "--click-queue"},
		{"addr from environment", map[string]string{"LINKBOLT_ADDR": "nowhere"}, []string{"serve", "--db", db},
			`invalid LINKBOLT_ADDR "nowhere": use host:port`, "--addr"},
		{"pprof addr with a space from environment", map[string]string{"LINKBOLT_PPROF_ADDR": "127.0.0.1:0 "}, []string{"serve", "--addr", busyAddr, "--db", db},
			`invalid LINKBOLT_PPROF_ADDR "127.0.0.1:0 ": remove the spaces`, "--pprof-addr"},
		{"trusted proxy from environment", map[string]string{"LINKBOLT_TRUSTED_PROXIES": "300.1.1.1"}, []string{"serve", "--addr", busyAddr, "--db", db},
			`invalid LINKBOLT_TRUSTED_PROXIES: "300.1.1.1" is not an address or a CIDR network`, "--trusted-proxies"},
		{"trusted proxy flag", nil, []string{"serve", "--trusted-proxies", "10.0.0.0/8,nope", "--addr", busyAddr, "--db", db},
			`invalid --trusted-proxies: "nope" is not an address`, "LINKBOLT_TRUSTED_PROXIES"},
		{"log level from environment", map[string]string{"LINKBOLT_LOG_LEVEL": "loud"}, []string{"serve", "--addr", busyAddr, "--db", db},
			`invalid LINKBOLT_LOG_LEVEL "loud": use debug, info, warn or error`, "--log-level"},
		{"log level of a client command", map[string]string{"LINKBOLT_LOG_LEVEL": "loud"}, []string{"version"},
			`invalid LINKBOLT_LOG_LEVEL "loud"`, "--log-level"},
		{"log format flag of a client command", nil, []string{"list", "--server", "http://127.0.0.1:1", "--log-format", "xml"},
			`invalid --log-format "xml": use json or text`, "LINKBOLT_LOG_FORMAT"},
		{"log level of an import", map[string]string{"LINKBOLT_LOG_LEVEL": "loud"}, []string{"import", "--db", db, "--users", "testdata/none.csv"},
			`invalid LINKBOLT_LOG_LEVEL "loud"`, "--log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			res := runCommand(t, tt.args...)
			expectExit(t, res, exitUsage, tt.want)
			if strings.Contains(res.errOut, tt.notWant) {
				t.Errorf("stderr %q contains %q", res.errOut, tt.notWant)
			}
		})
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected serve created %s (%v)", db, err)
	}
}

func TestDurationFlagStatesMax(t *testing.T) {
	clearEnv(t)
	const want = `invalid --timeout "9999999h": use a duration above 0 and at most 2562047h47m16.854775807s, such as 30s`
	expectExit(t, runCommand(t, "list", "--timeout", "9999999h"), exitUsage, want)

	t.Setenv("LINKBOLT_TIMEOUT", "9999999h")
	expectExit(t, runCommand(t, "list"), exitUsage,
		`invalid LINKBOLT_TIMEOUT "9999999h": use a duration above 0 and at most 2562047h47m16.854775807s`)
}
