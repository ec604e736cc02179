package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// buildPagedStore writes a store whose buckets span many pages: users,
// links, clicks and their indexes.
func buildPagedStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "paged.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var clicks []Click
	for i := range 120 {
		u := mustUser(t, s, fmt.Sprintf("user%03d", i))
		link := mustURL(t, s, URL{UserID: u.ID, ShortCode: fmt.Sprintf("code%03d", i), Title: ptr(strings.Repeat("t", i%40))})
		for range 3 {
			clicks = append(clicks, Click{URLID: link.ID, UserID: u.ID, Time: time.Now(), Referrer: "https://ref.example/"})
		}
	}
	if err := s.RecordClicks(clicks); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// flipByte returns a copy of the file at path with the byte at off
// inverted.
func flipByte(t *testing.T, src []byte, dir string, off int) string {
	t.Helper()
	data := append([]byte(nil), src...)
	data[off] ^= 0xFF
	path := filepath.Join(dir, fmt.Sprintf("flip-%d.db", off))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckAndCompactSurviveDamagedPages inverts the fields of each page
// header and of its first elements. bbolt trusts these sizes and offsets,
// and a read outside its memory map is a fault that ends the process, so
// this test fails by crashing when a damaged page reaches bbolt.
func TestCheckAndCompactSurviveDamagedPages(t *testing.T) {
	src, err := os.ReadFile(buildPagedStore(t))
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	// Page header: count at 10, overflow at 12. First element: its
	// position at 20 and its key size at 24 in a leaf, the key size at 20
	// in a branch.
	offsets := []int{10, 11, 12, 20, 24}
	dir := t.TempDir()
	damaged := 0
	for page := 2; page < len(src)/pageSize; page++ {
		for _, o := range offsets {
			path := flipByte(t, src, dir, page*pageSize+o)
			report, err := Check(path, nil)
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("check of page %d byte %d: %v", page, o, err)
			}
			fileDamage := err != nil
			for _, p := range report.Problems {
				fileDamage = fileDamage || p.Kind == ProblemFile
			}
			if fileDamage {
				damaged++
			}
			// Compact checks bbolt's structures only; damage inside a record
			// is copied as it is.
			if _, err := Compact(context.Background(), path, path+".out", nil); err == nil && fileDamage {
				t.Errorf("page %d byte %d: compact accepted a file whose pages check rejects: %s", page, o, problemList(report))
			}
			os.Remove(path)
			os.Remove(path + ".out")
		}
	}
	if damaged == 0 {
		t.Fatal("no inverted byte was reported as damage")
	}
}

func TestCheckReportsInvalidMetaPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustUser(t, s, "alice")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := Check(path, nil)
	if err != nil || !before.OK() || before.Records.Users != 1 {
		t.Fatalf("check before the damage: %v, %d users, problems %s", err, before.Records.Users, problemList(before))
	}

	// Either meta page may be the invalid one; for the newer one, the
	// file opens at the older commit.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for page := range 2 {
		damaged := append([]byte(nil), data...)
		damaged[page*4096+16] ^= 0xFF // the magic number
		copyPath := filepath.Join(t.TempDir(), "meta.db")
		if err := os.WriteFile(copyPath, damaged, 0o600); err != nil {
			t.Fatal(err)
		}

		want := fmt.Sprintf("meta page %d is invalid because its magic number is wrong", page)
		opened, err := Open(copyPath, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := opened.MetaProblem(); !strings.Contains(got, want) {
			t.Errorf("MetaProblem = %q, want one saying %q", got, want)
		}
		if err := opened.Close(); err != nil {
			t.Fatal(err)
		}

		report, err := Check(copyPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		if report.OK() || !strings.Contains(problemList(report), want) {
			t.Errorf("problems %s, want one saying %q", problemList(report), want)
		}
		if !report.OK() && strings.Contains(problemList(report), "both meta pages") {
			t.Errorf("meta page %d damaged: problems %s, want the other page read", page, problemList(report))
		}
		if _, err := Compact(context.Background(), copyPath, copyPath+".out", nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("compact of a file with meta page %d invalid: %v, want ErrCorrupt", page, err)
		}
	}
}

func TestListMissingRecordIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "listed.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	owner := mustUser(t, s, "owner")
	link := mustURL(t, s, URL{UserID: owner.ID, ShortCode: "listed"})
	ev, err := s.CreateEvent(Event{URLID: link.ID, Type: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	damageFile(t, path, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketEvents).Delete(itob(ev.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketURLs).Delete(itob(link.ID))
	})

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	shared := "shared"
	if _, _, err := s.ListEvents(EventFilter{Type: &shared}, Page{1, 10}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("events listed by an index entry without a record: %v, want ErrCorrupt", err)
	}
	if _, _, err := s.ListURLs(URLFilter{UserID: &owner.ID}, Page{1, 10}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("urls listed by an index entry without a record: %v, want ErrCorrupt", err)
	}
}

func TestOpenRejectsNonDatabaseFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, []byte(strings.Repeat("not a database\n", 300)), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	paged, err := os.ReadFile(buildPagedStore(t))
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short.db")
	if err := os.WriteFile(short, paged[:len(paged)/2], 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		path, want string
	}{
		{dir, "it is a directory, not a database file"},
		{fifo, "it is a named pipe, not a database file"},
		{empty, "the file is empty"},
		{text, "it is not a bbolt database file"},
		{short, "so it was cut short"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			// bbolt waits forever on a FIFO that no one writes, so the
			// calls run in a goroutine and a hang fails the test. serve
			// opens the file for writing, where an empty file is no new
			// database either.
			done := make(chan error, 3)
			go func() {
				s, err := Open(tt.path, nil)
				if err == nil {
					s.Close()
				}
				done <- err
				_, err = Check(tt.path, nil)
				done <- err
				_, err = Compact(context.Background(), tt.path, filepath.Join(t.TempDir(), "out.db"), nil)
				done <- err
			}()

			for _, call := range []string{"Open for writing", "Check", "Compact"} {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), tt.want) {
						t.Errorf("%s: error %v, want one saying %q", call, err, tt.want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%s still waiting after 10 s", call)
				}
			}
		})
	}
}

func TestForeignBboltFileRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("inventory"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if closeErr := db.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	if s, err := Open(path, nil); !errors.Is(err, ErrForeign) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open for writing: %v, want ErrForeign", err)
	} else if !strings.Contains(err.Error(), `"inventory"`) {
		t.Errorf("error %v does not name the file's bucket", err)
	}
	if _, err := Compact(context.Background(), path, "", nil); !errors.Is(err, ErrForeign) {
		t.Errorf("Compact: %v, want ErrForeign", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the foreign file changed")
	}

	// Check opens it read-only and lists linkbolt's missing buckets.
	report, err := Check(path, nil)
	if err != nil || report.OK() {
		t.Errorf("Check: %v, problems %s, want missing buckets", err, problemList(report))
	}
}

func TestCheckListsDamageThatStopsOpen(t *testing.T) {
	data, err := os.ReadFile(buildPagedStore(t))
	if err != nil {
		t.Fatal(err)
	}
	// Every page from page 3 on starts with 64 bytes of garbage, the
	// freelist's header included, so bbolt stops while it opens the file.
	for page := 3; (page+1)*4096 <= len(data); page++ {
		copy(data[page*4096:], bytes.Repeat([]byte{0xAB}, 64))
	}
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, &Options{ReadOnly: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}

	report, err := Check(path, nil)
	if err != nil {
		t.Fatalf("Check: %v, want a report of the damage", err)
	}
	if report.OK() || report.RecordsChecked {
		t.Errorf("report OK %v, records checked %v, want damage and no records read", report.OK(), report.RecordsChecked)
	}
	for _, p := range report.Problems {
		if p.Kind != ProblemFile {
			t.Errorf("problem of kind %s, want only %s: %s", p.Kind, ProblemFile, p)
		}
	}
}

func TestListDamagedDetailsIsCorrupt(t *testing.T) {
	fx := buildCheckFixture(t)
	id := fx.ownedCreated.ID
	damageFile(t, fx.path, func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		record := bytes.Clone(events.Get(itob(id)))
		record[bytes.Index(record, fx.ownedCreated.Details)] = '['
		return events.Put(itob(id), record)
	})

	s, err := Open(fx.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.ListEvents(EventFilter{URLID: &fx.owned.ID}, Page{1, 10})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("list events with damaged details: %v, want ErrCorrupt", err)
	}
	if want := fmt.Sprintf("event %d does not decode: details is not a JSON object", id); !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
	if _, err := s.GetEvent(id); !errors.Is(err, ErrCorrupt) {
		t.Errorf("get the damaged event: %v, want ErrCorrupt", err)
	}
}

func TestLookupCodeOfAnotherLinkIsCorrupt(t *testing.T) {
	fx := buildCheckFixture(t)
	owned := fx.owned
	other := mustURLIn(t, fx.path, owned)
	damageFile(t, fx.path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketURLCodes).Put([]byte(owned.ShortCode), itob(other.ID))
	})

	s, err := Open(fx.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.LookupCode(owned.ShortCode); !errors.Is(err, ErrCorrupt) {
		t.Errorf("LookupCode through a damaged index entry: %v, want ErrCorrupt", err)
	}
	if _, err := s.GetURLByCode(owned.ShortCode); !errors.Is(err, ErrCorrupt) {
		t.Errorf("GetURLByCode through a damaged index entry: %v, want ErrCorrupt", err)
	}
	if u, err := s.LookupCode(other.ShortCode); err != nil || u.ID != other.ID {
		t.Errorf("LookupCode of the other link: %+v, %v", u, err)
	}
}

// mustURLIn adds a link beside u to the closed store file at path and
// returns it.
func mustURLIn(t *testing.T, path string, u URL) URL {
	t.Helper()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return mustURL(t, s, URL{OriginalURL: u.OriginalURL + "other"})
}
