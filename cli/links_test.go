package cli

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/linkbolt/linkbolt/server"
)

func TestCreateCommand(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	var owner apiUser
	s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "owner", "email": "owner@example.com"}, http.StatusCreated, &owner)
	ownerID := strconv.FormatUint(owner.ID, 10)

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, u apiURL)
	}{
		{
			name: "target only",
			args: []string{"https://example.com/plain"},
			check: func(t *testing.T, u apiURL) {
				if u.OriginalURL != "https://example.com/plain" || !u.IsActive || u.Title != nil || u.UserID != nil {
					t.Errorf("link = %+v, want an active link without title or owner", u)
				}
				if u.ExpiresAt != nil || u.MaxClicks != nil || u.RedirectType != 302 {
					t.Errorf("options = %v, %v, %d; want no expiry, no limit, 302", u.ExpiresAt, u.MaxClicks, u.RedirectType)
				}
			},
		},
		{
			name: "every option",
			args: []string{"https://example.com/all?q=%2B#top", "--code", "all-opts", "--title", "All, \"options\"",
				"--user-id", ownerID, "--expires-at", "2099-01-02T03:04:05", "--max-clicks", "7",
				"--redirect-type", "307", "--inactive"},
			check: func(t *testing.T, u apiURL) {
				if u.ShortCode != "all-opts" || u.OriginalURL != "https://example.com/all?q=%2B#top" {
					t.Errorf("code, target = %q, %q", u.ShortCode, u.OriginalURL)
				}
				if u.Title == nil || *u.Title != `All, "options"` {
					t.Errorf("title = %v, want All, \"options\"", u.Title)
				}
				if u.UserID == nil || *u.UserID != owner.ID {
					t.Errorf("user_id = %v, want %d", u.UserID, owner.ID)
				}
				if u.ExpiresAt == nil || *u.ExpiresAt != "2099-01-02T03:04:05" {
					t.Errorf("expires_at = %v, want 2099-01-02T03:04:05", u.ExpiresAt)
				}
				if u.MaxClicks == nil || *u.MaxClicks != 7 {
					t.Errorf("max_clicks = %v, want 7", u.MaxClicks)
				}
				if u.RedirectType != 307 || u.IsActive {
					t.Errorf("redirect_type, is_active = %d, %t; want 307, false", u.RedirectType, u.IsActive)
				}
			},
		},
		{
			name: "expiry with offset",
			args: []string{"https://example.com/offset", "--expires-at", "2099-01-02T05:04:05+02:00"},
			check: func(t *testing.T, u apiURL) {
				if u.ExpiresAt == nil || *u.ExpiresAt != "2099-01-02T03:04:05" {
					t.Errorf("expires_at = %v, want 2099-01-02T03:04:05 in UTC", u.ExpiresAt)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, append([]string{"create", "--output", "json"}, tt.args...)...)
			expectExit(t, res, exitOK)
			var u apiURL
			decodeOutput(t, res, &u)
			tt.check(t, u)

			// The output is the server's record.
			if stored := s.getLink(t, u.ID); !sameLink(stored, u) {
				t.Errorf("stored link = %+v, output %+v", stored, u)
			}
		})
	}
}

func TestCreateTable(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})

	res := s.cli(t, "create", "https://example.com/table", "--code", "tbl")
	expectExit(t, res, exitOK)
	lines := strings.Split(strings.TrimSuffix(res.out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("output has %d lines, want a header and one row:\n%s", len(lines), res.out)
	}
	if fields := strings.Fields(lines[0]); strings.Join(fields, " ") != "ID CODE SHORT_URL TARGET" {
		t.Errorf("header = %q, want ID CODE SHORT_URL TARGET", lines[0])
	}
	u := s.getLink(t, 1)
	want := []string{strconv.FormatUint(u.ID, 10), "tbl", s.url + "/tbl", "https://example.com/table"}
	if fields := strings.Fields(lines[1]); strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("row = %q, want %q", lines[1], want)
	}
}

