package main

// Disk-full tests of the real binary: bbolt's MaxSize through the hidden
// --max-db-size flag, and a real ENOSPC from a small tmpfs that is mounted
// only in the server's mount namespace.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrapeMetric returns the value of the series named exactly name, with
// its labels, from the server's /metrics.
func scrapeMetric(t *testing.T, p *serverProcess, name string) float64 {
	t.Helper()
	res := p.get(t, "/metrics")
	expectStatus(t, "GET /metrics", res, http.StatusOK)
	sc := bufio.NewScanner(bytes.NewReader(res.body))
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %q is not a number", name, value)
			}
			return v
		}
	}
	t.Fatalf("metric %s is missing from /metrics", name)
	return 0
}

// createLink creates a link to target and fails the test unless it is
// acknowledged.
func createLink(t *testing.T, p *serverProcess, target string) apiURL {
	t.Helper()
	res := p.sendJSON(t, http.MethodPost, "/urls", map[string]any{"original_url": target})
	expectStatus(t, "POST /urls", res, http.StatusCreated)
	var u apiURL
	decode(t, "POST /urls", res, &u)
	return u
}

// fillUntil503 creates links with long URLs until the server responds with
// 503, and returns that response and the links it acknowledged before.
func fillUntil503(t *testing.T, p *serverProcess, maxWrites int) (response, []apiURL) {
	t.Helper()
	pad := strings.Repeat("a", 7000)
	var acked []apiURL
	for i := range maxWrites {
		target := fmt.Sprintf("https://example.com/fill/%d/%s", i, pad)
		res := p.sendJSON(t, http.MethodPost, "/urls", map[string]any{"original_url": target})
		switch res.status {
		case http.StatusCreated:
			var u apiURL
			decode(t, "POST /urls", res, &u)
			acked = append(acked, u)
		case http.StatusServiceUnavailable:
			return res, acked
		default:
			t.Fatalf("POST /urls while filling: status %d, body %s", res.status, res.body)
		}
	}
	t.Fatalf("%d creates succeeded; the server never ran out of space", maxWrites)
	return response{}, nil
}

// expectFullDisk checks the responses of a server whose disk is full: a JSON
// 503 with Retry-After for writes, 503 from /ready, 200 from /health.
func expectFullDisk(t *testing.T, p *serverProcess, res response, retryAfter string) {
	t.Helper()
	expectStatus(t, "POST /urls on a full disk", res, http.StatusServiceUnavailable)
	expectJSONError(t, "POST /urls on a full disk", res)
	if !strings.Contains(string(res.body), "disk is full") {
		t.Errorf("POST /urls on a full disk: body %s does not say that the disk is full", res.body)
	}
	if got := res.header.Get("Retry-After"); got != retryAfter {
		t.Errorf("POST /urls on a full disk: Retry-After %q, want %q", got, retryAfter)
	}
	ready := p.get(t, "/ready")
	expectStatus(t, "GET /ready", ready, http.StatusServiceUnavailable)
	if !strings.Contains(string(ready.body), "disk is full") {
		t.Errorf("GET /ready: body %s does not say that the disk is full", ready.body)
	}
	expectStatus(t, "GET /health", p.get(t, "/health"), http.StatusOK)
	if got := scrapeMetric(t, p, "linkbolt_store_writable"); got != 0 {
		t.Errorf("linkbolt_store_writable = %v, want 0", got)
	}
	if got := scrapeMetric(t, p, "linkbolt_store_commit_errors_total"); got < 1 {
		t.Errorf("linkbolt_store_commit_errors_total = %v, want at least 1", got)
	}
}

// expectRedirect fails the test unless the code redirects to target.
func expectRedirect(t *testing.T, p *serverProcess, code, target string) {
	t.Helper()
	res := p.get(t, "/"+code)
	if loc := res.header.Get("Location"); res.status != http.StatusFound || loc != target {
		t.Errorf("GET /%s: status %d Location %q, want 302 %q", code, res.status, loc, target)
	}
}

