package cluster

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/linkbolt/linkbolt/internal/integration"
)

// TestClusterRoutesCodesToOwner sends random codes through NGINX to three
// shards and checks that the shard that served each is the ring's owner
// and forwarded nothing.
func TestClusterRoutesCodesToOwner(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ring, err := NewRing(c.peers)
	if err != nil {
		t.Fatal(err)
	}

	n := 10000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(5, 5))
	served := make(map[string]int)
	for i := range n {
		code := randomKey(rng, 1+i%10)
		if ring.Owner(code) < 0 || isRouteWord(code) {
			continue
		}
		path := "/" + code
		if i%3 == 0 {
			path = "/urls/" + code + "/redirect"
		}
		resp := send(t, http.MethodGet, "http://"+c.nginx+path, "")
		if resp.status != http.StatusNotFound {
			t.Fatalf("GET %s: status %d, want 404: %s", path, resp.status, resp.body)
		}
		got, want := resp.header.Get(HeaderInstance), ring.OwnerName(code)
		if got != want {
			t.Fatalf("GET %s: NGINX chose %s, ring owner is %s", path, got, want)
		}
		if f := resp.header.Get(HeaderForwarded); f != "false" {
			t.Fatalf("GET %s: %s = %q, want false", path, HeaderForwarded, f)
		}
		served[got]++
	}
	for _, p := range c.peers {
		if served[p] == 0 {
			t.Errorf("shard %s served none of the codes", p)
		}
	}
}

// TestClusterForwardsToOwner creates links through NGINX and requests each
// code directly from a shard that does not own it: it forwards in one hop.
func TestClusterForwardsToOwner(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ring, _ := NewRing(c.peers)
	for i := range 60 {
		body := fmt.Sprintf(`{"original_url": "https://example.com/%d?a=1&a=2#x"}`, i)
		resp := send(t, http.MethodPost, "http://"+c.nginx+"/urls", body)
		if resp.status != http.StatusCreated {
			t.Fatalf("create: status %d: %s", resp.status, resp.body)
		}
		var u struct {
			ShortCode string `json:"short_code"`
		}
		resp.json(t, &u)

		// A generated code is owned by the shard that drew it.
		owner := ring.OwnerName(u.ShortCode)
		if got := resp.header.Get(HeaderInstance); got != owner {
			t.Errorf("code %s was drawn on %s, but %s owns it", u.ShortCode, got, owner)
		}

		via := send(t, http.MethodGet, "http://"+c.nginx+"/"+u.ShortCode, "")
		if via.status != http.StatusFound || via.header.Get("Location") != fmt.Sprintf("https://example.com/%d?a=1&a=2#x", i) {
			t.Fatalf("redirect of %s through NGINX: %d %q", u.ShortCode, via.status, via.header.Get("Location"))
		}
		if via.header.Get(HeaderForwarded) != "false" {
			t.Errorf("redirect of %s through NGINX was forwarded", u.ShortCode)
		}

		other := c.peers[(ring.Owner(u.ShortCode)+1)%len(c.peers)]
		direct := send(t, http.MethodGet, "http://"+other+"/"+u.ShortCode, "")
		if direct.status != http.StatusFound {
			t.Fatalf("redirect of %s on non-owner %s: status %d: %s", u.ShortCode, other, direct.status, direct.body)
		}
		if direct.header.Get(HeaderForwarded) != "true" || direct.header.Get(HeaderInstance) != owner ||
			direct.header.Get(HeaderForwardedBy) != other {
			t.Errorf("redirect of %s on %s: instance %q forwarded %q by %q, want %s, true, %s", u.ShortCode, other,
				direct.header.Get(HeaderInstance), direct.header.Get(HeaderForwarded), direct.header.Get(HeaderForwardedBy), owner, other)
		}
	}

	// A custom code is created on its owner, whichever shard receives it.
	for i := range 20 {
		code := fmt.Sprintf("custom-%d", i)
		resp := send(t, http.MethodPost, "http://"+c.peers[i%3]+"/urls", `{"original_url": "https://example.com/c", "short_code": "`+code+`"}`)
		if resp.status != http.StatusCreated {
			t.Fatalf("create %s: status %d: %s", code, resp.status, resp.body)
		}
		if got := resp.header.Get(HeaderInstance); got != ring.OwnerName(code) {
			t.Errorf("custom code %s was created on %s, owner is %s", code, got, ring.OwnerName(code))
		}
		again := send(t, http.MethodPost, "http://"+c.peers[(i+1)%3]+"/urls", `{"original_url": "https://example.com/c", "short_code": "`+code+`"}`)
		if again.status != http.StatusConflict {
			t.Errorf("second create of %s: status %d, want 409", code, again.status)
		}
	}
}

// TestClusterUsersMeetOnOneShard creates the same username in different
// case through every shard at once: exactly one create succeeds.
func TestClusterUsersMeetOnOneShard(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	for round := range 10 {
		name := fmt.Sprintf("racer%d", round)
		results := make(chan int, 6)
		for i := range 6 {
			go func() {
				spelled := name
				if i%2 == 1 {
					spelled = strings.ToUpper(name)
				}
				body := fmt.Sprintf(`{"username": %q, "email": "%s-%d@example.com"}`, spelled, name, i)
				results <- send(t, http.MethodPost, "http://"+c.peers[i%3]+"/users", body).status
			}()
		}
		created, conflicts := 0, 0
		for range 6 {
			switch <-results {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				conflicts++
			}
		}
		if created != 1 || conflicts != 5 {
			t.Errorf("username %s: %d created and %d conflicts, want 1 and 5", name, created, conflicts)
		}
	}
}

// TestClusterConfPassesNginxTest checks the generated configuration with
// nginx -t for one to five peers.
func TestClusterConfPassesNginxTest(t *testing.T) {
	t.Parallel()
	integration.Nginx(t)
	for n := 1; n <= 5; n++ {
		var peers []string
		for i := range n {
			peers = append(peers, fmt.Sprintf("127.0.0.1:%d", 20001+i))
		}
		conf := nginxConf(t, peers, "127.0.0.1:20000", t.TempDir())
		if out, err := integration.TestConf(t, conf); err != nil {
			t.Errorf("%d peers: nginx -t failed: %v\n%s", n, err, out)
		}
		for _, want := range []string{"hash $linkbolt_code consistent;", "least_conn;", "proxy_http_version 1.1;",
			`proxy_set_header Connection "";`, "keepalive 64;", "client_max_body_size 256m;", "X-Forwarded-For", "error_page 502"} {
			if !strings.Contains(conf, want) {
				t.Errorf("%d peers: the configuration lacks %q", n, want)
			}
		}
	}
}

func isRouteWord(code string) bool {
	switch strings.ToLower(code) {
	case "users", "urls", "events", "health", "ready", "metrics", "admin", "ui":
		return true
	}
	return false
}

func TestClusterBulkWrongMethod(t *testing.T) {
	c := startCluster(t, 2)
	bases := []string{"http://" + c.peers[0], "http://" + c.nginx}
	for _, base := range bases {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			for _, path := range []string{"/users/bulk", "/urls/bulk", "/events/bulk"} {
				resp := send(t, method, base+path, "")
				if resp.status != http.StatusMethodNotAllowed {
					t.Errorf("%s %s%s: status %d, want 405; body %s", method, base, path, resp.status, resp.body)
				}
				if allow := resp.header.Get("Allow"); allow != http.MethodPost {
					t.Errorf("%s %s%s: Allow %q, want POST", method, base, path, allow)
				}
			}
		}
	}
}
