package main

// End-to-end tests of how commands stop on SIGINT, SIGTERM and SIGKILL:
// each runs the real binary, sends it a real signal at a known point of
// its work, and checks the exit code, the message and the files left.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// pollInterval is the pause between two looks at a file or a process
// while a test waits for a command to reach the point where it is
// signalled.
const pollInterval = time.Millisecond

// commandProcess is a linkbolt command that runs in the background, so
// that a test can signal it.
type commandProcess struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{} // closed once the process exited
}

// startCommandProcess starts the binary with args. The process is killed
// when the test ends, if it still runs.
func startCommandProcess(t *testing.T, args ...string) *commandProcess {
	t.Helper()
	c := &commandProcess{done: make(chan struct{})}
	c.cmd = exec.Command(linkboltBinary(t), args...)
	c.cmd.Env = childEnv()
	c.cmd.Stdout = &c.stdout
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting linkbolt %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// signal sends sig to the process.
func (c *commandProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v: %v", sig, err)
	}
}

// exited reports whether the process has exited.
func (c *commandProcess) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait returns the exit code once the process exited, -1 when a signal
// ended it. Its output may be read afterwards.
func (c *commandProcess) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		t.Fatalf("linkbolt %s did not exit within %v; stderr:\n%s", strings.Join(c.cmd.Args[1:], " "), stopTimeout, c.stderr.String())
	}
	return c.cmd.ProcessState.ExitCode()
}

// waitFor polls cond until it returns true and fails the test when the
// process exits first or startTimeout passes.
func (c *commandProcess) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !cond() {
		if c.exited() {
			t.Fatalf("linkbolt exited before %s; stdout:\n%s\nstderr:\n%s", what, c.stdout.String(), c.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, startTimeout)
		}
		time.Sleep(pollInterval)
	}
}

// buildLinksDB writes a database file with n links of long URLs, about
// 300 bytes of file per link.
func buildLinksDB(t *testing.T, path string, n int) {
	t.Helper()
	st, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	urls := make([]store.URL, n)
	for i := range urls {
		id := uint64(i + 1)
		urls[i] = store.URL{
			ID:          id,
			ShortCode:   fmt.Sprintf("code%06d", id),
			OriginalURL: fmt.Sprintf("https://example.com/%d/%s", id, strings.Repeat("p", 150)),
			IsActive:    true,
			CreatedAt:   created,
			UpdatedAt:   created,
		}
	}
	if err := st.ImportURLs(urls); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// filesIn returns the names of the entries of dir.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// tempFile returns the path and size of the first entry of dir whose name
// starts with prefix, or "" when there is none.
func tempFile(dir, prefix string) (string, int64) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if info, err := e.Info(); err == nil {
				return filepath.Join(dir, e.Name()), info.Size()
			}
		}
	}
	return "", 0
}

