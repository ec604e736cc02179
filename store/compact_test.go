package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/internal/tempfile"
)

// storeContent is every user, URL and event of a store, read through the
// public API.
type storeContent struct {
	users  []User
	urls   []URL
	events []Event
	counts Counts
}

func readContent(t *testing.T, path string) storeContent {
	t.Helper()
	s, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var c storeContent
	all := Page{Page: 1, PerPage: 1 << 20}
	if c.users, _, err = s.ListUsers(all); err != nil {
		t.Fatal(err)
	}
	if c.urls, _, err = s.ListURLs(URLFilter{}, all); err != nil {
		t.Fatal(err)
	}
	if c.events, _, err = s.ListEvents(EventFilter{}, all); err != nil {
		t.Fatal(err)
	}
	if c.counts, err = s.Counts(); err != nil {
		t.Fatal(err)
	}
	return c
}

// buildSparseStore imports many links and events and purges most of them,
// so that the file has free pages for a compaction to drop.
func buildSparseStore(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	owner := mustUser(t, s, "keeper")
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	urls := make([]URL, 2000)
	var events []Event
	for i := range urls {
		id := uint64(i + 1)
		urls[i] = URL{
			ID:          id,
			ShortCode:   fmt.Sprintf("code%04d", id),
			OriginalURL: fmt.Sprintf("https://example.com/%d/%s", id, strings.Repeat("p", 100)),
			IsActive:    i%10 == 0,
			CreatedAt:   created,
		}
		if i%10 == 0 {
			urls[i].UserID = owner.ID
		}
		ev := Event{ID: id, URLID: id, Type: EventClick, Timestamp: created, Details: []byte(`{"referrer":""}`)}
		events = append(events, ev)
	}
	if err := s.ImportURLs(urls); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportEvents(events); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge(PurgeFilter{Inactive: true}, false); err != nil {
		t.Fatal(err)
	}
}

