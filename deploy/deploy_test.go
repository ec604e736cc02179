// Package deploy holds no code: its tests check the files of the deploy/
// directory with the tools that read them (promtool, amtool,
// docker-compose), against a running linkbolt and a real Prometheus.
package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// toolTimeout bounds every run of promtool, amtool and docker-compose.
const toolTimeout = 60 * time.Second

// Paths of the files under test, relative to this directory.
const (
	prometheusConfig   = "prometheus/prometheus.yml"
	alertmanagerConfig = "alertmanager/alertmanager.yml"
	dashboardFile      = "grafana/dashboards/linkbolt.json"
	composeFile        = "docker-compose.yml"
	operationsDoc      = "../docs/operations.md"
)

// runTool runs a command in dir and fails the test with its output when it
// exits with an error.
func runTool(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func ruleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no rule files in prometheus/rules")
	}
	return files
}

func TestPromtoolCheckConfig(t *testing.T) {
	promtool := requireTool(t, "promtool")
	out := runTool(t, ".", promtool, "check", "config", prometheusConfig)
	if !strings.Contains(out, "is valid prometheus config file syntax") {
		t.Errorf("promtool check config printed no success line:\n%s", out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool")
	out := runTool(t, ".", promtool, append([]string{"check", "rules"}, ruleFiles(t)...)...)
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules printed no SUCCESS:\n%s", out)
	}
}

// TestPromtoolTestRules runs the unit tests of the alert rules.
func TestPromtoolTestRules(t *testing.T) {
	promtool := requireTool(t, "promtool")
	tests, err := filepath.Glob("prometheus/tests/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) == 0 {
		t.Fatal("no rule tests in prometheus/tests")
	}
	for i, f := range tests {
		tests[i], _ = filepath.Rel("prometheus", f)
	}
	out := runTool(t, "prometheus", promtool, append([]string{"test", "rules"}, tests...)...)
	if strings.Contains(out, "FAILED") {
		t.Errorf("promtool test rules failed:\n%s", out)
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	amtool := requireTool(t, "amtool")
	out := runTool(t, ".", amtool, "check-config", alertmanagerConfig)
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("amtool check-config printed no SUCCESS:\n%s", out)
	}
}

// TestAlertmanagerRoutes checks which receivers each severity reaches.
func TestAlertmanagerRoutes(t *testing.T) {
	amtool := requireTool(t, "amtool")
	cases := []struct {
		name   string
		labels []string
		want   string
	}{
		{"critical pages", []string{"alertname=LinkboltNotReady", "severity=critical"}, "pagerduty,slack,webhook"},
		{"warning posts", []string{"alertname=LinkboltClicksDropped", "severity=warning"}, "slack,webhook"},
		{"unlabelled goes to webhook", []string{"alertname=Other"}, "webhook"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerConfig}, tc.labels...)
			out := runTool(t, ".", amtool, args...)
			// amtool prints warnings about flags on other lines.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if !slices.Contains(lines, tc.want) {
				t.Errorf("receivers for %v: got output %q, want the line %q", tc.labels, out, tc.want)
			}
		})
	}
}

// TestAlertmanagerSecretsFromFiles checks that no receiver secret is
// written into the config itself.
func TestAlertmanagerSecretsFromFiles(t *testing.T) {
	data, err := os.ReadFile(alertmanagerConfig)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, key := range []string{"routing_key_file:", "api_url_file:", "credentials_file:"} {
		if !strings.Contains(text, key) {
			t.Errorf("%s has no %s", alertmanagerConfig, key)
		}
	}
	inline := regexp.MustCompile(`(?m)^\s*(routing_key|service_key|api_url|slack_api_url|credentials|password|bearer_token):`)
	if m := inline.FindString(text); m != "" {
		t.Errorf("%s sets a secret inline: %q", alertmanagerConfig, strings.TrimSpace(m))
	}
}

// TestComposeConfig validates the compose file with docker-compose, which
// needs no Docker engine for this.
func TestComposeConfig(t *testing.T) {
	compose := requireTool(t, "docker-compose")
	out := runTool(t, ".", compose, "-f", composeFile, "config", "--services")
	services := strings.Fields(out)
	for _, want := range []string{"linkbolt-1", "linkbolt-2", "linkbolt-3", "nginx", "prometheus", "alertmanager", "grafana", "loki", "promtail"} {
		if !slices.Contains(services, want) {
			t.Errorf("compose file has no service %q; services: %v", want, services)
		}
	}

	// config validates the file and prints it resolved. Each shard names
	// all three peers and itself.
	full := runTool(t, ".", compose, "-f", composeFile, "config")
	for _, n := range []string{"1", "2", "3"} {
		self := "--self\n    - linkbolt-" + n + ":8080"
		if !strings.Contains(full, self) {
			t.Errorf("service linkbolt-%s does not run with --self linkbolt-%s:8080", n, n)
		}
	}
	if got := strings.Count(full, "linkbolt-1:8080,linkbolt-2:8080,linkbolt-3:8080"); got != 3 {
		t.Errorf("the peer list appears %d times in the resolved compose file, want 3", got)
	}

	// Each shard reads the cluster secret from a file, never inline.
	if got := strings.Count(full, "LINKBOLT_CLUSTER_SECRET_FILE: /run/secrets/linkbolt_cluster_secret"); got != 3 {
		t.Errorf("LINKBOLT_CLUSTER_SECRET_FILE is set on %d shards in the resolved compose file, want 3", got)
	}
	if got := strings.Count(full, ":/run/secrets/linkbolt_cluster_secret:ro"); got != 3 {
		t.Errorf("the cluster secret file is mounted on %d shards, want 3", got)
	}
	if strings.Contains(full, "LINKBOLT_CLUSTER_SECRET:") {
		t.Error("the compose file sets LINKBOLT_CLUSTER_SECRET inline; mount a file instead")
	}
}