func TestCreateErrors(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	s.createLink(t, map[string]any{"original_url": "https://example.com/taken", "short_code": "taken"})
	deleted := s.createLink(t, map[string]any{"original_url": "https://example.com/gone", "short_code": "gone"})
	s.mustRequest(t, http.MethodDelete, fmt.Sprintf("/urls/%d", deleted.ID), nil, http.StatusNoContent, nil)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"invalid target", []string{"javascript:alert(1)"}, exitRejected, []string{"422", "(field original_url)"}},
		{"code taken", []string{"https://example.com/a", "--code", "taken"}, exitRejected, []string{"409 Conflict", "taken"}},
		{"code of deleted link", []string{"https://example.com/a", "--code", "gone"}, exitRejected, []string{"409 Conflict", "gone"}},
		{"code is a route", []string{"https://example.com/a", "--code", "users"}, exitRejected, []string{"422", "(field short_code)"}},
		{"invalid code", []string{"https://example.com/a", "--code", "a/b"}, exitRejected, []string{"422", "(field short_code)"}},
		{"unknown user", []string{"https://example.com/a", "--user-id", "99"}, exitRejected, []string{"404 Not Found"}},
		{"invalid redirect type", []string{"https://example.com/a", "--redirect-type", "303"}, exitUsage, []string{`invalid --redirect-type "303": use 301, 302, 307 or 308`}},
		{"zero max clicks", []string{"https://example.com/a", "--max-clicks", "0"}, exitUsage, []string{`invalid --max-clicks "0"`}},
		{"invalid expiry", []string{"https://example.com/a", "--expires-at", "tomorrow"}, exitRejected, []string{"(field expires_at)"}},
		{"title too long", []string{"https://example.com/a", "--title", strings.Repeat("t", 513)}, exitRejected, []string{"(field title)"}},
		{"no target", nil, exitUsage, []string{"missing URL: linkbolt create URL [flags]"}},
		{"two targets", []string{"https://example.com/a", "https://example.com/b"}, exitUsage,
			[]string{`unexpected argument "https://example.com/b" after URL: linkbolt create URL [flags]`}},
		{"negative user id", []string{"https://example.com/a", "--user-id", "-1"}, exitUsage, []string{"user-id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, append([]string{"create"}, tt.args...)...)
			expectExit(t, res, tt.wantCode, tt.wantErr...)
		})
	}

	// No failed create left a link behind.
	if _, total := s.fetchAll(t, "/urls"); total != 1 {
		t.Errorf("X-Total-Count of /urls = %d, want 1", total)
	}
}

// seedLinks creates n links through the API: odd ids active and owned by
// user 1, even ids inactive and owned by user 2.
func seedLinks(t *testing.T, s *apiServer, n int) {
	t.Helper()
	for _, name := range []string{"first", "second"} {
		s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": name, "email": name + "@example.com"}, http.StatusCreated, nil)
	}
	for i := 1; i <= n; i++ {
		s.createLink(t, map[string]any{
			"original_url": fmt.Sprintf("https://example.com/%d", i),
			"short_code":   fmt.Sprintf("c%d", i),
			"user_id":      2 - i%2,
			"is_active":    i%2 == 1,
		})
	}
}

// listedIDs returns the ids of the rows of a table of links or users.
func listedIDs(t *testing.T, out string) []uint64 {
	t.Helper()
	var ids []uint64
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if id, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func idsString(ids []uint64) string {
	return strings.Trim(fmt.Sprint(ids), "[]")
}

func TestListCommand(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	seedLinks(t, s, 7)

	tests := []struct {
		name     string
		args     []string
		wantIDs  string
		wantNote string // "" for no paging note
	}{
		{"default page", nil, "1 2 3 4 5 6 7", ""},
		{"second page", []string{"--per-page", "3", "--page", "2"}, "4 5 6", "page 2 of 3, 3 links shown of 7"},
		{"page past the end", []string{"--per-page", "3", "--page", "9"}, "", "page 9 of 3, 0 links shown of 7"},
		{"all pages", []string{"--all", "--per-page", "2"}, "1 2 3 4 5 6 7", ""},
		{"active only", []string{"--active"}, "1 3 5 7", ""},
		{"inactive only", []string{"--inactive"}, "2 4 6", ""},
		{"by user", []string{"--user-id", "2"}, "2 4 6", ""},
		{"by user and active", []string{"--user-id", "1", "--active", "--all", "--per-page", "1"}, "1 3 5 7", ""},
		{"by code", []string{"--code", "c5"}, "5", ""},
		{"unknown code", []string{"--code", "nope"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, append([]string{"list"}, tt.args...)...)
			expectExit(t, res, exitOK)
			if !strings.HasPrefix(res.out, "ID ") || !strings.Contains(strings.SplitN(res.out, "\n", 2)[0], "TARGET") {
				t.Errorf("output does not start with the table header:\n%s", res.out)
			}
			if got := idsString(listedIDs(t, res.out)); got != tt.wantIDs {
				t.Errorf("ids = %q, want %q\n%s", got, tt.wantIDs, res.out)
			}
			hasNote := strings.Contains(res.out, "use --page N or --all")
			if tt.wantNote == "" && hasNote {
				t.Errorf("output has a paging note, want none:\n%s", res.out)
			}
			if tt.wantNote != "" && !strings.Contains(res.out, tt.wantNote) {
				t.Errorf("output does not contain %q:\n%s", tt.wantNote, res.out)
			}

			// The JSON output lists the same links as the API's objects.
			res = s.cli(t, append([]string{"list", "--output", "json"}, tt.args...)...)
			expectExit(t, res, exitOK)
			var urls []apiURL
			decodeOutput(t, res, &urls)
			ids := make([]uint64, len(urls))
			for i, u := range urls {
				ids[i] = u.ID
				if !sameLink(u, s.getLink(t, u.ID)) {
					t.Errorf("listed link %+v differs from GET /urls/%d", u, u.ID)
				}
			}
			if got := idsString(ids); got != tt.wantIDs {
				t.Errorf("JSON ids = %q, want %q", got, tt.wantIDs)
			}
		})
	}
}

