package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openStore opens a store on a new file in a temporary directory and closes
// it when the test ends.
func openStore(t *testing.T, opts *Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "test.db"), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustUser(t *testing.T, s *Store, name string) User {
	t.Helper()
	u, err := s.CreateUser(User{Username: name, Email: name + "@example.com", CreatedAt: now()})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func mustURL(t *testing.T, s *Store, u URL) URL {
	t.Helper()
	if u.OriginalURL == "" {
		u.OriginalURL = "https://example.com/"
	}
	u.IsActive = true
	got, err := s.CreateURL(u)
	if err != nil {
		t.Fatalf("create url: %v", err)
	}
	return got
}

func TestOpenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	first, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	start := time.Now()
	_, err = Open(path, &Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: got %v, want ErrInUse", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("second open took %v", time.Since(start))
	}
}

func TestReopenKeepsRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reopen.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := mustUser(t, s, "alice")
	link := mustURL(t, s, URL{UserID: u.ID})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetURLByCode(link.ShortCode)
	if err != nil {
		t.Fatalf("get by code after reopen: %v", err)
	}
	if got.ID != link.ID || got.UserID != u.ID {
		t.Errorf("got url %+v, want id %d owner %d", got, link.ID, u.ID)
	}
	c, _ := s.Counts()
	if c != (Counts{Users: 1, URLs: 1, Events: 1}) {
		t.Errorf("counts after reopen = %+v", c)
	}
}

func TestUserUniqueness(t *testing.T) {
	s := openStore(t, nil)
	alice := mustUser(t, s, "alice")
	bob := mustUser(t, s, "bob")

	tests := []struct {
		name string
		user User
	}{
		{"same username other case", User{Username: "ALICE", Email: "x@example.com"}},
		{"same email other case", User{Username: "carol", Email: "Alice@Example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.CreateUser(tt.user); !errors.Is(err, ErrConflict) {
				t.Errorf("got %v, want ErrConflict", err)
			}
		})
	}

	name := "Alice"
	if _, err := s.UpdateUser(alice.ID, UserUpdate{Username: &name}); err != nil {
		t.Errorf("renaming a user to its own name in other case: %v", err)
	}
	if _, err := s.UpdateUser(bob.ID, UserUpdate{Username: &name}); !errors.Is(err, ErrConflict) {
		t.Errorf("renaming bob to alice: got %v, want ErrConflict", err)
	}
}

