//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package tempfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	testPrefix = ".out.db-"
	testSuffix = ".tmp"
)

// create calls Create in dir and fails the test on an error.
func create(t *testing.T, dir string, shared bool) *os.File {
	t.Helper()
	f, err := Create(dir, testPrefix, testSuffix, shared)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return f
}

func TestCreateNamesAndLocks(t *testing.T) {
	for _, shared := range []bool{false, true} {
		dir := t.TempDir()
		f := create(t, dir, shared)
		name := filepath.Base(f.Name())
		if !IsName(name, testPrefix, testSuffix) {
			t.Errorf("shared=%v: name %q does not have the form of a temporary file", shared, name)
		}
		stale, err := Stale(dir, testPrefix, testSuffix)
		if err != nil {
			t.Fatal(err)
		}
		if len(stale) != 0 {
			t.Errorf("shared=%v: Stale = %v while the file is open, want none", shared, stale)
		}
		removed, err := RemoveStale(dir, testPrefix, testSuffix)
		if err != nil {
			t.Fatal(err)
		}
		if len(removed) != 0 {
			t.Errorf("shared=%v: RemoveStale removed %v while the file is open", shared, removed)
		}
		if _, err := os.Stat(f.Name()); err != nil {
			t.Errorf("shared=%v: the open file is gone: %v", shared, err)
		}
		f.Close()
	}
}

func TestSharedLockAllowsReaders(t *testing.T) {
	f := create(t, t.TempDir(), true)
	defer f.Close()
	r, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	locked, err := tryLock(r, true)
	if err != nil || !locked {
		t.Errorf("shared lock of a second reader: locked %v, error %v; want it granted", locked, err)
	}
}

// createClosed creates a file with Create, writes content to it and
// closes it, as a process that ended would leave it.
func createClosed(t *testing.T, dir, content string) string {
	t.Helper()
	f := create(t, dir, false)
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func TestRemoveStaleAfterClose(t *testing.T) {
	dir := t.TempDir()
	closed := createClosed(t, dir, "written")
	oldEmpty := createClosed(t, dir, "")
	old := time.Now().Add(-2 * newEmptyAge)
	if err := os.Chtimes(oldEmpty, old, old); err != nil {
		t.Fatal(err)
	}
	open := create(t, dir, false)
	defer open.Close()
	if _, err := open.WriteString("written"); err != nil {
		t.Fatal(err)
	}
	// An empty file without a lock may be one that Create is about to
	// lock, until it is older than newEmptyAge.
	newEmpty := createClosed(t, dir, "")
	want := []string{closed, oldEmpty}
	slices.Sort(want)

	// Files of other names, and a directory of the form, stay.
	others := []string{".out.db-old.tmp", ".out.db-.tmp", "out.db-123.tmp", ".out.db-123.tmp.bak"}
	for _, name := range others {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".out.db-456.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}

	stale, err := Stale(dir, testPrefix, testSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stale, want) {
		t.Errorf("Stale = %v, want %v", stale, want)
	}
	for _, path := range want {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("Stale removed %s: %v", path, err)
		}
	}

	removed, err := RemoveStale(dir, testPrefix, testSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, want) {
		t.Errorf("RemoveStale = %v, want %v", removed, want)
	}
	for _, path := range want {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s still exists after RemoveStale (stat error %v)", path, err)
		}
	}
	for _, name := range append(others, ".out.db-456.tmp", filepath.Base(open.Name()), filepath.Base(newEmpty)) {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
}

func TestIsName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{".out.db-1.tmp", true},
		{".out.db-4294967295.tmp", true},
		{".out.db-.tmp", false},
		{".out.db-12a.tmp", false},
		{".out.db-12.tmp.tmp", false},
		{"out.db-12.tmp", false},
		{".out.db-12", false},
	}
	for _, tt := range tests {
		if got := IsName(tt.name, testPrefix, testSuffix); got != tt.want {
			t.Errorf("IsName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCreateDuringRemoveStale creates files while other goroutines remove
// stale ones as fast as they can. Every file that Create returns must
// still be at its name: RemoveStale may only take files that no one holds.
func TestCreateDuringRemoveStale(t *testing.T) {
	dir := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				RemoveStale(dir, testPrefix, testSuffix)
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	for i := range 2000 {
		f, err := Create(dir, testPrefix, testSuffix, i%2 == 0)
		if errors.Is(err, errNameTaken) {
			// The removers took every name drawn, which only a loop as
			// tight as this one achieves.
			continue
		}
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		info, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		named, err := os.Lstat(f.Name())
		if err != nil || !os.SameFile(info, named) {
			t.Fatalf("file %d: %s no longer names the file that Create returned (stat error %v)", i, f.Name(), err)
		}
		// Content makes the file stale once it is closed, so that the
		// removers take it.
		f.WriteString("written")
		f.Close()
	}
}
