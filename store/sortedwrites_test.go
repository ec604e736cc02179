package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestSortedWritesReadOwnWrites(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "sorted.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	name := []byte("b")
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		if err := b.Put([]byte("kept"), []byte("1")); err != nil {
			return err
		}
		if err := b.Put([]byte("gone"), []byte("2")); err != nil {
			return err
		}

		sorted := newSortedTx(tx)
		w := sorted.bucket(name)
		if err := w.Put([]byte("zz"), []byte("3")); err != nil {
			return err
		}
		if err := w.Put([]byte("aa"), nil); err != nil {
			return err
		}
		if err := w.Delete([]byte("gone")); err != nil {
			return err
		}
		if err := w.Put(nil, []byte("x")); !errors.Is(err, bolt.ErrKeyRequired) {
			t.Errorf("put of an empty key: got %v, want ErrKeyRequired", err)
		}

		if got := string(w.Get([]byte("kept"))); got != "1" {
			t.Errorf("unbuffered key: got %q, want 1", got)
		}
		if got := string(w.Get([]byte("zz"))); got != "3" {
			t.Errorf("buffered put: got %q, want 3", got)
		}
		if got := w.Get([]byte("aa")); got == nil {
			t.Error("buffered put of an empty value reads as missing")
		}
		if got := w.Get([]byte("gone")); got != nil {
			t.Errorf("buffered delete: got %q, want nil", got)
		}
		if got := b.Get([]byte("zz")); got != nil {
			t.Errorf("bucket has %q before apply", got)
		}

		return sorted.apply()
	})
	if err != nil {
		t.Fatal(err)
	}

	err = db.View(func(tx *bolt.Tx) error {
		var keys []string
		err := tx.Bucket(name).ForEach(func(k, _ []byte) error {
			keys = append(keys, string(k))
			return nil
		})
		if got := fmt.Sprint(keys); got != "[aa kept zz]" {
			t.Errorf("keys after apply: %s, want [aa kept zz]", got)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestImportSeesEarlierRows checks that the rows of one import file see
// the rows before them, although the writes are applied only at the end.
func TestImportSeesEarlierRows(t *testing.T) {
	s := openStore(t, nil)
	urls := []URL{
		{ID: 1, ShortCode: "first", OriginalURL: "https://a.example/", IsActive: true},
		{ID: 1, ShortCode: "second", OriginalURL: "https://a.example/", IsActive: true},
		{ID: 2, ShortCode: "first", OriginalURL: "https://b.example/", IsActive: true},
	}
	err := s.ImportURLs(urls)
	var ie *ImportError
	if !errors.As(err, &ie) || ie.ID != 2 || !errors.Is(err, ErrConflict) {
		t.Fatalf("reuse of a code the file moved away from: got %v, want ImportError for id 2 wrapping ErrConflict", err)
	}
	if _, err := s.GetURL(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("rows before the conflict were written: %v", err)
	}

	if err := s.ImportURLs(urls[:2]); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetURLByCode("second")
	if err != nil || u.ID != 1 {
		t.Errorf("code of the last row: got %+v, %v", u, err)
	}
	if _, err := s.GetURLByCode("first"); !errors.Is(err, ErrNotFound) {
		t.Errorf("code the file moved away from still resolves: %v", err)
	}
	if _, err := s.CreateURL(URL{ShortCode: "first", OriginalURL: "https://c.example/", IsActive: true}); !errors.Is(err, ErrConflict) {
		t.Errorf("create with the old code: got %v, want ErrConflict", err)
	}
	counts, err := s.Counts()
	if err != nil || counts.URLs != 1 {
		t.Errorf("url count: got %+v, %v; want 1", counts, err)
	}
}

// TestImportFillsPages imports links in one transaction and checks that
// the leaf pages of the code index and of the records are nearly full,
// where bbolt's default split would leave them half empty.
func TestImportFillsPages(t *testing.T) {
	s := openStore(t, nil)
	urls := make([]URL, 20_000)
	for i := range urls {
		urls[i] = URL{ID: uint64(i + 1), ShortCode: fmt.Sprintf("f%d", i+1), OriginalURL: fmt.Sprintf("https://example.com/%d", i), IsActive: true, CreatedAt: now()}
	}
	if err := s.ImportURLs(urls); err != nil {
		t.Fatal(err)
	}
	err := s.view(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketURLCodes, bucketURLs} {
			st := tx.Bucket(name).Stats()
			if used := float64(st.LeafInuse) / float64(st.LeafAlloc); used < 0.9 {
				t.Errorf("%s: %d of %d bytes of its leaf pages in use (%.2f), want at least 0.9", name, st.LeafInuse, st.LeafAlloc, used)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