// nginxConfArgs are the arguments that wrote nginx/nginx.conf.
var nginxConfArgs = []string{
	"nginx-conf", "--peers", "linkbolt-1:8080,linkbolt-2:8080,linkbolt-3:8080",
	"--listen", "80", "--access-log", "/dev/stdout",
}

// TestNginxConfIsGenerated checks that the NGINX config of the compose
// file is the output of linkbolt nginx-conf for the shards' peer list, so
// that NGINX and the shards compute the same ring.
func TestNginxConfIsGenerated(t *testing.T) {
	want, err := exec.Command(linkboltBinary(t), nginxConfArgs...).Output()
	if err != nil {
		t.Fatalf("linkbolt %s: %v", strings.Join(nginxConfArgs, " "), err)
	}
	got, err := os.ReadFile("nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("nginx/nginx.conf differs from the output of linkbolt %s; write it again with --out deploy/nginx/nginx.conf",
			strings.Join(nginxConfArgs, " "))
	}
}

// alertRule is the part of an alert rule that the runbook checks read.
type alertRule struct {
	name        string
	block       string
	runbookURL  string
	summary     bool
	description bool
}

// readAlertRules splits the rule files at each "- alert:" line. The rule
// files are checked by promtool, so this only needs to find the keys.
func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	start := regexp.MustCompile(`(?m)^\s*- alert: (\S+)\s*$`)
	runbook := regexp.MustCompile(`(?m)^\s*runbook_url: '?([^'\n]+)'?\s*$`)
	var rules []alertRule
	for _, file := range ruleFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		locs := start.FindAllStringSubmatchIndex(text, -1)
		for i, loc := range locs {
			end := len(text)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			r := alertRule{name: text[loc[2]:loc[3]], block: text[loc[0]:end]}
			if m := runbook.FindStringSubmatch(r.block); m != nil {
				r.runbookURL = m[1]
			}
			r.summary = strings.Contains(r.block, "summary:")
			r.description = strings.Contains(r.block, "description:")
			rules = append(rules, r)
		}
	}
	return rules
}

// wantAlerts are the alerts that the deployment must define.
var wantAlerts = []string{
	"LinkboltInstanceDown",
	"LinkboltNotReady",
	"LinkboltHighErrorRate",
	"LinkboltRedirectLatencyHigh",
	"LinkboltClicksDropped",
	"LinkboltStoreCommitErrors",
	"LinkboltDiskFillingUp",
	"LinkboltCacheHitRatioCollapse",
}

// TestAlertRunbooks checks that every alert has a summary, a description
// and a runbook_url whose anchor is a heading of docs/operations.md.
func TestAlertRunbooks(t *testing.T) {
	rules := readAlertRules(t)
	var names []string
	for _, r := range rules {
		names = append(names, r.name)
	}
	for _, want := range wantAlerts {
		if !slices.Contains(names, want) {
			t.Errorf("no alert rule named %s", want)
		}
	}

	anchors := markdownAnchors(t, operationsDoc)
	prefix := "{{ $externalLabels.runbook_base }}/docs/operations.md#"
	for _, r := range rules {
		if !r.summary {
			t.Errorf("alert %s has no summary", r.name)
		}
		if !r.description {
			t.Errorf("alert %s has no description", r.name)
		}
		anchor, ok := strings.CutPrefix(r.runbookURL, prefix)
		if !ok {
			t.Errorf("alert %s: runbook_url %q does not start with %q", r.name, r.runbookURL, prefix)
			continue
		}
		if anchor != strings.ToLower(r.name) {
			t.Errorf("alert %s: runbook anchor %q, want %q", r.name, anchor, strings.ToLower(r.name))
		}
		if !slices.Contains(anchors, anchor) {
			t.Errorf("alert %s: docs/operations.md has no heading with anchor #%s", r.name, anchor)
		}
	}
}

// TestAlertsHaveRuleTests checks that the promtool tests evaluate every
// alert both with an expected alert and with none.
func TestAlertsHaveRuleTests(t *testing.T) {
	files, err := filepath.Glob("prometheus/tests/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(data)
	}
	for _, r := range readAlertRules(t) {
		silent := regexp.MustCompile(`alertname: ` + r.name + `\s+exp_alerts: \[\]`)
		firing := regexp.MustCompile(`alertname: ` + r.name + `\s+exp_alerts:\s+- exp_labels:`)
		if !silent.MatchString(text.String()) {
			t.Errorf("no rule test expects %s not to fire", r.name)
		}
		if !firing.MatchString(text.String()) {
			t.Errorf("no rule test expects %s to fire", r.name)
		}
	}
}

// markdownAnchors returns the anchors that GitHub derives from the
// headings of a Markdown file, outside code blocks: lower case,
// punctuation other than hyphens and underscores removed, spaces turned
// into hyphens.
func markdownAnchors(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`^#{1,6} (.+?)\s*$`)
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	var anchors []string
	inCode := false
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		m := heading.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if inCode || m == nil {
			continue
		}
		a := drop.ReplaceAllString(strings.ToLower(m[1]), "")
		anchors = append(anchors, strings.ReplaceAll(a, " ", "-"))
	}
	return anchors
}
