package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// createLinks creates n links through base and returns code -> target.
func createLinks(t *testing.T, base string, n int) map[string]string {
	t.Helper()
	links := make(map[string]string, n)
	for i := range n {
		target := fmt.Sprintf("https://example.com/page/%d", i)
		resp := send(t, http.MethodPost, base+"/urls", `{"original_url": "`+target+`"}`)
		if resp.status != http.StatusCreated {
			t.Fatalf("create: status %d: %s", resp.status, resp.body)
		}
		var u struct {
			ShortCode string `json:"short_code"`
		}
		resp.json(t, &u)
		links[u.ShortCode] = target
	}
	return links
}

// TestClusterShardDown kills one shard: its codes get 503 with Retry-After,
// every other code still redirects, lists get 503 naming the shard, and
// after a restart everything is back.
func TestClusterShardDown(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ring, _ := NewRing(c.peers)
	base := "http://" + c.nginx
	links := createLinks(t, base, 90)
	dead := c.peers[1]

	c.procs[1].Kill()
	for code, target := range links {
		resp := send(t, http.MethodGet, base+"/"+code, "")
		if ring.OwnerName(code) != dead {
			if resp.status != http.StatusFound || resp.header.Get("Location") != target {
				t.Errorf("code %s of a live shard: %d %q, want 302 %s", code, resp.status, resp.header.Get("Location"), target)
			}
			continue
		}
		if resp.status != http.StatusServiceUnavailable {
			t.Errorf("code %s of the dead shard: status %d, want 503: %s", code, resp.status, resp.body)
			continue
		}
		if resp.header.Get("Retry-After") == "" {
			t.Errorf("code %s: 503 without Retry-After", code)
		}
		var body struct {
			Error string `json:"error"`
			Shard string `json:"shard"`
		}
		resp.json(t, &body)
		if body.Shard != dead || !strings.Contains(body.Error, dead) {
			t.Errorf("code %s: 503 body %s does not name shard %s", code, resp.body, dead)
		}
	}

	for _, path := range []string{"/urls", "/users", "/events?event_type=created"} {
		resp := send(t, http.MethodGet, base+path, "")
		if resp.status != http.StatusServiceUnavailable || !strings.Contains(string(resp.body), dead) {
			t.Errorf("GET %s with a shard down: %d %s, want 503 naming %s", path, resp.status, resp.body, dead)
		}
	}

	c.procs[1].Start()
	for code, target := range links {
		resp := send(t, http.MethodGet, base+"/"+code, "")
		if resp.status != http.StatusFound || resp.header.Get("Location") != target {
			t.Errorf("code %s after the restart: %d %q, want 302 %s", code, resp.status, resp.header.Get("Location"), target)
		}
	}
	resp := send(t, http.MethodGet, base+"/urls?per_page=1000", "")
	if resp.status != http.StatusOK {
		t.Fatalf("GET /urls after the restart: %d %s", resp.status, resp.body)
	}
	if got := resp.header.Get("X-Total-Count"); got != strconv.Itoa(len(links)) {
		t.Errorf("X-Total-Count after the restart = %s, want %d", got, len(links))
	}
	var urls []json.RawMessage
	resp.json(t, &urls)
	if len(urls) != len(links) {
		t.Errorf("GET /urls after the restart listed %d links, want %d", len(urls), len(links))
	}
}