// fileDigest returns the SHA-256 digest of the file at path.
func fileDigest(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// holdingProxy starts a proxy on 127.0.0.1 in front of the server at
// upstream. The first request with method and path is held until its
// client goes away. With prefix above 0 the client first gets the status,
// the headers and the first prefix bytes of the server's response. With
// prefix 0 the request never reaches the server. Every other request
// passes through. The returned channel is closed once the hold begins.
func holdingProxy(t *testing.T, upstream, method, path string, prefix int64) (string, <-chan struct{}) {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	pass := httputil.NewSingleHostReverseProxy(target)
	arrived := make(chan struct{})
	var holdStarted atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method || r.URL.Path != path || !holdStarted.CompareAndSwap(false, true) {
			pass.ServeHTTP(w, r)
			return
		}
		if prefix == 0 {
			io.Copy(io.Discard, r.Body)
			close(arrived)
			<-r.Context().Done()
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), method, upstream+path, nil)
		if err != nil {
			panic(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for name, values := range resp.Header {
			w.Header()[name] = values
		}
		w.WriteHeader(resp.StatusCode)
		io.CopyN(w, resp.Body, prefix)
		http.NewResponseController(w).Flush()
		close(arrived)
		<-r.Context().Done()
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL, arrived
}

// waitArrived waits until the hold of a holdingProxy begins.
func waitArrived(t *testing.T, c *commandProcess, arrived <-chan struct{}) {
	t.Helper()
	select {
	case <-arrived:
	case <-c.done:
		t.Fatalf("linkbolt exited before its request was held; stderr:\n%s", c.stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("no request held within %v", startTimeout)
	}
}

// signalNames are the signals that the tests send, with their exit codes.
var signalNames = []struct {
	sig  os.Signal
	name string
	code int
}{
	{os.Interrupt, "SIGINT", 130},
	{syscall.SIGTERM, "SIGTERM", 143},
}

// TestBackupStopsOnSignal interrupts a backup from a real server while
// the temporary file holds the first MiB of the copy.
func TestBackupStopsOnSignal(t *testing.T) {
	db := filepath.Join(t.TempDir(), "source.db")
	buildLinksDB(t, db, 20000)
	info, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = 1 << 20
	if info.Size() <= 2*prefix {
		t.Fatalf("source file has %d bytes, want well above the %d bytes passed before the hold", info.Size(), prefix)
	}
	p := startServer(t, db)

	for _, s := range signalNames {
		t.Run(s.name, func(t *testing.T) {
			proxy, arrived := holdingProxy(t, p.base, http.MethodGet, "/admin/backup", prefix)
			dir := t.TempDir()
			out := filepath.Join(dir, "out.db")
			c := startCommandProcess(t, "backup", "--server", proxy, "--out", out)
			waitArrived(t, c, arrived)
			c.waitFor(t, "partial backup file", func() bool {
				_, size := tempFile(dir, ".out.db-")
				return size >= prefix
			})

			c.signal(t, s.sig)
			if code := c.wait(t); code != s.code {
				t.Errorf("exit code %d, want %d", code, s.code)
			}
			want := "linkbolt: interrupted by " + s.name + "; the partial download was removed and " + out + " was not written\n"
			if got := c.stderr.String(); got != want {
				t.Errorf("stderr = %q, want %q", got, want)
			}
			if names := filesIn(t, dir); len(names) != 0 {
				t.Errorf("%s holds %v after the signal, want nothing", dir, names)
			}
		})
	}
}

// TestCommandsStopOnSignal interrupts commands while the server holds one
// of their requests.
func TestCommandsStopOnSignal(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "commands.db"))
	files := t.TempDir()
	users := filepath.Join(files, "users.csv")
	urls := filepath.Join(files, "urls.csv")
	for path, content := range map[string]string{
		users: "id,username,email,created_at\n1,alice,alice@example.com,2025-01-01 10:00:00\n",
		urls:  "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n1,1,abc123,https://example.com/one,One,True,2025-01-03 10:00:00,2025-01-03 10:00:00\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exportDir := filepath.Join(t.TempDir(), "export")
	mayApply := "; the server may have applied the request, so check before you send it again\n"

	tests := []struct {
		name    string
		args    []string
		method  string
		path    string
		sig     int // index into signalNames
		wantOut string
		wantErr string // {server} stands for the proxy's URL
	}{
		{
			name: "purge", args: []string{"purge", "--inactive"}, method: http.MethodPost, path: "/admin/purge",
			wantErr: "linkbolt: interrupted by SIGINT while waiting for the response to POST {server}/admin/purge" + mayApply,
		},
		{
			name: "import", args: []string{"import", "--users", users, "--urls", urls}, method: http.MethodPost, path: "/urls/bulk",
			sig:     1,
			wantOut: "imported 1 users from " + users + "\n",
			wantErr: "linkbolt: import urls from " + urls + ": interrupted by SIGTERM while waiting for the response to POST {server}/urls/bulk" + mayApply,
		},
		{
			name: "export", args: []string{"export", "--dir", exportDir}, method: http.MethodGet, path: "/events",
			wantErr: "linkbolt: export events: interrupted by SIGINT; no file was written to " + exportDir + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy, arrived := holdingProxy(t, p.base, tt.method, tt.path, 0)
			c := startCommandProcess(t, append(tt.args, "--server", proxy)...)
			waitArrived(t, c, arrived)

			s := signalNames[tt.sig]
			c.signal(t, s.sig)
			if code := c.wait(t); code != s.code {
				t.Errorf("exit code %d, want %d", code, s.code)
			}
			if want := strings.ReplaceAll(tt.wantErr, "{server}", proxy); c.stderr.String() != want {
				t.Errorf("stderr = %q, want %q", c.stderr.String(), want)
			}
			if c.stdout.String() != tt.wantOut {
				t.Errorf("stdout = %q, want %q", c.stdout.String(), tt.wantOut)
			}
		})
	}
	if _, err := os.Stat(exportDir); !os.IsNotExist(err) {
		t.Errorf("export directory %s exists after the signal (stat error %v), want it removed", exportDir, err)
	}
}

// stopDuringCompact starts a compact of db and stops the process with
// SIGSTOP once bbolt has written the first pages of its temporary file,
// and returns the process and the path of the file. The test fails when
// the compact finishes before the file is seen.
func stopDuringCompact(t *testing.T, db string) (*commandProcess, string) {
	t.Helper()
	dir := filepath.Dir(db)
	prefix := "." + filepath.Base(db) + ".compact-"
	c := startCommandProcess(t, "compact", "--db", db)
	c.waitFor(t, "temporary file of the compact", func() bool {
		path, size := tempFile(dir, prefix)
		return path != "" && size > 0
	})
	c.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { c.cmd.Process.Signal(syscall.SIGCONT) })

	// The compact may have renamed the file between the look and the stop.
	path, _ := tempFile(dir, prefix)
	if path == "" {
		t.Fatalf("the compact finished before it could be stopped; enlarge the database file of the test")
	}
	return c, path
}

