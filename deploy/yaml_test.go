package deploy

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"testing"
)

// yamlToJSON is a Python program that prints each YAML file named on its
// command line as one JSON document, with PyYAML's safe loader.
const yamlToJSON = `
import json, sys, yaml
docs = {}
for path in sys.argv[1:]:
    with open(path) as f:
        docs[path] = yaml.safe_load(f)
json.dump(docs, sys.stdout, default=str)
`

// loadYAML parses the files with PyYAML, which docker-compose depends on,
// because the module has no YAML parser of its own. It returns each
// document as decoded by encoding/json.
func loadYAML(t *testing.T, paths ...string) map[string]any {
	t.Helper()
	python := requireTool(t, "python3")
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	if err := exec.CommandContext(ctx, python, "-c", "import yaml").Run(); err != nil {
		skipOrFail(t, "the yaml module of python3 (Debian's python3-yaml) is not installed")
	}
	out := runTool(t, ".", python, append([]string{"-c", yamlToJSON}, paths...)...)
	var docs map[string]any
	if err := json.Unmarshal([]byte(out), &docs); err != nil {
		t.Fatalf("decoding the JSON of %v: %v", paths, err)
	}
	return docs
}

// lookup follows keys and list indexes through a decoded document and
// returns nil when a step is missing.
func lookup(doc any, path ...any) any {
	for _, step := range path {
		switch key := step.(type) {
		case string:
			m, ok := doc.(map[string]any)
			if !ok {
				return nil
			}
			doc = m[key]
		case int:
			list, ok := doc.([]any)
			if !ok || key >= len(list) {
				return nil
			}
			doc = list[key]
		}
	}
	return doc
}

// TestPromtailLabels checks that promtail sends to Loki and makes only
// low-cardinality fields into labels.
func TestPromtailLabels(t *testing.T) {
	const file = "promtail/promtail.yml"
	doc := loadYAML(t, file)[file]

	if got := lookup(doc, "clients", 0, "url"); got != "http://loki:3100/loki/api/v1/push" {
		t.Errorf("promtail client url %v, want Loki's push endpoint", got)
	}
	job := lookup(doc, "scrape_configs", 0)
	if job == nil {
		t.Fatal("promtail has no scrape config")
	}

	var labels []string
	stages, _ := lookup(job, "pipeline_stages").([]any)
	for _, stage := range stages {
		if m, ok := lookup(stage, "labels").(map[string]any); ok {
			for name := range m {
				labels = append(labels, name)
			}
		}
	}
	if !slices.Equal(labels, []string{"level"}) {
		t.Errorf("labels from log fields: %v, want only [level]", labels)
	}

	var targets []string
	relabels, _ := lookup(job, "relabel_configs").([]any)
	for _, r := range relabels {
		if s, ok := lookup(r, "target_label").(string); ok {
			targets = append(targets, s)
		}
	}
	for _, want := range []string{"job", "instance"} {
		if !slices.Contains(targets, want) {
			t.Errorf("promtail does not set the %s label; it sets %v", want, targets)
		}
	}
}

// TestLokiConfig checks the settings that Loki needs to run on one node
// without sending usage reports.
func TestLokiConfig(t *testing.T) {
	const file = "loki/loki.yml"
	doc := loadYAML(t, file)[file]
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"auth_enabled"}, false},
		{[]any{"server", "http_listen_port"}, 3100.0},
		{[]any{"common", "replication_factor"}, 1.0},
		{[]any{"analytics", "reporting_enabled"}, false},
		{[]any{"compactor", "retention_enabled"}, true},
		{[]any{"schema_config", "configs", 0, "object_store"}, "filesystem"},
	}
	for _, c := range checks {
		if got := lookup(doc, c.path...); got != c.want {
			t.Errorf("loki.yml %v = %v, want %v", c.path, got, c.want)
		}
	}
}

// TestGrafanaProvisioning checks that the data sources and the dashboard
// provider match the dashboard and the compose mounts.
func TestGrafanaProvisioning(t *testing.T) {
	const (
		sources   = "grafana/provisioning/datasources/datasources.yml"
		providers = "grafana/provisioning/dashboards/dashboards.yml"
	)
	docs := loadYAML(t, sources, providers)

	uids := map[string]string{}
	list, _ := lookup(docs[sources], "datasources").([]any)
	for _, ds := range list {
		typ, _ := lookup(ds, "type").(string)
		uid, _ := lookup(ds, "uid").(string)
		uids[typ] = uid
	}
	if uids["prometheus"] != "prometheus" {
		t.Errorf("Prometheus data source uid %q, want prometheus", uids["prometheus"])
	}

	// The dashboard's log panel names the Loki data source by uid.
	for _, p := range readDashboard(t).Panels {
		if p.Datasource.Type == "loki" && p.Datasource.UID != uids["loki"] {
			t.Errorf("panel %q uses Loki uid %q, but the data source has %q", p.Title, p.Datasource.UID, uids["loki"])
		}
	}

	if got := lookup(docs[providers], "providers", 0, "options", "path"); got != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provider path %v, want /var/lib/grafana/dashboards, where the compose file mounts them", got)
	}
}