func TestMaxDBSizeServesRedirects(t *testing.T) {
	db := filepath.Join(t.TempDir(), "capped.db")
	p := startServer(t, db, "--max-db-size", "1048576", "--space-probe-interval", "1s")

	cached := createLink(t, p, "https://example.com/cached")
	expectRedirect(t, p, cached.ShortCode, cached.OriginalURL)
	stored := createLink(t, p, "https://example.com/stored")

	res, acked := fillUntil503(t, p, 500)
	acked = append(acked, cached, stored)
	expectFullDisk(t, p, res, "1")
	if findLog(p.logLines(), "store stopped writes: the disk is full; probing for space") == nil {
		t.Error("the log does not report that writes stopped")
	}

	// The stored link is read from the file: a cache miss.
	misses := scrapeMetric(t, p, `linkbolt_redirects_total{outcome="miss"}`)
	expectRedirect(t, p, cached.ShortCode, cached.OriginalURL)
	expectRedirect(t, p, stored.ShortCode, stored.OriginalURL)
	if got := scrapeMetric(t, p, `linkbolt_redirects_total{outcome="miss"}`); got != misses+1 {
		t.Errorf("redirect misses = %v, want %v", got, misses+1)
	}

	// The cap stays, so only a restart without it brings writes back.
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0; log:\n%s", code, p.log())
	}
	if res := runLinkbolt(t, commandTimeout, "check", "--db", db); res.code != 0 {
		t.Errorf("linkbolt check: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	p = startServer(t, db)
	expectStatus(t, "GET /ready", p.get(t, "/ready"), http.StatusOK)
	createLink(t, p, "https://example.com/after-restart")
	for _, u := range acked {
		expectRedirect(t, p, u.ShortCode, u.OriginalURL)
	}
}

// requireMountNamespace skips the test, or fails it when
// LINKBOLT_REQUIRE_INTEGRATION=1, unless unshare can create a user and
// mount namespace.
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

// startOnTmpfs runs linkbolt serve on a database in a tmpfs of the size,
// mounted on dir in a mount namespace of the server's own. It returns the
// server and the path of dir as the test process reaches it.
func startOnTmpfs(t *testing.T, size string, extra ...string) (*serverProcess, string) {
	t.Helper()
	dir := t.TempDir()
	// sh gets the size, the directory and the binary as $1 to $3, then the
	// extra flags of serve.
	script := `mount -t tmpfs -o size="$1" linkbolt-test "$2" && bin="$3" && db="$2/linkbolt.db" && shift 3 && ` +
		`exec "$bin" serve --addr 127.0.0.1:0 --db "$db" "$@"`
	args := []string{"--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", size, dir, linkboltBinary(t)}
	args = append(args, extra...)
	cmd := exec.Command("unshare", args...)
	p := startCommand(t, cmd, filepath.Join(dir, "linkbolt.db"))
	return p, fmt.Sprintf("/proc/%d/root%s", p.cmd.Process.Pid, dir)
}

// fillFileSystem writes a file in dir until the file system is full.
func fillFileSystem(t *testing.T, dir string) string {
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

func TestFullDiskRecoversLive(t *testing.T) {
	requireMountNamespace(t)
	p, dir := startOnTmpfs(t, "4m", "--space-probe-interval", "200ms")

	var acked []apiURL
	for i := range 5 {
		acked = append(acked, createLink(t, p, fmt.Sprintf("https://example.com/before/%d", i)))
	}
	clicked := acked[0]

	filler := fillFileSystem(t, dir)
	res, more := fillUntil503(t, p, 1000)
	acked = append(acked, more...)
	expectFullDisk(t, p, res, "1")

	// Redirects work, and their clicks wait in memory for the disk: the
	// first in the batch that the recorder holds, the others, each sent
	// after the default flush interval of 10 ms, in its queue.
	const clicks = 10
	for range clicks {
		expectRedirect(t, p, clicked.ShortCode, clicked.OriginalURL)
		time.Sleep(30 * time.Millisecond)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for p.get(t, "/ready").status != http.StatusOK {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("/ready still fails 5s after the space was freed; log:\n%s", p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("/ready answered 200 %v after the space was freed", time.Since(start))
	if findLog(p.logLines(), "store accepts writes again") == nil {
		t.Error("the log does not report that writes resumed")
	}

	// A read of the clicks right away, maybe before the recorder retries
	// its held batch, must find the queued clicks as well.
	path := fmt.Sprintf("/events?url_id=%d&event_type=click&per_page=1", clicked.ID)
	res = p.get(t, path)
	expectStatus(t, "GET "+path, res, http.StatusOK)
	if n := totalCount(t, path, res); n != clicks {
		t.Errorf("%d click events after the disk had space again, want the %d held clicks", n, clicks)
	}
	acked = append(acked, createLink(t, p, "https://example.com/after"))
	if got := scrapeMetric(t, p, "linkbolt_clicks_dropped_total"); got != 0 {
		t.Errorf("linkbolt_clicks_dropped_total = %v, want 0", got)
	}
	for _, u := range acked {
		expectRedirect(t, p, u.ShortCode, u.OriginalURL)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// startCommand runs cmd, a linkbolt serve command line that may be
// wrapped in other commands, and returns once the startup log line names
// the address. The process is killed when the test ends.
func startCommand(t *testing.T, cmd *exec.Cmd, db string) *serverProcess {
	t.Helper()
	cmd.Env = childEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, db: db, done: make(chan struct{})}
	cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.raw}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	addrs := make(chan string, 1)
	go p.readLog(stderr, addrs)
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", strings.Join(cmd.Args, " "), p.log())
		}
	})
	select {
	case addr := <-addrs:
		p.base = "http://" + addr
	case <-p.done:
		t.Fatalf("%s exited before it started (%v); log:\n%s", cmd.Path, p.waitErr, p.log())
	case <-time.After(startTimeout):
		t.Fatalf("%s did not log its start within %v; log:\n%s", cmd.Path, startTimeout, p.log())
	}
	return p
}