func TestCompact(t *testing.T) {
	tests := []struct {
		name   string
		output bool // write to a new file instead of replacing the original
	}{
		{name: "in place", output: false},
		{name: "to output file", output: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sparse.db")
			buildSparseStore(t, path)
			want := readContent(t, path)
			original, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			out, target := "", path
			if tt.output {
				out = filepath.Join(dir, "compacted.db")
				target = out
			}
			res, err := Compact(context.Background(), path, out, nil)
			if err != nil {
				t.Fatalf("compact: %v", err)
			}

			if res.Path != target {
				t.Errorf("Path = %s, want %s", res.Path, target)
			}
			if res.Before != int64(len(original)) {
				t.Errorf("Before = %d, want the original size %d", res.Before, len(original))
			}
			info, err := os.Stat(target)
			if err != nil {
				t.Fatal(err)
			}
			if res.After != info.Size() {
				t.Errorf("After = %d, want the size of %s, %d", res.After, target, info.Size())
			}
			if res.After >= res.Before {
				t.Errorf("compacted size %d is not below the original %d", res.After, res.Before)
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("compacted file mode = %v, want 0600 as the original", info.Mode().Perm())
			}

			if got := readContent(t, target); !reflect.DeepEqual(got, want) {
				t.Errorf("compacted content differs: %d users, %d urls, %d events; want %d, %d, %d",
					len(got.users), len(got.urls), len(got.events), len(want.users), len(want.urls), len(want.events))
			}
			report, err := Check(target, nil)
			if err != nil || !report.OK() {
				t.Errorf("check of the compacted file: %v, problems:%s", err, problemList(report))
			}
			if tt.output {
				after, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(after, original) {
					t.Errorf("compact to an output file changed the original (%v)", err)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.Contains(e.Name(), ".compact-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

func TestCompactKeepsSequences(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq.db")
	buildSparseStore(t, path)
	before := readContent(t, path)
	if _, err := Compact(context.Background(), path, "", nil); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.CreateURL(URL{OriginalURL: "https://example.com/new", IsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	// 2000 URLs were imported before the compaction, most of them purged.
	if u.ID != 2001 {
		t.Errorf("new url id = %d after compaction, want 2001 (highest url id %d)", u.ID, before.urls[len(before.urls)-1].ID)
	}
}

func TestCompactErrors(t *testing.T) {
	lockWait := &Options{Timeout: 100 * time.Millisecond}

	t.Run("file in use", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "busy.db")
		s, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := Compact(context.Background(), path, "", lockWait); !errors.Is(err, ErrInUse) {
			t.Errorf("compact of an open file: got %v, want ErrInUse", err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("directory has %d entries after the failed compaction, want only the database", len(entries))
		}
	})

	t.Run("output exists", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "src.db")
		buildSparseStore(t, path)
		out := filepath.Join(dir, "taken.db")
		if err := os.WriteFile(out, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Compact(context.Background(), path, out, lockWait); !errors.Is(err, fs.ErrExist) {
			t.Errorf("compact onto an existing file: got %v, want ErrExist", err)
		}
		if data, _ := os.ReadFile(out); string(data) != "keep" {
			t.Errorf("existing output was overwritten: %q", data)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.db")
		if _, err := Compact(context.Background(), path, "", lockWait); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("compact of a missing file: got %v, want ErrNotExist", err)
		}
	})
}

func TestCompactDamagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "damaged.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		mustURL(t, s, URL{OriginalURL: fmt.Sprintf("https://example.com/%d", i)})
	}
	s.Close()

	// Overwrite the page headers (id, flags, count) of every page after
	// the two meta pages.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	for page := 2; (page+1)*pageSize <= len(data); page++ {
		for i := page * pageSize; i < page*pageSize+16; i++ {
			data[i] ^= 0x5a
		}
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "out.db")
	if _, err := Compact(context.Background(), path, out, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("compact of a damaged file: got %v, want ErrCorrupt", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "damaged.db" {
			t.Errorf("compact left %s behind", e.Name())
		}
	}
}

// countdownContext ends with errCountdown once its Done method has been
// called a given number of times. A compaction calls Done once per key, so
// the test can end the context in the middle of the copy.
type countdownContext struct {
	context.Context
	cancel context.CancelCauseFunc
	left   atomic.Int64
}

var errCountdown = errors.New("countdown reached zero")

func newCountdownContext(t *testing.T, calls int64) *countdownContext {
	ctx, cancel := context.WithCancelCause(t.Context())
	c := &countdownContext{Context: ctx, cancel: cancel}
	c.left.Store(calls)
	return c
}

func (c *countdownContext) Done() <-chan struct{} {
	if c.left.Add(-1) == 0 {
		c.cancel(errCountdown)
	}
	return c.Context.Done()
}

func TestCompactStopsWhenContextEnds(t *testing.T) {
	for _, output := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "sparse.db")
		buildSparseStore(t, path)
		original, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		if output {
			out = filepath.Join(dir, "out.db")
		}

		ctx := newCountdownContext(t, 100)
		_, err = Compact(ctx, path, out, nil)
		if !errors.Is(err, errCountdown) {
			t.Fatalf("output %v: Compact returned %v, want the cause of the context", output, err)
		}
		if left := ctx.left.Load(); left > 0 {
			t.Errorf("output %v: the copy stopped before the context ended (%d calls left)", output, left)
		}
		after, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(after, original) {
			t.Errorf("output %v: the original changed (%v)", output, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "sparse.db" {
				t.Errorf("output %v: %s left behind", output, e.Name())
			}
		}
	}
}

func TestCompactRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sparse.db")
	buildSparseStore(t, path)

	// A compaction killed with SIGKILL leaves a file of bbolt's initial
	// four pages. A file that a process holds, and a file that a person
	// named, stay.
	stale := filepath.Join(dir, ".sparse.db.compact-123")
	if err := os.WriteFile(stale, make([]byte, 16<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	running, err := tempfile.Create(dir, compactTempPrefix(path), "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	named := filepath.Join(dir, ".sparse.db.compact-old")
	if err := os.WriteFile(named, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, ".other.db.compact-123")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	found, err := StaleCompactTemps(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(found, []string{stale}) {
		t.Errorf("StaleCompactTemps = %v, want [%s]", found, stale)
	}

	res, err := Compact(t.Context(), path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.RemovedTemps, []string{stale}) {
		t.Errorf("RemovedTemps = %v, want [%s]", res.RemovedTemps, stale)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still exists (stat error %v)", stale, err)
	}
	for _, file := range []string{running.Name(), named, other} {
		if _, err := os.Stat(file); err != nil {
			t.Errorf("%s was removed: %v", file, err)
		}
	}
}
