package cluster

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// sendHeaders sends one request with extra headers; a body is sent as
// JSON.
func sendHeaders(t *testing.T, method, url, body string, headers map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// TestClusterHopNeedsSecret sends requests marked as coming from a peer
// straight to the shards: without the cluster secret the mark is ignored, so
// codes and usernames stay unique, and the internal routes respond with 404.
// With the secret, the internal routes reject invalid records with 400.
func TestClusterHopNeedsSecret(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ring, err := NewRing(c.peers)
	if err != nil {
		t.Fatal(err)
	}
	forged := map[string]string{HeaderHop: c.peers[0]}
	wrong := map[string]string{HeaderHop: c.peers[0], HeaderSecret: "not-the-cluster-secret"}
	peer := map[string]string{HeaderHop: c.peers[0], HeaderSecret: testSecret}

	t.Run("custom code stays unique", func(t *testing.T) {
		created := 0
		for _, p := range c.peers {
			resp := sendHeaders(t, http.MethodPost, "http://"+p+"/urls",
				`{"original_url":"https://example.com/a","short_code":"forgedhop"}`, forged)
			if resp.status == http.StatusCreated {
				created++
			} else if resp.status != http.StatusConflict {
				t.Errorf("POST /urls on %s: status %d, want 201 or 409: %s", p, resp.status, resp.body)
			}
		}
		if created != 1 {
			t.Errorf("%d shards created code forgedhop, want 1", created)
		}
	})

	t.Run("username stays unique", func(t *testing.T) {
		created := 0
		for i, p := range c.peers {
			body := `{"username":"forgedhop","email":"forged` + string(rune('a'+i)) + `@example.com"}`
			resp := sendHeaders(t, http.MethodPost, "http://"+p+"/users", body, forged)
			if resp.status == http.StatusCreated {
				created++
			} else if resp.status != http.StatusConflict {
				t.Errorf("POST /users on %s: status %d, want 201 or 409: %s", p, resp.status, resp.body)
			}
		}
		if created != 1 {
			t.Errorf("%d shards created user forgedhop, want 1", created)
		}
	})

	t.Run("non-owner forwards", func(t *testing.T) {
		owner := ring.Owner("forgedhop")
		other := c.peers[(owner+1)%len(c.peers)]
		resp := sendHeaders(t, http.MethodGet, "http://"+other+"/forgedhop", "", forged)
		if resp.status != http.StatusFound {
			t.Errorf("GET /forgedhop on a non-owner: status %d, want 302: %s", resp.status, resp.body)
		}
	})

	t.Run("internal routes need secret", func(t *testing.T) {
		for _, headers := range []map[string]string{nil, forged, wrong} {
			resp := sendHeaders(t, http.MethodGet, "http://"+c.peers[1]+"/_cluster/ids", "", headers)
			if resp.status != http.StatusNotFound {
				t.Errorf("GET /_cluster/ids with %v: status %d, want 404: %s", headers, resp.status, resp.body)
			}
			if !strings.Contains(string(resp.body), `"error"`) {
				t.Errorf("GET /_cluster/ids with %v: body %s is not a JSON error", headers, resp.body)
			}
		}
		resp := sendHeaders(t, http.MethodGet, "http://"+c.peers[1]+"/_cluster/ids", "", peer)
		if resp.status != http.StatusOK {
			t.Errorf("GET /_cluster/ids with the secret: status %d, want 200: %s", resp.status, resp.body)
		}
	})

	t.Run("internal input checked", func(t *testing.T) {
		cases := []struct{ path, body string }{
			{"/_cluster/users/import", `[{"ID":0,"Username":"zero","Email":"zero@example.com"}]`},
			{"/_cluster/users/import", `[{"ID":77,"Username":"","Email":"empty@example.com"}]`},
			{"/_cluster/ids", `{"users":9007199254740993}`},
			{"/_cluster/links/remove", `[0]`},
			{"/_cluster/users/remove", `[0]`},
			{"/_cluster/urls/has", `[9007199254740993]`},
			{"/_cluster/tombstones", `{"bad code!":5}`},
			{"/_cluster/tombstones/remove", `["users"]`},
			{"/_cluster/links/import", `[{"URL":{"ID":5,"ShortCode":"okcode","OriginalURL":"https://example.com/"},"Events":[{"ID":1,"URLID":6,"Type":"click"}]}]`},
			{"/_cluster/users/import", `{`},
		}
		for _, tc := range cases {
			resp := sendHeaders(t, http.MethodPost, "http://"+c.peers[1]+tc.path, tc.body, peer)
			if resp.status != http.StatusBadRequest {
				t.Errorf("POST %s %s: status %d, want 400: %s", tc.path, tc.body, resp.status, resp.body)
			}
			if !strings.Contains(string(resp.body), `"error"`) {
				t.Errorf("POST %s: body %s is not a JSON error", tc.path, resp.body)
			}
		}
	})
}