func TestListColumns(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	long := "https://example.com/" + strings.Repeat("x", 100)
	s.createLink(t, map[string]any{"original_url": long, "short_code": "long"})
	s.click(t, "long", "", "Mozilla/5.0", http.StatusFound)

	res := s.cli(t, "list")
	expectExit(t, res, exitOK)
	lines := strings.Split(strings.TrimSuffix(res.out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("output has %d lines, want 2:\n%s", len(lines), res.out)
	}
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "ID CODE ACTIVE CLICKS TARGET CREATED" {
		t.Errorf("header = %q", got)
	}
	fields := strings.Fields(lines[1])
	if len(fields) != 6 {
		t.Fatalf("row %q has %d columns, want 6", lines[1], len(fields))
	}
	if fields[1] != "long" || fields[2] != "true" || fields[3] != "1" {
		t.Errorf("code, active, clicks = %q, %q, %q; want long, true, 1", fields[1], fields[2], fields[3])
	}
	if target := fields[4]; len(target) != maxTargetWidth || !strings.HasSuffix(target, "...") || !strings.HasPrefix(long, strings.TrimSuffix(target, "...")) {
		t.Errorf("target = %q, want the first %d characters ending in ...", target, maxTargetWidth)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`).MatchString(fields[5]) {
		t.Errorf("created = %q, want an API timestamp", fields[5])
	}
}

func TestListErrors(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"active and inactive", []string{"--active", "--inactive"}, exitUsage, "--active and --inactive"},
		{"all and page", []string{"--all", "--page", "2"}, exitUsage, "--all and --page"},
		{"zero page", []string{"--page", "0"}, exitUsage, "invalid --page 0"},
		{"zero per page", []string{"--per-page", "0"}, exitUsage, "invalid --per-page 0"},
		{"per page too large", []string{"--per-page", "1001"}, exitUsage, "invalid --per-page 1001"},
		{"argument", []string{"extra"}, exitUsage, "extra"},
		{"zero user id", []string{"--user-id", "0"}, exitUsage, `invalid --user-id "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, append([]string{"list"}, tt.args...)...)
			expectExit(t, res, tt.wantCode, tt.wantErr)
		})
	}
}

func TestGetCommand(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	first := s.createLink(t, map[string]any{"original_url": "https://example.com/first", "short_code": "first", "title": "First"})

	// numeric has a code of digits that is not its id, and digits names
	// the link whose id is 3.
	numeric := s.createLink(t, map[string]any{"original_url": "https://example.com/numeric", "short_code": "777"})
	digits := s.createLink(t, map[string]any{"original_url": "https://example.com/digits", "short_code": "2"})

	tests := []struct {
		name   string
		ref    string
		wantID uint64
	}{
		{"by id", "1", first.ID},
		{"by code", "first", first.ID},
		{"digits that are no id", "777", numeric.ID},
		{"digits that are an id first", "2", numeric.ID},
		{"code of digits by its id", "3", digits.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, "get", tt.ref, "-o", "json")
			expectExit(t, res, exitOK)
			var u apiURL
			decodeOutput(t, res, &u)
			if want := s.getLink(t, tt.wantID); !sameLink(u, want) {
				t.Errorf("link = %+v, want %+v", u, want)
			}
		})
	}

	t.Run("table", func(t *testing.T) {
		res := s.cli(t, "get", "first")
		expectExit(t, res, exitOK)
		for _, want := range []string{
			"id             1\n",
			"short_code     first\n",
			"short_url      " + s.url + "/first\n",
			"original_url   https://example.com/first\n",
			"title          First\n",
			"user_id        -\n",
			"is_active      true\n",
			"click_count    0\n",
			"max_clicks     -\n",
			"expires_at     -\n",
			"redirect_type  302\n",
			"created_at     " + first.CreatedAt + "\n",
		} {
			if !strings.Contains(res.out, want) {
				t.Errorf("output does not contain %q:\n%s", want, res.out)
			}
		}
	})
}