func TestCompactStopsOnSignal(t *testing.T) {
	for _, s := range signalNames {
		t.Run(s.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "links.db")
			buildLinksDB(t, db, 20000)
			before := fileDigest(t, db)

			c, tmp := stopDuringCompact(t, db)
			// The stopped compact holds its file, so check does not call
			// it stale.
			res := runLinkbolt(t, commandTimeout, "check", "--db", db)
			if res.code != 0 || strings.Contains(res.stdout, "stale temporary file") {
				t.Errorf("check during the compact: exit code %d, output:\n%s%s", res.code, res.stdout, res.stderr)
			}

			c.signal(t, s.sig)
			c.signal(t, syscall.SIGCONT)
			if code := c.wait(t); code != s.code {
				t.Errorf("exit code %d, want %d", code, s.code)
			}
			want := "linkbolt: compact " + db + ": interrupted by " + s.name + "; the partial copy was removed and " + db + " is unchanged\n"
			if got := c.stderr.String(); got != want {
				t.Errorf("stderr = %q, want %q", got, want)
			}
			if _, err := os.Stat(tmp); !os.IsNotExist(err) {
				t.Errorf("%s exists after the signal (stat error %v)", tmp, err)
			}
			if names := filesIn(t, dir); len(names) != 1 {
				t.Errorf("%s holds %v, want only links.db", dir, names)
			}
			if fileDigest(t, db) != before {
				t.Errorf("%s changed", db)
			}
		})
	}
}

// TestKilledCompactLeavesStaleFile kills a compact with SIGKILL, which
// leaves its temporary file, and checks that check reports the file and
// the next compact removes it.
func TestKilledCompactLeavesStaleFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "links.db")
	buildLinksDB(t, db, 20000)
	before := fileDigest(t, db)

	c, tmp := stopDuringCompact(t, db)
	c.signal(t, syscall.SIGKILL)
	if code := c.wait(t); code != -1 {
		t.Errorf("exit code %d after SIGKILL, want -1 for a process that a signal ended", code)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("SIGKILL left no temporary file: %v", err)
	}
	if fileDigest(t, db) != before {
		t.Errorf("%s changed", db)
	}

	res := runLinkbolt(t, commandTimeout, "check", "--db", db)
	if res.code != 0 {
		t.Errorf("check: exit code %d, want 0; stderr: %s", res.code, res.stderr)
	}
	if want := "stale temporary file: " + tmp + ","; !strings.Contains(res.stdout, want) {
		t.Errorf("check output does not contain %q:\n%s", want, res.stdout)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("check removed %s: %v", tmp, err)
	}

	res = runLinkbolt(t, commandTimeout, "compact", "--db", db)
	if res.code != 0 {
		t.Fatalf("compact: exit code %d; stderr: %s", res.code, res.stderr)
	}
	if want := "removed " + tmp + ", a temporary file that a killed compact left\n"; !strings.HasPrefix(res.stdout, want) {
		t.Errorf("compact output does not start with %q:\n%s", want, res.stdout)
	}
	if names := filesIn(t, dir); len(names) != 1 || names[0] != "links.db" {
		t.Errorf("%s holds %v after the compact, want only links.db", dir, names)
	}
}

// TestCheckStopsOnSignal signals check while it waits for the lock of a
// database file that a server holds. check writes nothing, so it exits at
// once with the message and the code of the signal.
func TestCheckStopsOnSignal(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/PID/fd to see that check has opened the file")
	}
	db := filepath.Join(t.TempDir(), "held.db")
	startServer(t, db)

	for _, s := range signalNames {
		t.Run(s.name, func(t *testing.T) {
			c := startCommandProcess(t, "check", "--db", db)
			fds := fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid)
			c.waitFor(t, "open database file", func() bool {
				entries, _ := os.ReadDir(fds)
				for _, e := range entries {
					if target, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && target == db {
						return true
					}
				}
				return false
			})

			c.signal(t, s.sig)
			if code := c.wait(t); code != s.code {
				t.Errorf("exit code %d, want %d", code, s.code)
			}
			if want := "linkbolt: interrupted by " + s.name + "\n"; c.stderr.String() != want {
				t.Errorf("stderr = %q, want %q", c.stderr.String(), want)
			}
		})
	}
}
