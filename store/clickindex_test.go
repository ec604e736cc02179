package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// recordPending records clicks on a store whose index delay is an hour,
// so that they stay pending until something indexes them.
func recordPending(t *testing.T, s *Store, clicks []Click) {
	t.Helper()
	if err := s.RecordClicks(clicks); err != nil {
		t.Fatal(err)
	}
	if got := s.PendingClicks(); got != int64(len(clicks)) {
		t.Fatalf("pending clicks = %d after recording %d", got, len(clicks))
	}
}

func TestPendingClicksAreIndexedBeforeReads(t *testing.T) {
	s := openStore(t, &Options{ClickIndexDelay: time.Hour})
	u := mustUser(t, s, "alice")
	link := mustURL(t, s, URL{UserID: u.ID})
	other := mustURL(t, s, URL{})
	recordPending(t, s, []Click{
		{URLID: link.ID, UserID: u.ID, Time: time.Now()},
		{URLID: other.ID, Time: time.Now()},
		{URLID: link.ID, UserID: u.ID, Time: time.Now(), Bot: true},
		{URLID: link.ID, UserID: u.ID, Time: time.Now()},
	})

	// The redirect lookup leaves the clicks pending.
	if _, err := s.LookupCode(link.ShortCode); err != nil || s.PendingClicks() != 4 {
		t.Fatalf("LookupCode: %v, pending %d", err, s.PendingClicks())
	}
	got, err := s.GetURL(link.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClickCount != 2 || s.PendingClicks() != 0 {
		t.Errorf("click count %d, pending %d; want 2 and 0", got.ClickCount, s.PendingClicks())
	}
	events, total, err := s.ListEvents(EventFilter{URLID: &link.ID}, Page{1, 10})
	if err != nil || total != 4 || len(events) != 4 {
		t.Fatalf("events of the link: %d of %d, %v; want 4 (its creation and 3 clicks)", len(events), total, err)
	}
	_, total, _ = s.ListEvents(EventFilter{UserID: &u.ID}, Page{1, 10})
	if total != 4 {
		t.Errorf("events of the user = %d, want 4", total)
	}
}

func TestWritesIndexPendingClicksFirst(t *testing.T) {
	s := openStore(t, &Options{ClickIndexDelay: time.Hour})
	link := mustURL(t, s, URL{})
	recordPending(t, s, []Click{{URLID: link.ID, Time: time.Now()}})
	// Purging the link's events walks the index by URL, so the pending
	// click must be in it by then.
	if _, err := s.DeleteURL(link.ID); err != nil {
		t.Fatal(err)
	}
	if s.PendingClicks() != 0 {
		t.Fatalf("pending clicks = %d after another write", s.PendingClicks())
	}
	res, err := s.Purge(PurgeFilter{Deleted: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, total, _ := s.ListEvents(EventFilter{URLID: &link.ID}, Page{1, 10}); total != 0 {
		t.Errorf("%d events of the purged link left (purge result %+v)", total, res)
	}
	checkClean(t, s)
}

func TestPendingClicksAreIndexedAfterTheDelay(t *testing.T) {
	s := openStore(t, &Options{ClickIndexDelay: 20 * time.Millisecond})
	link := mustURL(t, s, URL{})
	if err := s.RecordClicks([]Click{{URLID: link.ID, Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.PendingClicks() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the click is still pending 5 s after a delay of 20 ms")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPendingClicksSurviveInTheFile takes a backup while clicks are
// pending, which is the state that a crash leaves. Check accepts the
// backup, and opening it indexes the clicks.
func TestPendingClicksSurviveInTheFile(t *testing.T) {
	s := openStore(t, &Options{ClickIndexDelay: time.Hour})
	u := mustUser(t, s, "alice")
	link := mustURL(t, s, URL{UserID: u.ID})
	other := mustURL(t, s, URL{})
	recordPending(t, s, []Click{
		{URLID: link.ID, UserID: u.ID, Time: time.Now()},
		{URLID: other.ID, Time: time.Now(), Bot: true},
		{URLID: link.ID, UserID: u.ID, Time: time.Now()},
	})
	// A second batch, whose pending entry follows the first.
	if err := s.RecordClicks([]Click{{URLID: other.ID, Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	path := backupFile(t, s)

	report, err := Check(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() || report.PendingClicks != 4 {
		t.Fatalf("check of the backup: %d problems %v, %d pending clicks; want none and 4", report.Total, report.Problems, report.PendingClicks)
	}

	b, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.PendingClicks() != 0 {
		t.Errorf("pending clicks after open = %d", b.PendingClicks())
	}
	got, err := b.GetURL(link.ID)
	if err != nil || got.ClickCount != 2 {
		t.Errorf("click count after open = %d, %v; want 2", got.ClickCount, err)
	}
	got, err = b.GetURL(other.ID)
	if err != nil || got.ClickCount != 1 {
		t.Errorf("click count of the other link after open = %d, %v; want 1 (one of its two clicks is a bot's)", got.ClickCount, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if report, err := Check(path, nil); err != nil || !report.OK() || report.PendingClicks != 0 {
		t.Errorf("check after open: %v, %+v", err, report)
	}
}

// backupFile writes a backup of s to a new file and returns its path. The
// file is in the state that a crash of s at this moment would leave.
func backupFile(t *testing.T, s *Store) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.db")
	var buf bytes.Buffer
	if _, err := s.Backup(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// storeWithPendingClick opens a store that indexes clicks after an hour,
// with one link and one pending click on it.
func storeWithPendingClick(t *testing.T) (*Store, URL) {
	t.Helper()
	s := openStore(t, &Options{ClickIndexDelay: time.Hour})
	link := mustURL(t, s, URL{})
	recordPending(t, s, []Click{{URLID: link.ID, Time: time.Now()}})
	return s, link
}

func TestCloseIndexesPendingClicks(t *testing.T) {
	s, _ := storeWithPendingClick(t)
	checkClean(t, s)
}

func TestCheckReportsWrongPendingClicks(t *testing.T) {
	s, link := storeWithPendingClick(t)
	path := s.Path()
	// Damage the pending entry of the click, and add one for an event
	// that does not exist, in a transaction of our own, so that the
	// store's writer does not index them at close.
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClickIndex)
		k, _ := b.Cursor().First()
		wrong := appendPendingClick(nil, &Click{URLID: link.ID + 100})
		if err := b.Put(k, wrong); err != nil {
			return err
		}
		return b.Put(itob(btoi(k)+1000), appendPendingClick(nil, &Click{URLID: link.ID}))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.pending.Store(0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	report, err := Check(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mismatch, missing bool
	for _, p := range report.Problems {
		mismatch = mismatch || bytes.Contains([]byte(p.Message), []byte("does not match the event"))
		missing = missing || bytes.Contains([]byte(p.Message), []byte("names no event"))
	}
	if !mismatch || !missing || report.PendingClicks != 2 {
		t.Errorf("check found %v with %d pending; want a mismatch and a missing event among 2", report.Problems, report.PendingClicks)
	}
}

// checkClean closes s and fails t unless Check finds no problem and no
// pending click, which Close indexes.
func checkClean(t *testing.T, s *Store) {
	t.Helper()
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	report, err := Check(path, nil)
	if err != nil || !report.OK() {
		t.Errorf("check: %v, %+v", err, report)
	}
	if report.PendingClicks != 0 {
		t.Errorf("check after close: %d pending clicks, want 0", report.PendingClicks)
	}
}

// clicksOn returns n clicks, click i on links[i%len(links)], every third
// one with user, and the count that each link should get.
func clicksOn(links []URL, n int, user uint64) ([]Click, map[uint64]uint64) {
	clicks := make([]Click, n)
	want := make(map[uint64]uint64)
	for i := range clicks {
		c := Click{URLID: links[i%len(links)].ID, Time: time.Now()}
		if i%3 == 0 {
			c.UserID = user
		}
		clicks[i] = c
		want[c.URLID]++
	}
	return clicks, want
}

// wantCounts checks the click count of every link of want.
func wantCounts(t *testing.T, s *Store, want map[uint64]uint64) {
	t.Helper()
	for id, n := range want {
		u, err := s.GetURL(id)
		if err != nil {
			t.Fatal(err)
		}
		if u.ClickCount != n {
			t.Errorf("url %d: click count %d, want %d", id, u.ClickCount, n)
		}
	}
}

// TestCutIndexPassSurvivesACrash indexes the first chunk of a cut pass,
// records more clicks, and copies the file in that state, which is what a
// crash between two commits of the pass leaves. Opening the copy must
// index every other click once and no click twice.
func TestCutIndexPassSurvivesACrash(t *testing.T) {
	s := openStore(t, &Options{ClickIndexDelay: time.Hour})
	u := mustUser(t, s, "alice")
	links := make([]URL, 50)
	for i := range links {
		links[i] = mustURL(t, s, URL{})
	}
	clicks, want := clicksOn(links, 300, u.ID)
	recordPending(t, s, clicks)

	var indexed int
	var done bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		indexed, done, err = indexPendingClicks(tx, 64)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if done {
		t.Error("the first chunk reports the pass as done")
	}
	if indexed < 64 || indexed >= 300 {
		t.Fatalf("first chunk indexed %d clicks, want from 64 to fewer than 300", indexed)
	}
	var mark []byte
	s.db.View(func(tx *bolt.Tx) error {
		mark = bytes.Clone(tx.Bucket(bucketMeta).Get(metaClickIndexMark))
		return nil
	})
	if len(mark) != 16 {
		t.Fatalf("mark after the first chunk = %x, want an event id and a URL id", mark)
	}

	// Clicks recorded after the mark, on links below and above it.
	more, wantMore := clicksOn(links, 120, u.ID)
	if err := s.RecordClicks(more); err != nil {
		t.Fatal(err)
	}
	for id, n := range wantMore {
		want[id] += n
	}

	path := backupFile(t, s)
	report, err := Check(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() || report.PendingClicks != 420-indexed {
		t.Fatalf("check of the copy: %v, %d pending clicks; want no problem and %d", report.Problems, report.PendingClicks, 420-indexed)
	}

	b, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, b, want)
	_, total, err := b.ListEvents(EventFilter{UserID: &u.ID}, Page{1, 1})
	if err != nil || total != 140 {
		t.Errorf("events of the user = %d, %v; want 140", total, err)
	}
	checkClean(t, b)

	// The store itself finishes the pass in chunks of one link, each of
	// which must reach past the old mark before it sets a new one.
	for range 1000 {
		var done, marked bool
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			if _, done, err = indexPendingClicks(tx, 1); err != nil {
				return err
			}
			marked = tx.Bucket(bucketMeta).Get(metaClickIndexMark) != nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if marked == done {
			t.Fatalf("chunk done %v with the mark present %v, want a mark exactly while clicks are left", done, marked)
		}
		if done {
			break
		}
	}
	s.pending.Store(0)
	wantCounts(t, s, want)
	checkClean(t, s)
}

// TestTimedIndexPassCountsEveryClick records clicks on more links than
// one chunk of a timed pass covers and waits for the pass.
func TestTimedIndexPassCountsEveryClick(t *testing.T) {
	s := openStore(t, &Options{ClickIndexDelay: 20 * time.Millisecond})
	u := mustUser(t, s, "alice")
	links := make([]URL, 3*clickIndexChunk)
	for i := range links {
		links[i] = URL{ID: uint64(i + 1), ShortCode: fmt.Sprintf("c%d", i), OriginalURL: "https://example.com/", IsActive: true, CreatedAt: now()}
	}
	if err := s.ImportURLs(links); err != nil {
		t.Fatal(err)
	}
	clicks, want := clicksOn(links, 4*clickIndexChunk, u.ID)
	for batch := range slices.Chunk(clicks, 1000) {
		if err := s.RecordClicks(batch); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.PendingClicks() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d clicks still pending after 20 s", s.PendingClicks())
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantCounts(t, s, want)
	checkClean(t, s)
}

func TestChunkEnd(t *testing.T) {
	urls := func(ids ...uint64) []pendingClick {
		clicks := make([]pendingClick, len(ids))
		for i, id := range ids {
			clicks[i] = pendingClick{event: uint64(i + 1), url: id}
		}
		return clicks
	}
	tests := []struct {
		name    string
		clicks  []pendingClick
		limit   int
		markURL uint64
		want    int
	}{
		{name: "at a URL boundary", clicks: urls(1, 2, 3, 4), limit: 2, want: 2},
		{name: "to the end of a URL", clicks: urls(1, 2, 2, 2, 3), limit: 2, want: 4},
		{name: "fewer than the limit", clicks: urls(1, 2), limit: 5, want: 2},
		{name: "up to the old mark", clicks: urls(1, 2, 5, 7, 9), limit: 1, markURL: 7, want: 4},
		{name: "past the old mark", clicks: urls(1, 8, 9), limit: 1, markURL: 7, want: 2},
		{name: "all below the old mark", clicks: urls(1, 2, 3), limit: 1, markURL: 7, want: 3},
	}
	for _, tt := range tests {
		if got := chunkEnd(tt.clicks, tt.limit, tt.markURL); got != tt.want {
			t.Errorf("%s: chunkEnd = %d, want %d", tt.name, got, tt.want)
		}
	}
}
