// Package integration starts the real processes that integration tests
// need: NGINX and linkbolt servers on 127.0.0.1 ports, each stopped when
// its test ends.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NginxPath is the path of the nginx binary of the Debian package.
const NginxPath = "/usr/sbin/nginx"

// startTimeout bounds the wait for a process to accept connections.
const startTimeout = 15 * time.Second

// Nginx returns the path of the nginx binary. Without it the test is
// skipped, or fails when LINKBOLT_REQUIRE_INTEGRATION=1.
func Nginx(t testing.TB) string {
	t.Helper()
	path := NginxPath
	if _, err := os.Stat(path); err != nil {
		p, lookErr := exec.LookPath("nginx")
		if lookErr != nil {
			Missing(t, "nginx is not installed (apt-get install nginx-light)")
		}
		path = p
	}
	return path
}

// Missing skips the test for a missing tool, or fails it when
// LINKBOLT_REQUIRE_INTEGRATION=1.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("%s, and LINKBOLT_REQUIRE_INTEGRATION=1 requires it", reason)
	}
	t.Skip(reason)
}

// handedOut records the addresses that FreeAddr has returned in this
// process. The kernel may give a port that was just closed to the next
// listener, so two calls in a row could otherwise return the same one.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: make(map[string]bool)}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago
// and that no earlier call in this process returned.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("find a free port: 100 tries gave only ports handed out before")
	return ""
}

// StartNginx runs nginx in the foreground on conf, with its prefix, pid
// file, error log and temporary files in a new directory, and waits until
// addr accepts connections. The process is stopped when the test ends.
// conf must not set daemon or pid, which the command line sets.
func StartNginx(t testing.TB, conf, addr string) {
	t.Helper()
	bin := Nginx(t)
	dir := t.TempDir()

	// Workers run as nobody when the master runs as root; they must be
	// able to write request bodies to the temporary directory.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	global := fmt.Sprintf("daemon off; pid %s;", filepath.Join(dir, "nginx.pid"))
	if os.Geteuid() == 0 {
		global += " user root;"
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", global)
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := waitListening(addr, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("nginx did not start on %s: %v\n%s%s", addr, err, stderr.String(), log)
	}
}

// TestConf checks conf with nginx -t and returns its output.
func TestConf(t testing.TB, conf string) (string, error) {
	t.Helper()
	bin := Nginx(t)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	global := fmt.Sprintf("pid %s;", filepath.Join(dir, "nginx.pid"))
	cmd := exec.Command(bin, "-t", "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", global)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitListening polls addr until it accepts a connection, the process
// exits or startTimeout passes.
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("the process exited")
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s", startTimeout)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Linkbolt builds the linkbolt binary once per test binary and returns its
// path. The build goes to a directory that Cleanup removes.
func Linkbolt(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "linkbolt-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "linkbolt")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/linkbolt/linkbolt")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Cleanup removes the binary that Linkbolt built. Call it from TestMain
// after the tests ran.
func Cleanup() {
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
}

// Process is a linkbolt server started by StartLinkbolt.
type Process struct {
	Addr string
	DB   string
	Args []string

	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// StartLinkbolt runs "linkbolt serve" on addr with the database file db and
// extra arguments, waits until it accepts connections and stops it with
// SIGTERM when the test ends.
func StartLinkbolt(t testing.TB, addr, db string, extra ...string) *Process {
	t.Helper()
	p := &Process{Addr: addr, DB: db, Args: extra, t: t}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start starts the process again after Stop or Kill.
func (p *Process) Start() {
	p.t.Helper()
	args := append([]string{"serve", "--addr", p.Addr, "--db", p.DB, "--log-level", "warn"}, p.Args...)
	p.log = &bytes.Buffer{}
	p.cmd = exec.Command(Linkbolt(p.t), args...)
	p.cmd.Stderr = p.log
	p.cmd.Stdout = p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start linkbolt: %v", err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(p.cmd, p.exited)
	if err := waitReady(p.Addr, p.exited); err != nil {
		p.t.Fatalf("linkbolt on %s did not start: %v\n%s", p.Addr, err, p.log)
	}
}

// Stop sends SIGTERM and waits for the process to exit.
func (p *Process) Stop() {
	p.signal(syscall.SIGTERM)
}

// Kill ends the process with SIGKILL.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL)
}

func (p *Process) signal(sig os.Signal) {
	if p.cmd == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// Log returns what the process wrote to stdout and stderr.
func (p *Process) Log() string {
	return p.log.String()
}

// waitReady polls /health until it responds, the process exits or
// startTimeout passes.
func waitReady(addr string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("the process exited")
		default:
		}
		resp, err := client.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s", startTimeout)
}

// Run runs the linkbolt binary with args and returns its combined output
// and exit code.
func Run(t testing.TB, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Linkbolt(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return string(out), exit.ExitCode()
		}
		t.Fatalf("run linkbolt %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}
