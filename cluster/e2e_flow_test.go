package cluster

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/internal/integration"
)

// flowStep is one request of the API flow. {user}, {url} and {code} in
// path and body stand for the records that earlier steps created.
type flowStep struct {
	method, path, body string
}

// flowTarget is one server of the comparison, with the ids and code that
// it gave the records the flow created.
type flowTarget struct {
	base string
	vars map[string]string
}

func (ft *flowTarget) expand(s string) string {
	for k, v := range ft.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// TestClusterMatchesSingleNode runs the hackathon API flow, bulk imports of
// the seed data included, against one single-node server and through NGINX
// against three shards, and compares status, headers and bodies. Ids and
// codes of records created during the flow, and timestamps of today, are
// compared by role rather than by value, because each shard draws its own.
func TestClusterMatchesSingleNode(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join(seedDataDir, "urls.csv")); err != nil {
		t.Skip("the seed data is not in " + seedDataDir)
	}
	c := startCluster(t, 3)
	singleAddr := integration.FreeAddr(t)
	integration.StartLinkbolt(t, singleAddr, filepath.Join(t.TempDir(), "single.db"))
	single := &flowTarget{base: "http://" + singleAddr, vars: map[string]string{}}
	clustered := &flowTarget{base: "http://" + c.nginx, vars: map[string]string{}}

	csv := func(name string) string {
		data, err := os.ReadFile(filepath.Join(seedDataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	steps := []flowStep{
		{"GET", "/health", ""},
		{"POST", "/users/bulk", csv("users.csv")},
		{"POST", "/urls/bulk", csv("urls.csv")},
		{"POST", "/events/bulk", csv("events.csv")},
		{"GET", "/users", ""},
		{"GET", "/users?page=3&per_page=37", ""},
		{"GET", "/users?page=0", ""},
		{"GET", "/users?per_page=abc", ""},
		{"GET", "/users/1", ""},
		{"GET", "/users/400", ""},
		{"GET", "/users/401", ""},
		{"GET", "/users/abc", ""},
		{"GET", "/urls?user_id=1", ""},
		{"GET", "/urls?is_active=false&per_page=20&page=3", ""},
		{"GET", "/urls?short_code=OvfxQA", ""},
		{"GET", "/urls?is_active=maybe", ""},
		{"GET", "/urls?page=40&per_page=50", ""},
		{"GET", "/urls/1", ""},
		{"GET", "/urls/2000", ""},
		{"GET", "/urls/99999", ""},
		{"GET", "/events?url_id=5", ""},
		{"GET", "/events?event_type=deleted&per_page=7&page=4", ""},
		{"GET", "/events?user_id=3", ""},
		{"GET", "/events/1", ""},
		{"GET", "/events/3422", ""},
		{"GET", "/OvfxQA", ""},
		{"GET", "/urls/OvfxQA/redirect", ""},
		{"GET", "/nosuchcode", ""},
		{"POST", "/users", `{"username": "newuser", "email": "new@example.com"}`},
		{"POST", "/users", `{"username": "NewUser", "email": "other@example.com"}`},
		{"POST", "/users", `{"username": "forestorbit68", "email": "x@example.com"}`},
		{"POST", "/users", `{"username": 12345, "email": "y@example.com"}`},
		{"POST", "/users", `not json`},
		{"POST", "/users", `[]`},
		{"POST", "/urls", `{"original_url": "https://example.com/a?x=1&x=2#f", "user_id": {user}, "title": "T"}`},
		{"POST", "/urls", `{"original_url": "https://example.com/b", "user_id": 99999}`},
		{"POST", "/urls", `{"original_url": "not-a-url"}`},
		{"POST", "/urls", `{"original_url": "https://example.com/c", "user_id": "1"}`},
		{"GET", "/{code}", ""},
		{"GET", "/urls/{code}/redirect", ""},
		{"HEAD", "/{code}", ""},
		{"GET", "/urls/{url}", ""},
		{"PUT", "/urls/{url}", `{"title": "New", "is_active": false}`},
		{"PUT", "/urls/{url}", `{"short_code": "abc"}`},
		{"GET", "/{code}", ""},
		{"GET", "/events?url_id={url}", ""},
		{"GET", "/urls/{url}/stats", ""},
		{"DELETE", "/urls/{url}", ""},
		{"GET", "/urls/{url}", ""},
		{"GET", "/{code}", ""},
		{"PUT", "/users/{user}", `{"email": "renamed@example.com"}`},
		{"PUT", "/users/{user}", `{"email": "forestorbit68@opswise.net"}`},
		{"GET", "/users/{user}", ""},
		{"DELETE", "/users/{user}", ""},
		{"GET", "/users/{user}", ""},
		{"POST", "/events", `{"event_type": "custom", "url_id": 1, "user_id": 1, "details": {"a": 1}}`},
		{"POST", "/events", `{"event_type": "custom", "url_id": 99999}`},
		{"POST", "/events", `{"event_type": "custom", "url_id": 1, "details": "x"}`},
		{"GET", "/urls/1/stats", ""},
		{"DELETE", "/urls", ""},
		{"GET", "/users?per_page=1", ""},
		{"GET", "/urls?per_page=1", ""},
	}

	for _, st := range steps {
		want := flowSend(t, single, st)
		got := flowSend(t, clustered, st)
		name := st.method + " " + st.path
		if got.status != want.status {
			t.Errorf("%s: status %d through the cluster, %d on one node: %s / %s", name, got.status, want.status, got.body, want.body)
			continue
		}
		for _, h := range []string{"Content-Type", "Location", "X-Total-Count", "Link", "Allow"} {
			if replaceVars(clustered, got.header.Get(h)) != replaceVars(single, want.header.Get(h)) {
				t.Errorf("%s: %s %q through the cluster, %q on one node", name, h, got.header.Get(h), want.header.Get(h))
			}
		}
		if g, w := normalize(clustered, got.body), normalize(single, want.body); g != w {
			t.Errorf("%s: body differs\ncluster:  %.600s\none node: %.600s", name, g, w)
		}
	}
}

// flowSend sends one step and records the ids and code that a create
// returned.
func flowSend(t *testing.T, ft *flowTarget, st flowStep) response {
	t.Helper()
	resp := send(t, st.method, ft.base+ft.expand(st.path), ft.expand(st.body))
	if st.method != http.MethodPost || resp.status != http.StatusCreated {
		return resp
	}
	var created struct {
		ID        uint64 `json:"id"`
		ShortCode string `json:"short_code"`
		Username  string `json:"username"`
	}
	json.Unmarshal(resp.body, &created)
	switch {
	case created.Username != "":
		ft.vars["user"] = strconv.FormatUint(created.ID, 10)
	case created.ShortCode != "":
		ft.vars["url"] = strconv.FormatUint(created.ID, 10)
		ft.vars["code"] = created.ShortCode
	}
	return resp
}

// normalize replaces the ids and code of created records with fixed
// tokens, and the timestamps of today with "today", in a JSON body.
func normalize(ft *flowTarget, body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return string(body)
	}
	today := time.Now().UTC().Format("2006-01-02T")
	var walk func(key string, v any) any
	walk = func(key string, v any) any {
		switch x := v.(type) {
		case map[string]any:
			if _, isEvent := x["event_type"]; isEvent {
				if id, ok := x["id"].(float64); ok && id > 3422 {
					x["id"] = "new event"
				}
			}
			for k, val := range x {
				x[k] = walk(k, val)
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(key, x[i])
			}
			return x
		case float64:
			s := strconv.FormatFloat(x, 'f', -1, 64)
			isCreated := s == ft.vars["user"] || s == ft.vars["url"]
			if isCreated && (key == "id" || key == "url_id" || key == "user_id") {
				return "created id"
			}
			return x
		case string:
			if x == ft.vars["code"] && x != "" {
				return "code"
			}
			if strings.HasPrefix(x, today) {
				return "today"
			}
			return replaceVars(ft, x)
		}
		return v
	}
	out, _ := json.Marshal(walk("", v))
	return string(out)
}

// replaceVars replaces the ids and code of created records in text, such
// as an error message or a Link header. The user and the link may get the
// same id on a shard, so both ids become "created id".
func replaceVars(ft *flowTarget, text string) string {
	for role, val := range ft.vars {
		if val == "" {
			continue
		}
		token := "created id"
		if role == "code" {
			token = "code"
		}
		pattern := regexp.MustCompile(`\b` + regexp.QuoteMeta(val) + `\b`)
		text = pattern.ReplaceAllString(text, token)
	}
	return text
}
