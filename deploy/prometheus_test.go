package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Settings of the Prometheus integration test. The rule files are copied
// with every for: duration set to shortFor and every range window set to
// shortWindow, so that alerts fire within seconds. The expressions,
// thresholds, labels and annotations stay as they are in deploy/.
const (
	shortFor    = "2s"
	shortWindow = "[10s]"

	// alertTimeout bounds the wait for one alert to fire, and
	// integrationTimeout all the waits of the test together.
	alertTimeout       = 25 * time.Second
	integrationTimeout = 50 * time.Second

	// fileSizeLimit is the RLIMIT_FSIZE of the linkbolt process that
	// simulates a full disk. bbolt cannot grow the file past it, so
	// commits fail once the first pages are used.
	fileSizeLimit = 64 << 10

	// runbookBase is the external label that the runbook URLs start with.
	runbookBase = "https://runbooks.test/linkbolt"
)

var (
	forDuration = regexp.MustCompile(`(?m)^(\s*for:\s*)\S+\s*$`)
	rangeWindow = regexp.MustCompile(`\[\d+[smhdw]\]`)
)

// shortenRules writes copies of the rule files into dir, with shortened
// for: durations and range windows, and returns their paths.
func shortenRules(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	for _, f := range ruleFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := forDuration.ReplaceAllString(string(data), "${1}"+shortFor)
		text = rangeWindow.ReplaceAllString(text, shortWindow)
		path := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// prometheusProcess is a Prometheus server on a free port of 127.0.0.1.
type prometheusProcess struct {
	base string

	// deadline ends every wait of waitFiring.
	deadline time.Time
}

// startPrometheus starts Prometheus with a scrape and evaluation interval
// of one second, the shortened rule files and the targets as job
// linkbolt, and waits until it is ready.
func startPrometheus(t *testing.T, targets []string) *prometheusProcess {
	t.Helper()
	bin := requireTool(t, "prometheus")
	dir := t.TempDir()
	rules := shortenRules(t, dir)

	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
  external_labels:
    runbook_base: %q
rule_files: [%s]
scrape_configs:
  - job_name: linkbolt
    static_configs:
      - targets: [%s]
`, runbookBase, quoteJoin(rules), strings.Join(quoted, ", "))
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	var log lockedBuffer
	cmd.Stdout = &log
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})

	p := &prometheusProcess{base: "http://" + addr, deadline: time.Now().Add(integrationTimeout)}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited before it was ready:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within %v:\n%s", startTimeout, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func quoteJoin(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(quoted, ", ")
}

// firingAlert is one alert of /api/v1/alerts.
type firingAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p *prometheusProcess) alerts(t *testing.T) []firingAlert {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []firingAlert `json:"alerts"`
		} `json:"data"`
	}
	p.getJSON(t, "/api/v1/alerts", &body)
	return body.Data.Alerts
}

// query runs an instant query and returns the number of series, failing
// the test when Prometheus rejects the query.
func (p *prometheusProcess) query(t *testing.T, q string) int {
	t.Helper()
	var body struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	p.getJSON(t, "/api/v1/query?query="+url.QueryEscape(q), &body)
	if body.Status != "success" {
		t.Fatalf("query %s: %s: %s", q, body.ErrorType, body.Error)
	}
	return len(body.Data.Result)
}

func (p *prometheusProcess) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding the response: %v", path, err)
	}
}

// waitFiring polls until the alert fires for instance, and returns it.
// Each poll calls during, if not nil, so that the caller can keep a load
// going while it waits.
func (p *prometheusProcess) waitFiring(t *testing.T, name, instance string, during func()) firingAlert {
	t.Helper()
	deadline := time.Now().Add(alertTimeout)
	if p.deadline.Before(deadline) {
		deadline = p.deadline
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var seen []firingAlert
	for ctx.Err() == nil {
		if during != nil {
			during()
		}
		seen = p.alerts(t)
		for _, a := range seen {
			if a.Labels["alertname"] == name && a.Labels["instance"] == instance && a.State == "firing" {
				return a
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not fire for %s within %v, or within %v of the start of Prometheus; alerts: %+v",
		name, instance, alertTimeout, integrationTimeout, seen)
	return firingAlert{}
}

// TestAlertsFireWithPrometheus runs Prometheus on the deploy/ rules
// against two real linkbolt processes. One is killed, and the other runs
// out of file space and responds to writes with 503.
func TestAlertsFireWithPrometheus(t *testing.T) {
	prlimit := requireTool(t, "prlimit")
	healthy := startLinkbolt(t, nil)
	full := startLinkbolt(t, []string{prlimit, fmt.Sprintf("--fsize=%d", fileSizeLimit), "--"})
	prom := startPrometheus(t, []string{healthy.addr, full.addr})

	// Both targets must be scraped before anything breaks, so that the
	// alerts fire because of the faults and not of a missed first scrape.
	for prom.query(t, `up{job="linkbolt"} == 1`) < 2 {
		if time.Now().After(prom.deadline) {
			t.Fatalf("Prometheus did not scrape both linkbolt processes within %v of its start", integrationTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("killed instance fires LinkboltInstanceDown", func(t *testing.T) {
		start := time.Now()
		healthy.kill()
		a := prom.waitFiring(t, "LinkboltInstanceDown", healthy.addr, nil)
		t.Logf("LinkboltInstanceDown fired %v after SIGKILL", time.Since(start).Round(100*time.Millisecond))
		want := runbookBase + "/docs/operations.md#linkboltinstancedown"
		if got := a.Annotations["runbook_url"]; got != want {
			t.Errorf("runbook_url %q, want %q", got, want)
		}
		if a.Labels["severity"] != "critical" {
			t.Errorf("severity %q, want critical", a.Labels["severity"])
		}
	})

	t.Run("5xx responses fire LinkboltHighErrorRate", func(t *testing.T) {
		if got := full.request(t, "POST", "/urls", `{"original_url":"https://example.com/kept","short_code":"kept"}`); got != http.StatusCreated {
			t.Fatalf("POST /urls of the first link: status %d, want 201", got)
		}
		var statuses statusCounts
		createLinks := func() {
			for range 10 {
				body := fmt.Sprintf(`{"original_url":"https://example.com/%s"}`, strings.Repeat("x", 200))
				statuses.add(full.request(t, "POST", "/urls", body))
			}
		}
		start := time.Now()
		a := prom.waitFiring(t, "LinkboltHighErrorRate", full.addr, createLinks)
		t.Logf("LinkboltHighErrorRate fired %v after the first write; responses: %s",
			time.Since(start).Round(100*time.Millisecond), statuses.String())
		if statuses.get(http.StatusServiceUnavailable) == 0 {
			t.Errorf("no write was answered with 503; responses: %s", statuses.String())
		}
		if a.Labels["severity"] != "critical" {
			t.Errorf("severity %q, want critical", a.Labels["severity"])
		}

		// The same fault fails /ready and counts a commit error.
		prom.waitFiring(t, "LinkboltNotReady", full.addr, nil)
		prom.waitFiring(t, "LinkboltStoreCommitErrors", full.addr, nil)

		// A link stored before the failure still redirects.
		if got := full.request(t, "GET", "/kept", ""); got != http.StatusFound {
			t.Errorf("GET /kept after the failed commit: status %d, want 302", got)
		}
	})

	t.Run("no alert for the wrong instance", func(t *testing.T) {
		for _, a := range prom.alerts(t) {
			if a.State != "firing" {
				continue
			}
			name, inst := a.Labels["alertname"], a.Labels["instance"]
			if name == "LinkboltInstanceDown" && inst == full.addr {
				t.Errorf("LinkboltInstanceDown fires for %s, which is up", inst)
			}
			if name == "LinkboltHighErrorRate" && inst == healthy.addr {
				t.Errorf("LinkboltHighErrorRate fires for %s, which served no 5xx", inst)
			}
		}
	})

	t.Run("dashboard queries run", func(t *testing.T) {
		replacer := strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*")
		empty := 0
		exprs := readDashboard(t).prometheusExprs()
		for _, e := range exprs {
			if prom.query(t, replacer.Replace(e)) == 0 {
				empty++
			}
		}
		t.Logf("%d dashboard queries ran, %d of them with no data yet", len(exprs), empty)
	})
}

// statusCounts counts response statuses.
type statusCounts struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *statusCounts) add(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int]int{}
	}
	c.n[status]++
}

func (c *statusCounts) get(status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[status]
}

func (c *statusCounts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.n)
}

// lockedBuffer collects a child's stdout and stderr, which write to it
// concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
