package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// commitCounter counts the commits and state changes that a store reports
// through its hooks.
type commitCounter struct {
	commits atomic.Int64
	failed  atomic.Int64

	mu     sync.Mutex
	states []error
}

func watchCommits(s *Store) *commitCounter {
	c := &commitCounter{}
	s.SetCommitHook(func(_ time.Duration, err error) {
		c.commits.Add(1)
		if err != nil {
			c.failed.Add(1)
		}
	})
	s.SetStateHook(func(err error) {
		c.mu.Lock()
		c.states = append(c.states, err)
		c.mu.Unlock()
	})
	return c
}

func (c *commitCounter) stateChanges() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.states...)
}

// fillUntilError creates links with a long URL until a write fails, and
// returns the links that were acknowledged and the error.
func fillUntilError(t *testing.T, s *Store, maxWrites int) ([]URL, error) {
	t.Helper()
	pad := strings.Repeat("a", 16<<10)
	var acked []URL
	for i := range maxWrites {
		u, err := s.CreateURL(URL{OriginalURL: fmt.Sprintf("https://example.com/%d/%s", i, pad), IsActive: true})
		if err != nil {
			return acked, err
		}
		acked = append(acked, u)
	}
	t.Fatalf("%d writes succeeded; the file never ran out of space", maxWrites)
	return nil, nil
}

// checkAcked fails the test unless every acknowledged link reads back with
// its code and URL.
func checkAcked(t *testing.T, s *Store, acked []URL) {
	t.Helper()
	for _, want := range acked {
		got, err := s.GetURLByCode(want.ShortCode)
		if err != nil {
			t.Errorf("read %s: %v", want.ShortCode, err)
			continue
		}
		if got.ID != want.ID || got.OriginalURL != want.OriginalURL {
			t.Errorf("read %s: id %d, want %d; URL differs: %t", want.ShortCode, got.ID, want.ID, got.OriginalURL != want.OriginalURL)
		}
	}
}

func TestNoSpaceAtMaxSize(t *testing.T) {
	const probeEvery = 100 * time.Millisecond
	path := filepath.Join(t.TempDir(), "full.db")
	s, err := Open(path, &Options{MaxSize: 1 << 20, SpaceProbeInterval: probeEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counter := watchCommits(s)

	acked, err := fillUntilError(t, s, 200)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("write past MaxSize: got %v, want ErrNoSpace", err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("write past MaxSize: got %v, want it to wrap ErrUnavailable", err)
	}
	if !errors.Is(s.Err(), ErrNoSpace) {
		t.Errorf("Err() = %v, want ErrNoSpace", s.Err())
	}
	if states := counter.stateChanges(); len(states) != 1 || !errors.Is(states[0], ErrNoSpace) {
		t.Errorf("state hook calls = %v, want one with ErrNoSpace", states)
	}

	// Rejected writes do not reach the disk: over a few probe intervals of
	// writes in a tight loop, at most one probe per interval fails. A probe
	// may find 64 KiB among the free pages of the file, and then writes
	// resume until the next one fails.
	start := time.Now()
	failedBefore := counter.failed.Load()
	rejected, accepted := 0, 0
	for time.Since(start) < 5*probeEvery {
		_, err := s.CreateUser(User{Username: fmt.Sprintf("u%d", rejected+accepted), Email: fmt.Sprintf("u%d@example.com", rejected+accepted)})
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, ErrNoSpace):
			rejected++
		default:
			t.Fatalf("write while full: got %v, want ErrNoSpace or success", err)
		}
	}
	elapsed := time.Since(start)
	failed := counter.failed.Load() - failedBefore
	maxFailed := int64(elapsed/probeEvery) + 1 + int64(accepted)
	if failed > maxFailed {
		t.Errorf("%d failed commits during %d rejected writes in %v; want at most %d", failed, rejected, elapsed, maxFailed)
	}
	if failed == 0 && accepted == 0 {
		t.Errorf("no probe commit in %v with a probe interval of %v", elapsed, probeEvery)
	}
	if accepted > 0 && !slices.Contains(counter.stateChanges(), nil) {
		t.Errorf("%d writes succeeded while the store reported no recovery", accepted)
	}
	t.Logf("%d writes rejected and %d accepted, %d failed commits in %v", rejected, accepted, failed, elapsed)

	// Reads keep working against the open file.
	checkAcked(t, s, acked)

	// Reopening without the cap is the recovery from a full MaxSize.
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s2 := reopen(t, path, nil)
	checkAcked(t, s2, acked)
	if _, err := s2.CreateUser(User{Username: "after", Email: "after@example.com"}); err != nil {
		t.Errorf("write after reopening without MaxSize: %v", err)
	}
}

func reopen(t *testing.T, path string, opts *Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestIsNoSpace(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"MaxSize", berrors.ErrMaxSizeReached, true},
		{"write ENOSPC", &fs.PathError{Op: "write", Path: "x.db", Err: syscall.ENOSPC}, true},
		{"write EDQUOT", &fs.PathError{Op: "write", Path: "x.db", Err: syscall.EDQUOT}, true},
		{"wrapped write ENOSPC", fmt.Errorf("commit: %w", &fs.PathError{Op: "write", Path: "x.db", Err: syscall.ENOSPC}), true},
		{"fdatasync ENOSPC", syscall.ENOSPC, false},
		{"sync ENOSPC", &fs.PathError{Op: "sync", Path: "x.db", Err: syscall.ENOSPC}, false},
		{"write EIO", &fs.PathError{Op: "write", Path: "x.db", Err: syscall.EIO}, false},
		{"write EFBIG", &fs.PathError{Op: "write", Path: "x.db", Err: syscall.EFBIG}, false},
		{"resize as text", errors.New("file resize error: no space left on device"), false},
		{"closed", berrors.ErrDatabaseNotOpen, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isNoSpace(tt.err); got != tt.want {
				t.Errorf("isNoSpace(%v) = %t, want %t", tt.err, got, tt.want)
			}
		})
	}
}