func TestGetStats(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	link := s.createLink(t, map[string]any{"original_url": "https://example.com/stats", "short_code": "stats"})
	for _, ref := range []string{"https://news.example/a", "https://news.example/a", ""} {
		s.click(t, "stats", ref, "Mozilla/5.0", http.StatusFound)
	}
	s.click(t, "stats", "https://bot.example/", "Googlebot/2.1 (+http://www.google.com/bot.html)", http.StatusFound)

	t.Run("json", func(t *testing.T) {
		res := s.cli(t, "get", "stats", "--stats", "--days", "7", "-o", "json")
		expectExit(t, res, exitOK)
		var st apiStats
		decodeOutput(t, res, &st)
		if st.URLID != link.ID || st.ShortCode != "stats" || st.Clicks != 3 || st.Days != 7 {
			t.Errorf("stats = %+v, want url %d, code stats, 3 clicks over 7 days", st, link.ID)
		}
		if len(st.ClicksByDay) != 7 {
			t.Errorf("clicks_by_day has %d days, want 7", len(st.ClicksByDay))
		}
		if len(st.TopReferrers) == 0 || st.TopReferrers[0].Referrer != "https://news.example/a" || st.TopReferrers[0].Count != 2 {
			t.Errorf("top_referrers = %+v, want https://news.example/a with 2 first", st.TopReferrers)
		}
	})

	t.Run("table", func(t *testing.T) {
		res := s.cli(t, "get", strconv.FormatUint(link.ID, 10), "--stats")
		expectExit(t, res, exitOK)
		for _, want := range []string{"clicks         3 (last 30 days)", "DATE", "REFERRER", "https://news.example/a  2", "(none)"} {
			if !strings.Contains(res.out, want) {
				t.Errorf("output does not contain %q:\n%s", want, res.out)
			}
		}
		if strings.Contains(res.out, "bot.example") {
			t.Errorf("output counts the bot's referrer:\n%s", res.out)
		}
	})

	errorCases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"days without stats", []string{"get", "stats", "--days", "7"}, exitUsage, "--days needs --stats"},
		{"zero days", []string{"get", "stats", "--stats", "--days", "0"}, exitUsage, `invalid --days "0"`},
		{"unknown code", []string{"get", "nope", "--stats"}, exitRejected, `"nope"`},
		{"no argument", []string{"get"}, exitUsage, "missing ID or CODE: linkbolt get ID|CODE [flags]"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			expectExit(t, s.cli(t, tt.args...), tt.wantCode, tt.wantErr)
		})
	}
}

func TestTableEscapesControls(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})

	// The title sets colours and the terminal title, breaks the row with a
	// newline and a tab, and carries DEL and the C1 control CSI.
	const title = "red \x1b[31mALERT\x1b[0m \x1b]0;pwned\x07 end\nfake_row\ttab\x7f\u009b2J"
	const escaped = `red \x1b[31mALERT\x1b[0m \x1b]0;pwned\x07 end\nfake_row\ttab\x7f\u009b2J`
	link := s.createLink(t, map[string]any{"original_url": "https://example.com/esc", "short_code": "esc", "title": title})
	s.click(t, "esc", "https://ref.example/\t\u009b[31m", "Mozilla/5.0", http.StatusFound)

	tests := []struct {
		name      string
		args      []string
		wantLines int
		want      string
	}{
		{"get title", []string{"get", "esc"}, 13, "title          " + escaped + "\n"},
		{"update title", []string{"update", strconv.FormatUint(link.ID, 10), "--max-clicks", "9"}, 13, "title          " + escaped + "\n"},
		{"stats referrer", []string{"get", "esc", "--stats", "--days", "2"}, 11, `https://ref.example/\t\u009b[31m  1` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, tt.args...)
			expectExit(t, res, exitOK)
			if !strings.Contains(res.out, tt.want) {
				t.Errorf("output does not contain %q:\n%s", tt.want, res.out)
			}
			if i := strings.IndexFunc(res.out, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }); i >= 0 {
				t.Errorf("output has the control character %U at byte %d:\n%q", []rune(res.out[i:])[0], i, res.out)
			}
			if got := strings.Count(res.out, "\n"); got != tt.wantLines {
				t.Errorf("output has %d lines, want %d:\n%s", got, tt.wantLines, res.out)
			}
		})
	}

	// JSON output keeps the text as the API sent it.
	res := s.cli(t, "get", "esc", "-o", "json")
	expectExit(t, res, exitOK)
	var got apiURL
	decodeOutput(t, res, &got)
	if got.Title == nil || *got.Title != title {
		t.Errorf("JSON title = %q, want %q", cell(got.Title), title)
	}
}