// TestUpdateImportedDuplicateUser updates users that an import gave the
// same username, as the seed data does.
func TestUpdateImportedDuplicateUser(t *testing.T) {
	s := openStore(t, nil)
	users, _, err := ParseUsersCSV(strings.NewReader("id,username,email,created_at\n"+
		"3,navy,navy@acme.dev,2024-12-12 05:53:19\n"+
		"112,navy,navy@relay.cloud,2025-06-07 18:16:55\n"+
		"200,other,other@example.com,2025-06-07 18:16:55\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportUsers(users); err != nil {
		t.Fatal(err)
	}

	if _, err := s.UpdateUser(3, UserUpdate{}); err != nil {
		t.Errorf("empty update of a user whose username another has: %v", err)
	}
	email := "navy@new.example"
	if _, err := s.UpdateUser(3, UserUpdate{Email: &email}); err != nil {
		t.Errorf("changing only the email: %v", err)
	}
	same, upper := "navy", "NAVY"
	if _, err := s.UpdateUser(112, UserUpdate{Username: &same}); err != nil {
		t.Errorf("setting the username it has: %v", err)
	}
	if _, err := s.UpdateUser(112, UserUpdate{Username: &upper}); err != nil {
		t.Errorf("changing only the case of the username: %v", err)
	}
	if _, err := s.UpdateUser(200, UserUpdate{Username: &same}); !errors.Is(err, ErrConflict) {
		t.Errorf("renaming another user to the shared name: got %v, want ErrConflict", err)
	}
	otherEmail := "navy@relay.cloud"
	if _, err := s.UpdateUser(3, UserUpdate{Email: &otherEmail}); !errors.Is(err, ErrConflict) {
		t.Errorf("taking the email of user 112: got %v, want ErrConflict", err)
	}
	if got, err := s.GetUser(112); err != nil || got.Username != "NAVY" {
		t.Errorf("user 112 = %+v, %v; want username NAVY", got, err)
	}
}

func TestDeleteUserDisownsLinks(t *testing.T) {
	s := openStore(t, nil)
	u := mustUser(t, s, "alice")
	link := mustURL(t, s, URL{UserID: u.ID})

	codes, err := s.DeleteUser(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1 || codes[0] != link.ShortCode {
		t.Errorf("stale codes = %v, want [%s]", codes, link.ShortCode)
	}
	if _, err := s.GetUser(u.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("get deleted user: got %v, want ErrNotFound", err)
	}
	got, err := s.GetURL(link.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != 0 {
		t.Errorf("owner after delete = %d, want 0", got.UserID)
	}
	id := u.ID
	if _, total, _ := s.ListURLs(URLFilter{UserID: &id}, Page{1, 10}); total != 0 {
		t.Errorf("links listed for deleted user: %d", total)
	}
	if _, err := s.CreateUser(User{Username: "alice", Email: "alice@example.com"}); err != nil {
		t.Errorf("reusing a deleted user's name: %v", err)
	}
}

func TestDeletedCodeNeverReissued(t *testing.T) {
	s := openStore(t, nil)
	link := mustURL(t, s, URL{ShortCode: "launch"})
	if _, err := s.CreateURL(URL{ShortCode: "launch", OriginalURL: "https://x.example/"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("taken code: got %v, want ErrConflict", err)
	}
	if _, err := s.DeleteURL(link.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetURLByCode("launch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted code lookup: got %v, want ErrNotFound", err)
	}
	if _, err := s.CreateURL(URL{ShortCode: "launch", OriginalURL: "https://x.example/"}); !errors.Is(err, ErrConflict) {
		t.Errorf("deleted code: got %v, want ErrConflict", err)
	}
	id := link.ID
	events, _, err := s.ListEvents(EventFilter{URLID: &id}, Page{1, 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != EventCreated || events[1].Type != EventDeleted {
		t.Errorf("events of deleted url = %+v, want created then deleted", events)
	}
}

func TestUpdateURLEvents(t *testing.T) {
	s := openStore(t, nil)
	link := mustURL(t, s, URL{})
	title := "Launch"
	got, err := s.UpdateURL(link.ID, URLUpdate{
		Title:       Some(&title),
		IsActive:    Some(true), // unchanged: no event
		OriginalURL: Some("https://example.org/new"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Title == nil || *got.Title != title || got.OriginalURL != "https://example.org/new" {
		t.Errorf("updated url = %+v", got)
	}
	typ := EventUpdated
	events, total, err := s.ListEvents(EventFilter{Type: &typ}, Page{1, 10})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 {
		t.Fatalf("updated events = %d, want 2: %+v", total, events)
	}
	var details map[string]any
	json.Unmarshal(events[0].Details, &details)
	if details["field"] != "original_url" || details["new_value"] != "https://example.org/new" {
		t.Errorf("first updated event details = %s", events[0].Details)
	}
}

func TestListURLFilters(t *testing.T) {
	s := openStore(t, nil)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	for i := range 5 {
		mustURL(t, s, URL{UserID: alice.ID, OriginalURL: fmt.Sprintf("https://a.example/%d", i)})
	}
	b := mustURL(t, s, URL{UserID: bob.ID})
	if _, err := s.UpdateURL(b.ID, URLUpdate{IsActive: Some(false)}); err != nil {
		t.Fatal(err)
	}

	yes, no := true, false
	aliceID, bobID := alice.ID, bob.ID
	code := b.ShortCode
	tests := []struct {
		name      string
		filter    URLFilter
		page      Page
		wantTotal uint64
		wantLen   int
	}{
		{"all", URLFilter{}, Page{1, 100}, 6, 6},
		{"second page", URLFilter{}, Page{2, 4}, 6, 2},
		{"past the end", URLFilter{}, Page{3, 4}, 6, 0},
		{"by user", URLFilter{UserID: &aliceID}, Page{1, 2}, 5, 2},
		{"active", URLFilter{IsActive: &yes}, Page{1, 100}, 5, 5},
		{"inactive", URLFilter{IsActive: &no}, Page{1, 100}, 1, 1},
		{"user and inactive", URLFilter{UserID: &bobID, IsActive: &no}, Page{1, 100}, 1, 1},
		{"user and active", URLFilter{UserID: &bobID, IsActive: &yes}, Page{1, 100}, 0, 0},
		{"by code", URLFilter{ShortCode: &code}, Page{1, 100}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			urls, total, err := s.ListURLs(tt.filter, tt.page)
			if err != nil {
				t.Fatal(err)
			}
			if total != tt.wantTotal {
				t.Errorf("total = %d, want %d", total, tt.wantTotal)
			}
			if len(urls) != tt.wantLen {
				t.Errorf("page length = %d, want %d", len(urls), tt.wantLen)
			}
			for i := 1; i < len(urls); i++ {
				if urls[i].ID <= urls[i-1].ID {
					t.Errorf("ids out of order: %d after %d", urls[i].ID, urls[i-1].ID)
				}
			}
		})
	}
}

func TestRecordClicks(t *testing.T) {
	s := openStore(t, nil)
	u := mustUser(t, s, "alice")
	link := mustURL(t, s, URL{UserID: u.ID})
	gone := mustURL(t, s, URL{})
	if _, err := s.DeleteURL(gone.ID); err != nil {
		t.Fatal(err)
	}

	clicks := []Click{
		{URLID: link.ID, UserID: u.ID, Time: time.Now(), Referrer: "https://ref.example/", UserAgent: "test"},
		{URLID: link.ID, UserID: u.ID, Time: time.Now()},
		{URLID: gone.ID, Time: time.Now()},
	}
	if err := s.RecordClicks(clicks); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetURL(link.ID)
	if got.ClickCount != 2 {
		t.Errorf("click count = %d, want 2", got.ClickCount)
	}
	typ := EventClick
	events, total, _ := s.ListEvents(EventFilter{Type: &typ}, Page{1, 10})
	if total != 3 {
		t.Fatalf("click events = %d, want 3 (the deleted url's click keeps its event)", total)
	}
	want := `{"referrer":"https://ref.example/","user_agent":"test"}`
	if string(events[0].Details) != want || events[0].UserID != u.ID {
		t.Errorf("click event = %+v, details %s", events[0], events[0].Details)
	}
}

func TestConcurrentCreatesShareCommits(t *testing.T) {
	s := openStore(t, nil)
	var commits sync.WaitGroup
	var mu sync.Mutex
	n := 0
	s.SetCommitHook(func(time.Duration, error) {
		mu.Lock()
		n++
		mu.Unlock()
	})

	const writers = 200
	ids := make([]uint64, writers)
	errs := make([]error, writers)
	for i := range writers {
		commits.Add(1)
		go func() {
			defer commits.Done()
			u, err := s.CreateURL(URL{OriginalURL: fmt.Sprintf("https://example.com/%d", i), IsActive: true})
			ids[i], errs[i] = u.ID, err
		}()
	}
	commits.Wait()

	seen := map[uint64]bool{}
	for i, id := range ids {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if seen[id] {
			t.Fatalf("id %d given twice", id)
		}
		seen[id] = true
	}
	if n >= writers {
		t.Errorf("%d commits for %d concurrent creates; want fewer", n, writers)
	}
	c, _ := s.Counts()
	if c.URLs != writers {
		t.Errorf("url count = %d, want %d", c.URLs, writers)
	}
}

func TestFailedWriteDoesNotFailBatch(t *testing.T) {
	s := openStore(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every writer requests the same username, so exactly one wins.
			_, errs[i] = s.CreateUser(User{Username: "same", Email: fmt.Sprintf("u%d@example.com", i)})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates of one username succeeded, want 1", ok)
	}
}

func TestCommitFailureMakesStoreUnavailable(t *testing.T) {
	s := openStore(t, &Options{MaxSize: 1 << 20})
	link := mustURL(t, s, URL{})

	// Grow the file past MaxSize, as a full disk would stop it.
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = 'a'
	}
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = s.CreateURL(URL{OriginalURL: "https://example.com/" + string(big), IsActive: true})
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write past MaxSize: got %v, want ErrUnavailable", err)
	}
	if s.Err() == nil {
		t.Error("Err() is nil after a failed commit")
	}
	if _, err := s.CreateUser(User{Username: "late", Email: "late@example.com"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("write after failure: got %v, want ErrUnavailable", err)
	}
	if _, err := s.GetURLByCode(link.ShortCode); err != nil {
		t.Errorf("read after failure: %v", err)
	}
}

func TestImportUpsertAndIDs(t *testing.T) {
	s := openStore(t, nil)
	ts := time.Date(2025, 6, 9, 11, 24, 49, 0, time.UTC)
	users := []User{
		{ID: 3, Username: "dup", Email: "a@example.com", CreatedAt: ts},
		{ID: 7, Username: "dup", Email: "b@example.com", CreatedAt: ts},
	}
	if err := s.ImportUsers(users); err != nil {
		t.Fatal(err)
	}
	users[0].Email = "changed@example.com"
	if err := s.ImportUsers(users[:1]); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetUser(3)
	if got.Email != "changed@example.com" || !got.CreatedAt.Equal(ts) {
		t.Errorf("upserted user = %+v", got)
	}
	c, _ := s.Counts()
	if c.Users != 2 {
		t.Errorf("users after upsert = %d, want 2", c.Users)
	}
	next := mustUser(t, s, "fresh")
	if next.ID != 8 {
		t.Errorf("next user id = %d, want 8", next.ID)
	}
	if _, err := s.CreateUser(User{Username: "DUP", Email: "c@example.com"}); !errors.Is(err, ErrConflict) {
		t.Errorf("create with an imported username: got %v, want ErrConflict", err)
	}
}

func TestImportURLConflictWritesNothing(t *testing.T) {
	s := openStore(t, nil)
	mustURL(t, s, URL{ShortCode: "taken"})
	urls := []URL{
		{ID: 10, ShortCode: "fresh1", OriginalURL: "https://a.example/", IsActive: true},
		{ID: 11, ShortCode: "taken", OriginalURL: "https://b.example/", IsActive: true},
	}
	err := s.ImportURLs(urls)
	var ie *ImportError
	if !errors.As(err, &ie) || ie.ID != 11 || !errors.Is(err, ErrConflict) {
		t.Fatalf("got %v, want ImportError for id 11 wrapping ErrConflict", err)
	}
	if _, err := s.GetURL(10); !errors.Is(err, ErrNotFound) {
		t.Errorf("row before the conflict was written: %v", err)
	}
}

func TestIDRange(t *testing.T) {
	s := openStore(t, &Options{IDs: IDRange{First: 1000, Last: 1001}})
	a, b := mustUser(t, s, "a"), mustUser(t, s, "b")
	if a.ID != 1000 || b.ID != 1001 {
		t.Errorf("ids = %d, %d; want 1000, 1001", a.ID, b.ID)
	}
	if _, err := s.CreateUser(User{Username: "c", Email: "c@example.com"}); !errors.Is(err, ErrIDsExhausted) {
		t.Errorf("third id: got %v, want ErrIDsExhausted", err)
	}
}

func TestCloseDrainsQueuedWrites(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "drain.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]error, 100)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = s.CreateUser(User{Username: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i)})
		}()
	}
	s.Close()
	wg.Wait()
	for _, err := range results {
		if err != nil && !errors.Is(err, ErrUnavailable) {
			t.Errorf("write racing Close: %v", err)
		}
	}
	if _, err := s.CreateUser(User{Username: "late", Email: "late@example.com"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("write after Close: got %v, want ErrUnavailable", err)
	}
}

func TestImportRejectsIDsAboveLimit(t *testing.T) {
	s := openStore(t, nil)
	err := s.ImportEvents([]Event{{ID: MaxImportID + 1, URLID: 1, Type: "x", Timestamp: now()}})
	var ie *ImportError
	if !errors.As(err, &ie) || ie.ID != MaxImportID+1 {
		t.Fatalf("import of id above MaxImportID: got %v, want an ImportError", err)
	}
	if err := s.ImportUsers([]User{{ID: MaxImportID, Username: "edge", Email: "edge@example.com", CreatedAt: now()}}); err != nil {
		t.Fatalf("import of MaxImportID: %v", err)
	}
	u := mustUser(t, s, "after")
	if u.ID != MaxImportID+1 {
		t.Errorf("id after the largest import = %d, want %d", u.ID, uint64(MaxImportID)+1)
	}
}

func TestOpenDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "damaged.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		mustURL(t, s, URL{OriginalURL: fmt.Sprintf("https://example.com/%d", i)})
	}
	s.Close()
	if err := os.Truncate(path, 64<<10); err != nil {
		t.Fatal(err)
	}

	if _, err := Open(path, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a truncated file: got %v, want ErrCorrupt", err)
	}
}

func TestReadPanicBecomesErrCorrupt(t *testing.T) {
	s := openStore(t, nil)
	err := s.view(func(*bolt.Tx) error {
		var m map[string]int
		m["x"] = 1 // a panic inside the read, as a damaged page gives
		return nil
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("panic in a read: got %v, want ErrCorrupt", err)
	}
	if _, err := s.CreateUser(User{Username: "after", Email: "after@example.com"}); err != nil {
		t.Errorf("write after a failed read: %v", err)
	}
}

func TestImportedCreatedEventReservesDeletedCode(t *testing.T) {
	s := openStore(t, nil)
	events := []Event{
		{ID: 1, URLID: 7, Type: EventCreated, Timestamp: now(), Details: json.RawMessage(`{"short_code":"gone77","original_url":"https://example.com/"}`)},
		{ID: 2, URLID: 7, Type: EventDeleted, Timestamp: now(), Details: json.RawMessage(`{"reason":"user_requested"}`)},
	}
	if err := s.ImportEvents(events); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateURL(URL{ShortCode: "gone77", OriginalURL: "https://example.org/"}); !errors.Is(err, ErrConflict) {
		t.Errorf("code of an imported deleted url: got %v, want ErrConflict", err)
	}
}

func TestWritePanicFailsOnlyItsWrite(t *testing.T) {
	s := openStore(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = s.update(func(*bolt.Tx) error {
			var m map[string]int
			m["x"] = 1 // a panic inside the write, as a damaged page gives
			return nil
		})
	}()
	go func() {
		defer wg.Done()
		_, errs[1] = s.CreateUser(User{Username: "beside", Email: "beside@example.com"})
	}()
	wg.Wait()
	if !errors.Is(errs[0], ErrCorrupt) {
		t.Errorf("panic in a write: got %v, want ErrCorrupt", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("write beside the one that panicked: %v", errs[1])
	}
	if _, err := s.CreateUser(User{Username: "after", Email: "after@example.com"}); err != nil {
		t.Errorf("write after the panic: %v", err)
	}
}

// TestDamagedPagesFailWritesWithoutCrash overwrites pages in the middle
// of a file full of links, then records and indexes clicks on every link,
// which reads the page of each link. Writes that reach a damaged page must
// fail with ErrCorrupt, not end the process.
func TestDamagedPagesFailWritesWithoutCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "damaged.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const links = 5000
	urls := make([]URL, links)
	for i := range urls {
		urls[i] = URL{ID: uint64(i + 1), ShortCode: fmt.Sprintf("d%05d", i+1), OriginalURL: "https://example.com/" + strconv.Itoa(i), IsActive: true, CreatedAt: time.Now()}
	}
	if err := s.ImportURLs(urls); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Overwrite 40 pages from the middle of the file, past their page
	// headers, with bytes that decode as absurd lengths and offsets.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	pages := info.Size() / pageSize
	junk := bytes.Repeat([]byte{0xff, 0x7f, 0x13, 0xee}, (pageSize-16)/4)
	for p := pages / 3; p < pages/3+40 && p < pages; p++ {
		if _, err := f.WriteAt(junk, p*pageSize+16); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Skipf("the damage made the file fail to open, which other tests cover: %v", err)
	}
	defer s.Close()
	corrupt := 0
	for first := 1; first <= links; first += 100 {
		clicks := make([]Click, 100)
		for i := range clicks {
			clicks[i] = Click{URLID: uint64(first + i), Time: time.Now()}
		}
		err := s.FlushClicks(clicks)
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
		case err != nil && !errors.Is(err, ErrUnavailable):
			t.Fatalf("clicks on links %d to %d: %v", first, first+99, err)
		}
	}
	if corrupt == 0 {
		t.Error("no write reached a damaged page; the test damaged the wrong pages")
	}
}

// TestImportedEventsKeepClickCounts replaces events by id and imports
// click events before their URL. Every click count must equal the URL's
// click events that are not from bots, as check requires.
func TestImportedEventsKeepClickCounts(t *testing.T) {
	s := openStore(t, nil)
	ts := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	urls := []URL{
		{ID: 1, ShortCode: "one", OriginalURL: "https://example.com/1", IsActive: true, CreatedAt: ts},
		{ID: 2, ShortCode: "two", OriginalURL: "https://example.com/2", IsActive: true, CreatedAt: ts},
	}
	if err := s.ImportURLs(urls); err != nil {
		t.Fatal(err)
	}
	click := func(id, url uint64) Event {
		return Event{ID: id, URLID: url, Type: EventClick, Timestamp: ts}
	}
	if err := s.ImportEvents([]Event{click(10, 1), click(11, 1), click(12, 1), click(20, 50), click(21, 50)}); err != nil {
		t.Fatal(err)
	}
	// Event 10 stops being a click, event 11 moves to url 2, and event 13
	// is a view that becomes a click of url 2.
	view := click(13, 2)
	view.Type = "view"
	if err := s.ImportEvents([]Event{view}); err != nil {
		t.Fatal(err)
	}
	replaced := []Event{click(10, 1), click(11, 2), click(13, 2)}
	replaced[0].Type = "view"
	if err := s.ImportEvents(replaced); err != nil {
		t.Fatal(err)
	}
	late := URL{ID: 50, ShortCode: "late", OriginalURL: "https://example.com/50", IsActive: true, CreatedAt: ts}
	if err := s.ImportURLs([]URL{late}); err != nil {
		t.Fatal(err)
	}

	for id, want := range map[uint64]uint64{1: 1, 2: 2, 50: 2} {
		u, err := s.GetURL(id)
		if err != nil {
			t.Fatal(err)
		}
		if u.ClickCount != want {
			t.Errorf("url %d: click count %d, want %d", id, u.ClickCount, want)
		}
	}
	checkClean(t, s)
}

// TestImportURLsListsEveryConflict imports links whose codes stored links
// hold, among others that are free. The error names every such row, up to
// maxRowErrors, and nothing is written.
func TestImportURLsListsEveryConflict(t *testing.T) {
	s := openStore(t, nil)
	var storedCodes []string
	for i := range maxRowErrors + 10 {
		storedCodes = append(storedCodes, mustURL(t, s, URL{ShortCode: fmt.Sprintf("held%d", i)}).ShortCode)
	}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	imported := []URL{{ID: 1000, ShortCode: "free1", OriginalURL: "https://example.com/", IsActive: true, CreatedAt: created}}
	for i, code := range storedCodes {
		imported = append(imported, URL{ID: uint64(2000 + i), ShortCode: code, OriginalURL: "https://example.com/", IsActive: true, CreatedAt: created})
	}

	err := s.ImportURLs(imported)
	var conflicts *ConflictsError
	if !errors.As(err, &conflicts) {
		t.Fatalf("got %v, want a *ConflictsError", err)
	}
	if !errors.Is(err, ErrConflict) {
		t.Errorf("errors.Is(%v, ErrConflict) = false", err)
	}
	if conflicts.Total != len(storedCodes) || len(conflicts.Rows) != maxRowErrors {
		t.Errorf("%d rows listed of %d, want %d of %d", len(conflicts.Rows), conflicts.Total, maxRowErrors, len(storedCodes))
	}
	for i, row := range conflicts.Rows {
		if want := uint64(2000 + i); row.ID != want {
			t.Errorf("row %d names id %d, want %d", i, row.ID, want)
		}
	}
	if _, err := s.GetURL(1000); !errors.Is(err, ErrNotFound) {
		t.Errorf("the free row was written (get: %v), want nothing written", err)
	}

	// A lone conflict keeps the error of one row.
	err = s.ImportURLs(imported[:2])
	var single *ImportError
	if errors.As(err, &conflicts) || !errors.As(err, &single) || single.ID != 2000 {
		t.Errorf("one conflict: got %v, want the *ImportError of id 2000", err)
	}
}

// TestImportConflictNamesWhyCodeIsReserved imports a code that a link had
// before an import changed it, and one that a deleted link had.
func TestImportConflictNamesWhyCodeIsReserved(t *testing.T) {
	s := openStore(t, nil)
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func(id uint64, code string) URL {
		return URL{ID: id, ShortCode: code, OriginalURL: "https://example.com/", IsActive: true, CreatedAt: created}
	}
	if err := s.ImportURLs([]URL{row(1, "old1"), row(2, "gone2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportURLs([]URL{row(1, "new1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteURL(2); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		code, want string
	}{
		{"old1", `short_code "old1" was the code of url 1 before it changed`},
		{"gone2", `short_code "gone2" belonged to deleted url 2`},
	}
	for _, tt := range tests {
		err := s.ImportURLs([]URL{row(50, tt.code)})
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("import of %q: got %v, want a conflict saying %q", tt.code, err, tt.want)
		}
		_, err = s.CreateURL(URL{ShortCode: tt.code, OriginalURL: "https://example.com/new", IsActive: true})
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("create with %q: got %v, want a conflict saying %q", tt.code, err, tt.want)
		}
	}
	_, err := s.CreateURL(URL{ShortCode: "new1", OriginalURL: "https://example.com/new", IsActive: true})
	if want := `short_code "new1" belongs to url 1`; !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), want) {
		t.Errorf("create with new1: got %v, want a conflict saying %q", err, want)
	}
}

func TestWriteRejectsMaxClicksAboveLimit(t *testing.T) {
	s := openStore(t, nil)
	_, err := s.CreateURL(URL{ShortCode: "big", OriginalURL: "https://example.com/", IsActive: true, MaxClicks: MaxClickLimit + 1})
	if err == nil || !strings.Contains(err.Error(), "max_clicks 9223372036854775808 is larger than 9223372036854775807") {
		t.Errorf("create with max_clicks 2^63: error %v, want it to name the limit", err)
	}
	if _, err := s.GetURLByCode("big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get the rejected link: error %v, want ErrNotFound", err)
	}
}
