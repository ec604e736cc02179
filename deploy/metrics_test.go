package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Patterns that pull metric names out of PromQL. Quoted strings go first,
// so that label values and regexes are not read as names.
var (
	quotedString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	identifier   = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

// metricNames returns the names in text of the metrics that linkbolt
// exports itself: those with the linkbolt_, process_ or go_ prefix. A name
// with a colon is a recording rule and is left out.
func metricNames(text string) []string {
	text = quotedString.ReplaceAllString(text, `""`)
	var names []string
	for _, id := range identifier.FindAllString(text, -1) {
		if strings.Contains(id, ":") {
			continue
		}
		if strings.HasPrefix(id, "linkbolt_") || strings.HasPrefix(id, "process_") || strings.HasPrefix(id, "go_") {
			names = append(names, id)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// referencedMetrics returns the metric names in the alert expressions and
// in the Prometheus queries of the dashboard.
func referencedMetrics(t *testing.T) []string {
	t.Helper()
	var text strings.Builder
	for _, r := range readAlertRules(t) {
		// Only the expression: the annotations are prose.
		expr, _, _ := strings.Cut(r.block, "labels:")
		text.WriteString(expr + "\n")
	}
	for _, e := range readDashboard(t).prometheusExprs() {
		text.WriteString(e + "\n")
	}
	return metricNames(text.String())
}

func TestMetricNamesParser(t *testing.T) {
	got := metricNames(`sum(rate(linkbolt_a_total{route=~"linkbolt_not_a_name"}[5m])) / instance:linkbolt_b:rate5m + go_goroutines - up`)
	want := []string{"go_goroutines", "linkbolt_a_total"}
	if !slices.Equal(got, want) {
		t.Errorf("metricNames: got %v, want %v", got, want)
	}
}

// TestMetricsExported starts linkbolt, drives the requests that create
// its lazily created series, and checks that /metrics exports every
// metric named by an alert rule or a dashboard query.
func TestMetricsExported(t *testing.T) {
	names := referencedMetrics(t)
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in the rules and the dashboard: %v", len(names), names)
	}

	lb := startLinkbolt(t, nil)
	if got := lb.request(t, "POST", "/urls", `{"original_url":"https://example.com/a","short_code":"deploy1"}`); got != http.StatusCreated {
		t.Fatalf("POST /urls: status %d, want 201", got)
	}
	for range 2 {
		if got := lb.request(t, "GET", "/deploy1", ""); got != http.StatusFound {
			t.Fatalf("GET /deploy1: status %d, want 302", got)
		}
	}
	if got := lb.request(t, "GET", "/nosuchcode", ""); got != http.StatusNotFound {
		t.Fatalf("GET /nosuchcode: status %d, want 404", got)
	}
	lb.request(t, "GET", "/ready", "")
	lb.request(t, "GET", "/urls", "")

	exported := scrapeNames(t, lb.base+"/metrics")
	for _, name := range names {
		if !slices.Contains(exported, name) {
			t.Errorf("metric %s is named in deploy/ but linkbolt does not export it", name)
		}
	}
	t.Logf("checked %d metric names: %v", len(names), names)
}

// TestReadyGauge checks that linkbolt_ready follows GET /ready.
func TestReadyGauge(t *testing.T) {
	lb := startLinkbolt(t, nil)
	if got := scrapeValue(t, lb.base+"/metrics", "linkbolt_ready"); got != "1" {
		t.Errorf("linkbolt_ready is %q on a fresh server, want 1", got)
	}
	free := scrapeValue(t, lb.base+"/metrics", "linkbolt_store_disk_free_bytes")
	if free == "" || free == "0" {
		t.Errorf("linkbolt_store_disk_free_bytes is %q, want the free bytes of the temporary directory", free)
	}
}

// scrapeNames returns the metric names of a Prometheus text exposition.
func scrapeNames(t *testing.T, url string) []string {
	t.Helper()
	var names []string
	for _, line := range scrapeLines(t, url) {
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// scrapeValue returns the value of an unlabelled series, or "" when the
// exposition has none.
func scrapeValue(t *testing.T, url, name string) string {
	t.Helper()
	for _, line := range scrapeLines(t, url) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func scrapeLines(t *testing.T, url string) []string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestMetricsPromtoolCheck pipes a real scrape of linkbolt through
// `promtool check metrics`, which parses the text format and lints it.
// Lint findings on the go_ and process_ families, which the metrics
// library writes, are logged. On linkbolt's own families only the missing
// help text is allowed, because the library writes empty "# HELP" lines.
func TestMetricsPromtoolCheck(t *testing.T) {
	promtool := requireTool(t, "promtool")
	lb := startLinkbolt(t, nil)
	lb.request(t, "GET", "/nosuchcode", "")

	resp, err := noRedirectClient.Get(lb.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	// Every family that linkbolt writes has one TYPE line.
	types := map[string]string{}
	for line := range strings.Lines(string(body)) {
		fields := strings.Fields(line)
		if len(fields) == 4 && fields[0] == "#" && fields[1] == "TYPE" {
			if _, dup := types[fields[2]]; dup {
				t.Errorf("family %s has two TYPE lines", fields[2])
			}
			types[fields[2]] = fields[3]
		}
	}
	for family, want := range map[string]string{
		"linkbolt_http_requests_total":           "counter",
		"linkbolt_http_request_duration_seconds": "histogram",
		"linkbolt_clicks_dropped_total":          "counter",
		"linkbolt_store_file_size_bytes":         "gauge",
		"linkbolt_ready":                         "gauge",
	} {
		if got := types[family]; got != want {
			t.Errorf("family %s: TYPE %q, want %q", family, got, want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	// promtool exits with 3 when it only found lint problems.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "go_") || strings.HasPrefix(line, "process_"):
			t.Logf("promtool, on a family of the metrics library: %s", line)
		case strings.HasPrefix(line, "linkbolt_") && strings.HasSuffix(line, " no help text"):
		default:
			t.Errorf("promtool check metrics: %s", line)
		}
	}
}