func TestListEscapesBidiControls(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})

	// U+202E reverses what follows it, so the title would read
	// "invoice exe.doc" in a terminal.
	const title = "invoice \u202ecod.exe"
	s.createLink(t, map[string]any{"original_url": "https://example.com/\u202eevil", "short_code": "bidi", "title": title})

	res := s.cli(t, "list")
	expectExit(t, res, exitOK)
	if !strings.Contains(res.out, `https://example.com/\u202eevil`) {
		t.Errorf("list output does not show the URL's U+202E as an escape:\n%s", res.out)
	}
	if strings.ContainsRune(res.out, '\u202e') {
		t.Errorf("list output contains U+202E:\n%q", res.out)
	}

	res = s.cli(t, "get", "bidi")
	expectExit(t, res, exitOK)
	if !strings.Contains(res.out, `invoice \u202ecod.exe`) {
		t.Errorf("get output does not show the title's U+202E as an escape:\n%s", res.out)
	}
}

func TestEscapeControls(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "Docs, \"quoted\" & ü", "Docs, \"quoted\" & ü"},
		{"backslash kept", `C:\path`, `C:\path`},
		{"newline and tab", "a\nb\tc\rd", `a\nb\tc\rd`},
		{"escape and bell", "\x1b]0;x\x07", `\x1b]0;x\x07`},
		{"NUL and DEL", "\x00\x7f", `\x00\x7f`},
		{"C1 controls", "\u0080\u009b\u009f", `\u0080\u009b\u009f`},
		{"invalid UTF-8", "a\x9bb\xff", `a\x9bb\xff`},
		{"line separator kept", "a\u2028b", "a\u2028b"},
		{"right-to-left override", "invoice\u202ecod.exe", `invoice\u202ecod.exe`},
		{"embeddings and overrides", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"right-to-left text kept", "שלום مرحبا", "שלום مرحبا"},
		{"joiner in emoji kept", "\U0001F469\u200D\U0001F4BB", "\U0001F469\u200D\U0001F4BB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := escapeControls(tt.in); got != tt.want {
				t.Errorf("escapeControls(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUpdateCommand(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	var owner apiUser
	s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "own", "email": "own@example.com"}, http.StatusCreated, &owner)
	link := s.createLink(t, map[string]any{
		"original_url": "https://example.com/old", "short_code": "upd", "title": "Old",
		"user_id": owner.ID, "expires_at": "2099-01-01T00:00:00", "max_clicks": 5, "redirect_type": 301,
	})
	id := strconv.FormatUint(link.ID, 10)

	// Each case starts from the link as the previous case left it, and
	// edit gives the expected link from the one before.
	tests := []struct {
		name string
		args []string
		edit func(u *apiURL)
	}{
		{"title", []string{"--title", "New"}, func(u *apiURL) { u.Title = stringPtr("New") }},
		{"no title", []string{"--no-title"}, func(u *apiURL) { u.Title = nil }},
		{"target", []string{"--url", "https://example.com/new"}, func(u *apiURL) { u.OriginalURL = "https://example.com/new" }},
		{"inactive", []string{"--inactive"}, func(u *apiURL) { u.IsActive = false }},
		{"active", []string{"--active"}, func(u *apiURL) { u.IsActive = true }},
		{"no user", []string{"--no-user"}, func(u *apiURL) { u.UserID = nil }},
		{"user", []string{"--user-id", strconv.FormatUint(owner.ID, 10)}, func(u *apiURL) { u.UserID = &owner.ID }},
		{"no expiry", []string{"--no-expiry"}, func(u *apiURL) { u.ExpiresAt = nil }},
		{"expiry", []string{"--expires-at", "2098-05-06T07:08:09"}, func(u *apiURL) { u.ExpiresAt = stringPtr("2098-05-06T07:08:09") }},
		{"no max clicks", []string{"--no-max-clicks"}, func(u *apiURL) { u.MaxClicks = nil }},
		{"max clicks", []string{"--max-clicks", "9"}, func(u *apiURL) { nine := uint64(9); u.MaxClicks = &nine }},
		{"redirect type", []string{"--redirect-type", "308"}, func(u *apiURL) { u.RedirectType = 308 }},
		{"no redirect type", []string{"--no-redirect-type"}, func(u *apiURL) { u.RedirectType = 302; u.RedirectTypeDefault = boolPtr(true) }},
		{"several fields", []string{"--title", "Both", "--inactive"}, func(u *apiURL) { u.Title = stringPtr("Both"); u.IsActive = false }},
	}
	want := link
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, append([]string{"update", id, "-o", "json"}, tt.args...)...)
			expectExit(t, res, exitOK)
			var got apiURL
			decodeOutput(t, res, &got)
			tt.edit(&want)
			want.UpdatedAt = got.UpdatedAt
			if !sameLink(got, want) {
				t.Errorf("link = %s\nwant   %s", describeLink(got), describeLink(want))
			}
			if stored := s.getLink(t, link.ID); !sameLink(stored, got) {
				t.Errorf("stored link = %s, output %s", describeLink(stored), describeLink(got))
			}
		})
	}

	t.Run("table", func(t *testing.T) {
		res := s.cli(t, "update", id, "--title", "Table")
		expectExit(t, res, exitOK)
		for _, want := range []string{"title          Table\n", "short_url      " + s.url + "/upd\n"} {
			if !strings.Contains(res.out, want) {
				t.Errorf("output does not contain %q:\n%s", want, res.out)
			}
		}
	})
}

