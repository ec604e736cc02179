package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// dashboard is the part of a Grafana dashboard JSON that the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Multi      bool   `json:"multi"`
			IncludeAll bool   `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	return d
}

// prometheusExprs returns the queries of the panels that read Prometheus.
func (d dashboard) prometheusExprs() []string {
	var exprs []string
	for _, p := range d.Panels {
		if p.Datasource.Type != "prometheus" {
			continue
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// TestDashboardPanels checks that the dashboard has the panels an
// on-call engineer needs, that every query panel has a description, and
// that every Prometheus query follows the instance variable.
func TestDashboardPanels(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q and title %q must be set", d.UID, d.Title)
	}

	var variables []string
	for _, v := range d.Templating.List {
		variables = append(variables, v.Name)
		if v.Name == "instance" && (!v.Multi || !v.IncludeAll) {
			t.Errorf("the instance variable must allow several instances and All")
		}
	}
	if !slices.Contains(variables, "instance") {
		t.Errorf("dashboard has no instance variable; variables: %v", variables)
	}

	var titles []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		titles = append(titles, p.Title)
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q query %s ignores the instance variable", p.Title, tg.Expr)
			}
		}
	}
	for _, want := range []string{
		"Traffic", "Errors", "Redirect latency", "Saturation: CPU", "Saturation: memory", "Saturation: disk",
		"Redirects by outcome", "Cache hit ratio", "Store commits", "Store commit latency", "Click queue depth",
		"Clicks written and dropped",
	} {
		if !slices.Contains(titles, want) {
			t.Errorf("dashboard has no panel %q", want)
		}
	}

	// The latency panel shows the three percentiles.
	for _, p := range d.Panels {
		if p.Title != "Redirect latency" {
			continue
		}
		var all string
		for _, tg := range p.Targets {
			all += tg.Expr + "\n"
		}
		for _, q := range []string{"0.50", "0.95", "0.99"} {
			if !strings.Contains(all, "histogram_quantile("+q) {
				t.Errorf("the Redirect latency panel has no %s quantile", q)
			}
		}
	}
}

// TestDashboardNoOverlap checks that no two panels share grid cells.
func TestDashboardNoOverlap(t *testing.T) {
	d := readDashboard(t)
	const width = 24
	used := map[[2]int]string{}
	for _, p := range d.Panels {
		g := p.GridPos
		if g.X < 0 || g.W <= 0 || g.X+g.W > width {
			t.Errorf("panel %q lies outside the 24 columns: x %d, w %d", p.Title, g.X, g.W)
		}
		for y := g.Y; y < g.Y+g.H; y++ {
			for x := g.X; x < g.X+g.W; x++ {
				if other, ok := used[[2]int{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at x %d, y %d", other, p.Title, x, y)
				}
				used[[2]int{x, y}] = p.Title
			}
		}
	}
}

// aggregation matches a PromQL aggregation and its by or without clause.
var aggregation = regexp.MustCompile(`\b(sum|avg|min|max|count|topk|bottomk|quantile)\s*(?:(by|without)\s*\(([^)]*)\))?\s*\(`)

// keepsInstance reports whether every aggregation in expr keeps the
// instance label, so that the query returns one series per instance.
func keepsInstance(expr string) bool {
	for _, m := range aggregation.FindAllStringSubmatch(expr, -1) {
		labels := strings.Split(m[3], ",")
		for i := range labels {
			labels[i] = strings.TrimSpace(labels[i])
		}
		switch m[2] {
		case "by":
			if !slices.Contains(labels, "instance") {
				return false
			}
		case "without":
			if slices.Contains(labels, "instance") {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func TestKeepsInstance(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`rate(linkbolt_a_total[5m])`, true},
		{`sum by (instance, outcome) (rate(linkbolt_a_total[5m]))`, true},
		{`sum by (outcome) (rate(linkbolt_a_total[5m]))`, false},
		{`sum(rate(linkbolt_a_total[5m]))`, false},
		{`sum without (route) (rate(linkbolt_a_total[5m]))`, true},
		{`sum without (instance) (rate(linkbolt_a_total[5m]))`, false},
		{`histogram_quantile(0.95, sum by (instance, le) (rate(linkbolt_b_bucket[5m])))`, true},
	} {
		if got := keepsInstance(tc.expr); got != tc.want {
			t.Errorf("keepsInstance(%s) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestDashboardPerInstance checks that every Prometheus panel shows each
// selected instance on its own in at least one query. A panel that shows
// the selected instances together is exempt when its description contains
// "over the selected instances".
func TestDashboardPerInstance(t *testing.T) {
	for _, p := range readDashboard(t).Panels {
		if p.Datasource.Type != "prometheus" || strings.Contains(p.Description, "over the selected instances") {
			continue
		}
		perInstance := false
		for _, tg := range p.Targets {
			perInstance = perInstance || keepsInstance(tg.Expr)
		}
		if !perInstance {
			t.Errorf("panel %q has no query that keeps the instance label", p.Title)
		}
	}
}
