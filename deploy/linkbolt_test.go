package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bounds of the helpers that build and start processes.
const (
	buildTimeout = 5 * time.Minute
	startTimeout = 15 * time.Second
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "linkbolt-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binaryDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool returns the path of an external command, and skips the test
// when it is missing unless LINKBOLT_REQUIRE_INTEGRATION=1.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, name+" is not installed")
	}
	return path
}

// skipOrFail skips the test because of a missing tool, or fails it when
// LINKBOLT_REQUIRE_INTEGRATION=1.
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("%s, and LINKBOLT_REQUIRE_INTEGRATION=1 forbids skipping", reason)
	}
	t.Skip(reason)
}

// linkboltBinary builds linkbolt from the module root once per test run.
func linkboltBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		path := filepath.Join(binaryDir, "linkbolt")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, ".")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		binaryPath = path
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// childEnv returns the test's environment without LINKBOLT_ variables, so
// that only the command line configures a child.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LINKBOLT_")
	})
}

// linkboltProcess is a linkbolt serve process on a free port of 127.0.0.1.
type linkboltProcess struct {
	cmd  *exec.Cmd
	addr string
	base string
	done chan struct{}

	mu  sync.Mutex
	log bytes.Buffer
}

// startLinkbolt starts `linkbolt serve` on a new database file in a
// temporary directory and waits until it listens. prefix, if not empty,
// is a command line that runs linkbolt, such as prlimit with its options.
// The process is killed when the test ends.
func startLinkbolt(t *testing.T, prefix []string, extra ...string) *linkboltProcess {
	t.Helper()
	db := filepath.Join(t.TempDir(), "linkbolt.db")
	args := append([]string{linkboltBinary(t), "serve", "--addr", "127.0.0.1:0", "--db", db}, extra...)
	args = append(slices.Clone(prefix), args...)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = childEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &linkboltProcess{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", strings.Join(args, " "), err)
	}

	addrs := make(chan string, 1)
	go p.readLog(stderr, addrs)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("log of linkbolt serve --db %s:\n%s", db, p.logText())
		}
	})

	select {
	case p.addr = <-addrs:
	case <-p.done:
		t.Fatalf("linkbolt serve exited before it listened: %v\n%s", cmd.ProcessState, p.logText())
	case <-time.After(startTimeout):
		t.Fatalf("linkbolt serve did not log its address within %v\n%s", startTimeout, p.logText())
	}
	p.base = "http://" + p.addr
	return p
}

// readLog copies the JSON log lines to p.log and sends the address of the
// "linkbolt started" line to addrs. It closes p.done when the process has
// exited.
func (p *linkboltProcess) readLog(r io.Reader, addrs chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		p.mu.Lock()
		p.log.Write(line)
		p.log.WriteByte('\n')
		p.mu.Unlock()

		var entry struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &entry) == nil && entry.Msg == "linkbolt started" {
			addrs <- entry.Addr
		}
	}
	p.cmd.Wait()
	close(p.done)
}

func (p *linkboltProcess) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// kill sends SIGKILL and waits for the process to exit.
func (p *linkboltProcess) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// request sends one request with an optional JSON body and returns the
// status, failing the test on a transport error.
func (p *linkboltProcess) request(t *testing.T, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := noRedirectClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// noRedirectClient returns redirects to the caller instead of following
// them, so that a short link's target is never requested.
var noRedirectClient = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// freePort returns a port of 127.0.0.1 that was free a moment ago, for
// programs that cannot report the port they picked. Another process may
// take it before the caller binds it; the test then fails at startup.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