// sameLink reports whether two links have equal fields, comparing the
// values behind nullable fields.
func sameLink(a, b apiURL) bool {
	return reflect.DeepEqual(a, b)
}

// describeLink formats a link with its nullable fields spelled out.
func describeLink(u apiURL) string {
	return fmt.Sprintf("{id=%d user=%s code=%s url=%s title=%s active=%t expires=%s max=%s redirect=%d updated=%s}",
		u.ID, idCell(u.UserID), u.ShortCode, u.OriginalURL, cell(u.Title), u.IsActive,
		cell(u.ExpiresAt), idCell(u.MaxClicks), u.RedirectType, u.UpdatedAt)
}

func stringPtr(s string) *string { return &s }

func boolPtr(b bool) *bool { return &b }

func TestUpdateErrors(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	link := s.createLink(t, map[string]any{"original_url": "https://example.com/keep", "title": "Keep"})
	id := strconv.FormatUint(link.ID, 10)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no field", []string{"update", id}, exitUsage, "nothing to update"},
		{"title and no title", []string{"update", id, "--title", "x", "--no-title"}, exitUsage, "--title and --no-title"},
		{"active and inactive", []string{"update", id, "--active", "--inactive"}, exitUsage, "--active and --inactive"},
		{"user and no user", []string{"update", id, "--user-id", "1", "--no-user"}, exitUsage, "--user-id and --no-user"},
		{"expiry and no expiry", []string{"update", id, "--expires-at", "2099-01-01T00:00:00", "--no-expiry"}, exitUsage, "--expires-at and --no-expiry"},
		{"limit and no limit", []string{"update", id, "--max-clicks", "3", "--no-max-clicks"}, exitUsage, "--max-clicks and --no-max-clicks"},
		{"id not a number", []string{"update", "abc", "--title", "x"}, exitUsage, `invalid id "abc"`},
		{"zero id", []string{"update", "0", "--title", "x"}, exitUsage, `invalid id "0"`},
		{"unknown id", []string{"update", "999", "--title", "x"}, exitRejected, "404 Not Found"},
		{"invalid target", []string{"update", id, "--url", "ftp://example.com/"}, exitRejected, "(field original_url)"},
		{"invalid redirect type", []string{"update", id, "--redirect-type", "200"}, exitUsage, `invalid --redirect-type "200"`},
		{"unknown user", []string{"update", id, "--user-id", "42"}, exitRejected, "404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectExit(t, s.cli(t, tt.args...), tt.wantCode, tt.wantErr)
		})
	}

	// No failed update changed the link.
	if got := s.getLink(t, link.ID); !sameLink(got, link) {
		t.Errorf("link = %s after failed updates, want %s", describeLink(got), describeLink(link))
	}
}

