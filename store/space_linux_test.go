package store

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv names the test that a re-executed test binary runs as the
// child half of a fault test.
const childEnv = "LINKBOLT_STORE_FAULT_CHILD"

// childTimeout bounds one child test run.
const childTimeout = 60 * time.Second

// inChild reports whether this process is the child half of test name.
func inChild(name string) bool {
	return os.Getenv(childEnv) == name
}

// runChild runs test name again in a new test binary process, prefixed by
// wrapper (such as unshare), and fails when the child fails.
func runChild(t *testing.T, name string, wrapper ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	args := append(wrapper, os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("child run of %s failed (%v):\n%s", name, err, out)
	}
	t.Logf("child output:\n%s", out)
}

// requireMountNamespace skips the test, or fails it when
// LINKBOLT_REQUIRE_INTEGRATION=1, unless unshare can create a user and
// mount namespace in which the child may mount a tmpfs.
func requireMountNamespace(t *testing.T) {
	t.Helper()
	err := exec.Command("unshare", "--user", "--map-root-user", "--mount", "true").Run()
	if err == nil {
		return
	}
	msg := "a private mount namespace is not available (unshare --user --map-root-user --mount: " + err.Error() + ")"
	if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("linkbolt-test", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4<<10)
	for {
		_, err := f.Write(chunk)
		if errors.Is(err, syscall.ENOSPC) {
			return path
		}
		if err != nil {
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}

// waitWritable waits until Err returns nil.
func waitWritable(t *testing.T, s *Store, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for s.Err() != nil {
		if time.Since(start) > timeout {
			t.Fatalf("store still refuses writes %v after space was freed: %v", timeout, s.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestFullDiskRecovers fills a real tmpfs until a commit fails with
// ENOSPC, frees the space and checks that writes resume without a reopen.
func TestFullDiskRecovers(t *testing.T) {
	if !inChild(t.Name()) {
		requireMountNamespace(t)
		runChild(t, t.Name(), "unshare", "--user", "--map-root-user", "--mount")
		return
	}
	const probeEvery = 200 * time.Millisecond
	dir := mountTmpfs(t, "4m")
	path := filepath.Join(dir, "full.db")
	s, err := Open(path, &Options{SpaceProbeInterval: probeEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counter := watchCommits(s)

	var acked []URL
	for range 5 {
		acked = append(acked, mustURL(t, s, URL{}))
	}

	// The filler leaves no room, so the links fail as soon as the file
	// needs a block that it does not have yet.
	filler := fillDisk(t, dir)
	more, err := fillUntilError(t, s, 1000)
	acked = append(acked, more...)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("write on a full disk: got %v, want ErrNoSpace", err)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("write on a full disk: got %v, want it to wrap ENOSPC", err)
	}
	t.Logf("%d links acknowledged before the disk was full", len(acked))
	checkAcked(t, s, acked)

	// The disk stays full over several probes.
	time.Sleep(3 * probeEvery)
	if !errors.Is(s.Err(), ErrNoSpace) {
		t.Fatalf("Err() = %v while the disk is still full, want ErrNoSpace", s.Err())
	}
	if counter.failed.Load() < 2 {
		t.Errorf("%d failed commits after three probe intervals, want the write and at least one probe", counter.failed.Load())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waited := waitWritable(t, s, 10*probeEvery)
	t.Logf("writes resumed %v after the space was freed", waited)
	if states := counter.stateChanges(); len(states) != 2 || states[1] != nil {
		t.Errorf("state hook calls = %v, want ErrNoSpace then nil", states)
	}
	for range 3 {
		acked = append(acked, mustURL(t, s, URL{}))
	}

	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	report, err := Check(path, nil)
	if err != nil || !report.OK() {
		t.Fatalf("check after recovery: %v, %+v", err, report.Problems)
	}
	s2 := reopen(t, path, nil)
	checkAcked(t, s2, acked)
}

// TestFileSizeLimitStopsWrites makes a commit fail with EFBIG, a write
// error that is not a lack of space, under RLIMIT_FSIZE. Writes stay
// refused after the limit is lifted, until the file is reopened.
func TestFileSizeLimitStopsWrites(t *testing.T) {
	if !inChild(t.Name()) {
		runChild(t, t.Name())
		return
	}
	const probeEvery = 100 * time.Millisecond
	path := filepath.Join(t.TempDir(), "limited.db")
	s, err := Open(path, &Options{SpaceProbeInterval: probeEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counter := watchCommits(s)

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := old
	limit.Cur = uint64(s.Size()) + 256<<10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	acked, err := fillUntilError(t, s, 1000)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write past RLIMIT_FSIZE: got %v, want ErrUnavailable", err)
	}
	if errors.Is(err, ErrNoSpace) {
		t.Fatalf("write past RLIMIT_FSIZE: got %v, want an error other than ErrNoSpace", err)
	}

	// No probe runs, and the lifted limit does not bring writes back.
	failed := counter.failed.Load()
	time.Sleep(5 * probeEvery)
	if n := counter.commits.Load(); counter.failed.Load() != failed || n != int64(len(acked))+1 {
		t.Errorf("%d commits and %d failed after the failure, want %d and %d: no probes", n, counter.failed.Load(), len(acked)+1, failed)
	}
	if _, err := s.CreateUser(User{Username: "late", Email: "late@example.com"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("write after the limit was lifted: got %v, want ErrUnavailable", err)
	}
	checkAcked(t, s, acked)

	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	report, err := Check(path, nil)
	if err != nil || !report.OK() {
		t.Fatalf("check after the failure: %v, %+v", err, report.Problems)
	}
	s2 := reopen(t, path, nil)
	checkAcked(t, s2, acked)
	if _, err := s2.CreateUser(User{Username: "reopened", Email: "reopened@example.com"}); err != nil {
		t.Errorf("write after reopening: %v", err)
	}
}
