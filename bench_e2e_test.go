package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/internal/integration"
)

// TestBenchSIGINT sends SIGINT to a `linkbolt bench` process during its
// load, and checks that it prints the partial report and exits with 130.
func TestBenchSIGINT(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "bench.db"))
	cmd := exec.Command(linkboltBinary(t), "bench", "--server", p.base, "--links", "5",
		"--rate", "100", "--duration", "20s", "--output", "json")
	cmd.Env = childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting linkbolt bench: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})

	// Seeding sends no redirect, so the first cache lookups show that the
	// load has started.
	deadline := time.Now().Add(startTimeout)
	for scrapeMetric(t, p, "linkbolt_cache_hits_total")+scrapeMetric(t, p, "linkbolt_cache_misses_total") < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("no redirects within %v; bench stderr: %s", startTimeout, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sent := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}

	var err error
	select {
	case err = <-done:
		done <- err
	case <-time.After(10 * time.Second):
		t.Fatalf("bench did not exit within 10s of SIGINT; stderr: %s", stderr.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 130 {
		t.Errorf("bench exited with %v after SIGINT, want exit status 130", err)
	}
	if d := time.Since(sent); d > 5*time.Second {
		t.Errorf("bench took %v to exit after SIGINT", d)
	}
	if want := "linkbolt: the load was interrupted by SIGINT after "; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr %q does not contain %q", stderr.String(), want)
	}

	var rep struct {
		Requests    int  `json:"requests"`
		Interrupted bool `json:"interrupted"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	if !rep.Interrupted {
		t.Errorf("interrupted = false in %s", stdout.String())
	}
	if rep.Requests < 10 || rep.Requests >= 2000 {
		t.Errorf("requests = %d, want those sent before SIGINT, far fewer than 2000", rep.Requests)
	}
}

// TestResidencyScript runs bench/residency.py on a server whose file has a
// freelist of many pages, written when a second import replaced the pages
// of the first, and checks that it names the buckets of the pages.
func TestResidencyScript(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		integration.Missing(t, "python3 is not installed")
	}
	dir := t.TempDir()
	db, urls := filepath.Join(dir, "large.db"), filepath.Join(dir, "urls.csv")
	var csv strings.Builder
	csv.WriteString("id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n")
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&csv, "%d,,c%06d,https://example.com/page/%d,,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n", i, i, i)
	}
	if err := os.WriteFile(urls, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if res := runLinkbolt(t, time.Minute, "import", "--db", db, "--urls", urls); res.code != 0 {
			t.Fatalf("import exited with %d: %s", res.code, res.stderr)
		}
	}

	p := startServer(t, db)
	for _, code := range []string{"c000001", "c010000", "c020000"} {
		expectStatus(t, "GET /"+code, p.get(t, "/"+code), http.StatusFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "bench/residency.py", strconv.Itoa(p.cmd.Process.Pid), db)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("residency.py: %v\n%s", err, out)
	}
	for _, bucket := range []string{"urls ", "urls_by_code ", "(freelist) ", "(meta pages) "} {
		if !bytes.Contains(out, []byte("\n"+bucket)) {
			t.Errorf("output has no line for %q:\n%s", bucket, out)
		}
	}
}