func TestDeleteCommand(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	for i := 1; i <= 5; i++ {
		s.createLink(t, map[string]any{"original_url": fmt.Sprintf("https://example.com/%d", i), "short_code": fmt.Sprintf("d%d", i)})
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
		wantGone []uint64
		wantKept []uint64
	}{
		{
			name:     "invalid id deletes nothing",
			args:     []string{"delete", "1", "x"},
			wantCode: exitUsage,
			wantErr:  `invalid id "x"`,
			wantKept: []uint64{1},
		},
		{
			name:     "two links",
			args:     []string{"delete", "1", "2"},
			wantOut:  "deleted link 1\ndeleted link 2\n",
			wantGone: []uint64{1, 2},
		},
		{
			name:     "json",
			args:     []string{"delete", "3", "-o", "json"},
			wantOut:  "{\n  \"deleted\": [\n    3\n  ]\n}\n",
			wantGone: []uint64{3},
		},
		{
			name:     "stops at the first failure",
			args:     []string{"delete", "4", "99", "5"},
			wantCode: exitRejected,
			wantOut:  "deleted link 4\n",
			wantErr:  "DELETE /urls/99",
			wantGone: []uint64{4},
			wantKept: []uint64{5},
		},
		{
			name:     "json on failure names the deleted",
			args:     []string{"delete", "5", "4", "-o", "json"},
			wantCode: exitRejected,
			wantOut:  "{\n  \"deleted\": [\n    5\n  ]\n}\n",
			wantErr:  "DELETE /urls/4",
			wantGone: []uint64{5},
		},
		{
			name:     "no id",
			args:     []string{"delete"},
			wantCode: exitUsage,
			wantErr:  "missing ID: linkbolt delete ID... [flags]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, tt.args...)
			expectExit(t, res, tt.wantCode, tt.wantErr)
			if res.out != tt.wantOut {
				t.Errorf("output = %q, want %q", res.out, tt.wantOut)
			}
			for _, id := range tt.wantGone {
				if got := s.request(t, http.MethodGet, fmt.Sprintf("/urls/%d", id), nil, nil); got.status != http.StatusNotFound {
					t.Errorf("GET /urls/%d: status %d, want 404", id, got.status)
				}
			}
			for _, id := range tt.wantKept {
				s.getLink(t, id)
			}
		})
	}
}

func TestPurgeCommand(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	active := s.createLink(t, map[string]any{"original_url": "https://example.com/active"})
	inactive := s.createLink(t, map[string]any{"original_url": "https://example.com/inactive", "is_active": false})

	t.Run("dry run json", func(t *testing.T) {
		res := s.cli(t, "purge", "--inactive", "--dry-run", "-o", "json")
		expectExit(t, res, exitOK)
		var got apiPurge
		decodeOutput(t, res, &got)
		if want := (apiPurge{DryRun: true, Links: 1, Events: 1}); got != want {
			t.Errorf("purge = %+v, want %+v", got, want)
		}
		s.getLink(t, inactive.ID)
	})

	t.Run("dry run table", func(t *testing.T) {
		res := s.cli(t, "purge", "--inactive", "--dry-run")
		expectExit(t, res, exitOK)
		if want := "would remove 1 link and 1 event (dry run, nothing removed)\n"; res.out != want {
			t.Errorf("output = %q, want %q", res.out, want)
		}
	})

	t.Run("purge", func(t *testing.T) {
		res := s.cli(t, "purge", "--inactive")
		expectExit(t, res, exitOK)
		if want := "removed 1 link and 1 event\n"; res.out != want {
			t.Errorf("output = %q, want %q", res.out, want)
		}
		if got := s.request(t, http.MethodGet, fmt.Sprintf("/urls/%d", inactive.ID), nil, nil); got.status != http.StatusNotFound {
			t.Errorf("purged link: status %d, want 404", got.status)
		}
		s.getLink(t, active.ID)
	})

	t.Run("filters combined", func(t *testing.T) {
		res := s.cli(t, "purge", "--expired", "--inactive", "--created-before", "2000-01-01T00:00:00", "--user-id", "1", "--dry-run", "-o", "json")
		expectExit(t, res, exitOK)
		var got apiPurge
		decodeOutput(t, res, &got)
		if want := (apiPurge{DryRun: true}); got != want {
			t.Errorf("purge = %+v, want %+v", got, want)
		}
	})

	errorCases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no filter", []string{"purge"}, exitUsage, "nothing to purge"},
		{"dry run alone", []string{"purge", "--dry-run"}, exitUsage, "nothing to purge"},
		{"invalid time", []string{"purge", "--created-before", "last week"}, exitRejected, "(field created_before)"},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			expectExit(t, s.cli(t, tt.args...), tt.wantCode, tt.wantErr)
		})
	}
}

