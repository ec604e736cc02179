package cluster

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/linkbolt/linkbolt/internal/integration"
)

// seedDataDir holds the sample CSV files beside the checkout.
const seedDataDir = "../../shared/data"

// linkState is what a link must keep across a rebalance.
type linkState struct {
	status   int
	location string
	clicks   uint64
}

// TestClusterRebalanceAddsShard adds a fourth shard with rebalance: every
// link of the seed data and of a generated set still redirects, with the
// same click count, and no link, user or event is lost or doubled.
func TestClusterRebalanceAddsShard(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	base := "http://" + c.nginx

	// The seed data, when present, and a generated set of links.
	if _, err := os.Stat(filepath.Join(seedDataDir, "urls.csv")); err == nil {
		for _, kind := range []string{"users", "urls", "events"} {
			data, err := os.ReadFile(filepath.Join(seedDataDir, kind+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			if resp := send(t, http.MethodPost, base+"/"+kind+"/bulk", string(data)); resp.status != http.StatusCreated {
				t.Fatalf("import %s: %d %s", kind, resp.status, resp.body)
			}
		}
	}
	n := 100000
	if testing.Short() {
		n = 10000
	}
	var csv strings.Builder
	csv.WriteString("id,user_id,short_code,original_url,title,is_active,created_at\n")
	for i := range n {
		fmt.Fprintf(&csv, "%d,,g%07d,https://example.org/%d,,True,2025-01-01 00:00:00\n", 10000+i, i, i)
	}
	if resp := send(t, http.MethodPost, base+"/urls/bulk", csv.String()); resp.status != http.StatusCreated {
		t.Fatalf("import generated links: %d %s", resp.status, resp.body)
	}

	// Clicks on some links, then links created on each shard.
	for i := 0; i < n; i += n / 100 {
		for range 1 + i%3 {
			send(t, http.MethodGet, fmt.Sprintf("%s/g%07d", base, i), "")
		}
	}
	createLinks(t, base, 30)

	before := c.linkStates(t)
	totalsBefore := c.totals(t, base)

	// Add the fourth shard, copy, switch every shard and NGINX, finish.
	from := strings.Join(c.peers, ",")
	c.peers = append(c.peers, integration.FreeAddr(t))
	to := strings.Join(c.peers, ",")
	newPeer := c.peers[3]
	c.procs = append(c.procs, integration.StartLinkbolt(t, newPeer, filepath.Join(c.dir, "shardd.db"), c.clusterArgs(newPeer)...))
	if out, code := integration.Run(t, "rebalance", "--from", from, "--to", to, "--cluster-secret", testSecret); code != 0 {
		t.Fatalf("rebalance exited with %d: %s", code, out)
	}
	for i, p := range c.procs[:3] {
		p.Stop()
		p.Args = c.clusterArgs(c.peers[i])
		p.Start()
	}
	c.nginx = integration.FreeAddr(t)
	c.startNginx(t)
	base = "http://" + c.nginx
	out, code := integration.Run(t, "rebalance", "--from", from, "--to", to, "--finish", "--cluster-secret", testSecret)
	if code != 0 {
		t.Fatalf("rebalance --finish exited with %d: %s", code, out)
	}
	t.Logf("rebalance --finish:\n%s", out)

	after := c.linkStates(t)
	if len(after) != len(before) {
		t.Errorf("%d links before the rebalance, %d after", len(before), len(after))
	}
	for code, want := range before {
		if got, ok := after[code]; !ok || got.clicks != want.clicks {
			t.Errorf("link %s: clicks %d before, %d after (present %v)", code, want.clicks, got.clicks, ok)
		}
	}
	if got := c.totals(t, base); got != totalsBefore {
		t.Errorf("totals (users, urls, events) %v before, %v after", totalsBefore, got)
	}
	if moved := c.localCount(t, newPeer, "/urls"); moved == 0 {
		t.Errorf("the new shard %s holds no link", newPeer)
	}

	// Every link redirects through NGINX from its new owner, unforwarded.
	ring, _ := NewRing(c.peers)
	c.checkRedirects(t, base, before, ring)
}

// linkStates reads every link of every shard directly, with the hop header
// so that each shard lists only its own links. A link on two shards fails
// the test.
func (c *testCluster) linkStates(t *testing.T) map[string]linkState {
	t.Helper()
	states := make(map[string]linkState)
	for _, peer := range c.peers {
		for page := 1; ; page++ {
			resp := sendHop(t, "http://"+peer+"/urls?per_page=1000&page="+strconv.Itoa(page))
			var urls []struct {
				ShortCode   string `json:"short_code"`
				OriginalURL string `json:"original_url"`
				IsActive    bool   `json:"is_active"`
				ClickCount  uint64 `json:"click_count"`
			}
			resp.json(t, &urls)
			for _, u := range urls {
				if _, dup := states[u.ShortCode]; dup {
					t.Fatalf("link %s is on two shards", u.ShortCode)
				}
				st := linkState{status: http.StatusFound, location: u.OriginalURL, clicks: u.ClickCount}
				if !u.IsActive {
					st = linkState{status: http.StatusNotFound, clicks: u.ClickCount}
				}
				states[u.ShortCode] = st
			}
			if len(urls) < 1000 {
				break
			}
		}
	}
	return states
}

// totals returns X-Total-Count of the users, urls and events lists.
func (c *testCluster) totals(t *testing.T, base string) [3]string {
	t.Helper()
	var out [3]string
	for i, path := range []string{"/users?per_page=1", "/urls?per_page=1", "/events?per_page=1"} {
		resp := send(t, http.MethodGet, base+path, "")
		if resp.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
		}
		out[i] = resp.header.Get("X-Total-Count")
	}
	return out
}

// localCount returns the X-Total-Count of a list on one shard alone.
func (c *testCluster) localCount(t *testing.T, peer, path string) int {
	t.Helper()
	resp := sendHop(t, "http://"+peer+path+"?per_page=1")
	n, _ := strconv.Atoi(resp.header.Get("X-Total-Count"))
	return n
}

// checkRedirects sends HEAD for every link through NGINX with 16 workers
// and compares status, Location and serving shard.
func (c *testCluster) checkRedirects(t *testing.T, base string, links map[string]linkState, ring *Ring) {
	t.Helper()
	codes := make(chan string)
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for code := range codes {
				req, _ := http.NewRequest(http.MethodHead, base+"/"+code, nil)
				resp, err := testClient.Do(req)
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %v", code, err))
					mu.Unlock()
					continue
				}
				resp.Body.Close()
				want := links[code]
				if resp.StatusCode != want.status || resp.Header.Get("Location") != want.location ||
					resp.Header.Get(HeaderInstance) != ring.OwnerName(code) || resp.Header.Get(HeaderForwarded) != "false" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %d %q from %s (forwarded %s), want %d %q from %s",
						code, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get(HeaderInstance),
						resp.Header.Get(HeaderForwarded), want.status, want.location, ring.OwnerName(code)))
					mu.Unlock()
				}
			}
		}()
	}
	for code := range links {
		codes <- code
	}
	close(codes)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d links do not redirect as before, such as:\n%s", len(failures), len(links),
			strings.Join(failures[:min(10, len(failures))], "\n"))
	}
}

// sendHop sends a GET marked as coming from a peer, which a shard serves
// from its own data alone.
func sendHop(t *testing.T, url string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(HeaderHop, "test")
	req.Header.Set(HeaderSecret, testSecret)
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: data}
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, r.status, r.body)
	}
	return r
}