func TestClientRangeChecks(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	link := s.createLink(t, map[string]any{"original_url": "https://example.com/kept", "title": "Kept"})
	id := strconv.FormatUint(link.ID, 10)
	var owner apiUser
	s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "owner", "email": "owner@example.com"}, http.StatusCreated, &owner)

	// Every value parses as the flag's type, so that only a range check
	// before the request turns it into a usage error. The server rejects
	// each of them with a 4xx, which would exit 4.
	const (
		aboveMaxID   = "9007199254740992"
		aboveMaxInt  = "9223372036854775808"
		daysRange    = "use an integer from 1 to 3660"
		userRange    = "use a user id from 1 to 9007199254740991"
		clicksRange  = "use an integer from 1 to 9223372036854775807"
		idRangeError = "ids are integers from 1 to 9007199254740991"
	)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"get zero days", []string{"get", id, "--stats", "--days", "0"}, `invalid --days "0": ` + daysRange},
		{"get negative days", []string{"get", id, "--stats", "--days", "-1"}, `invalid --days "-1": ` + daysRange},
		{"get days above max", []string{"get", id, "--stats", "--days", "3661"}, `invalid --days "3661": ` + daysRange},
		{"create zero max clicks", []string{"create", "https://example.com/a", "--max-clicks", "0"}, `invalid --max-clicks "0": ` + clicksRange},
		{"create max clicks above int64", []string{"create", "https://example.com/a", "--max-clicks", aboveMaxInt}, `invalid --max-clicks "` + aboveMaxInt + `": ` + clicksRange},
		{"create zero user id", []string{"create", "https://example.com/a", "--user-id", "0"}, `invalid --user-id "0": ` + userRange},
		{"create user id above max", []string{"create", "https://example.com/a", "--user-id", aboveMaxID}, `invalid --user-id "` + aboveMaxID + `": ` + userRange},
		{"update zero user id", []string{"update", id, "--user-id", "0"}, `invalid --user-id "0": ` + userRange},
		{"update zero max clicks", []string{"update", id, "--max-clicks", "0"}, `invalid --max-clicks "0": ` + clicksRange},
		{"update max clicks above int64", []string{"update", id, "--max-clicks", aboveMaxInt}, `invalid --max-clicks "` + aboveMaxInt + `": ` + clicksRange},
		{"update id above max", []string{"update", aboveMaxID, "--title", "x"}, `invalid id "` + aboveMaxID + `": ` + idRangeError},
		{"list zero user id", []string{"list", "--user-id", "0"}, `invalid --user-id "0": ` + userRange},
		{"purge zero user id", []string{"purge", "--user-id", "0", "--dry-run"}, `invalid --user-id "0": ` + userRange},
		{"delete id above max", []string{"delete", aboveMaxID}, `invalid id "` + aboveMaxID + `": ` + idRangeError},
		{"user delete id above max", []string{"user", "delete", aboveMaxID}, `invalid id "` + aboveMaxID + `": ` + idRangeError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectExit(t, s.cli(t, tt.args...), exitUsage, tt.wantErr)
		})
	}

	// The bounds themselves pass the checks and reach the server.
	expectExit(t, s.cli(t, "get", id, "--stats", "--days", "3660"), exitOK)
	expectExit(t, s.cli(t, "list", "--user-id", strconv.FormatUint(owner.ID, 10)), exitOK)
	expectExit(t, s.cli(t, "update", id, "--max-clicks", "1"), exitOK)

	// No rejected command changed the data.
	if _, total := s.fetchAll(t, "/urls"); total != 1 {
		t.Errorf("X-Total-Count of /urls = %d, want 1", total)
	}
	if _, total := s.fetchAll(t, "/users"); total != 1 {
		t.Errorf("X-Total-Count of /users = %d, want 1", total)
	}
}
