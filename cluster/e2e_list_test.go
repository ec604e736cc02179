package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestClusterListSkipsCopies copies links onto shards that do not own
// them, as the first step of a rebalance does, and checks that lists
// show each id once, from its owner. The total counts each id once when
// page × per_page covers every shard's records, as in these requests.
func TestClusterListSkipsCopies(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ring, err := NewRing(c.peers)
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + c.nginx

	var file strings.Builder
	file.WriteString(urlsHeader)
	for i := 1; i <= 20; i++ {
		file.WriteString(urlRow(i, fmt.Sprintf("listcopy%d", i)))
	}
	if resp := send(t, http.MethodPost, api+"/urls/bulk", file.String()); resp.status != http.StatusCreated {
		t.Fatalf("POST /urls/bulk: %d %s", resp.status, resp.body)
	}

	// Every link gets a copy with another title on the next shard.
	peer := map[string]string{HeaderHop: "test", HeaderSecret: testSecret}
	for i := 1; i <= 20; i++ {
		code := fmt.Sprintf("listcopy%d", i)
		other := c.peers[(ring.Owner(code)+1)%len(c.peers)]
		link := fmt.Sprintf(`[{"URL":{"ID":%d,"ShortCode":%q,"OriginalURL":"https://example.com/%s","Title":"copy",`+
			`"IsActive":true,"CreatedAt":"2025-01-10T09:05:00Z","UpdatedAt":"2025-01-10T09:05:00Z"}}]`, i, code, code)
		if resp := sendHeaders(t, http.MethodPost, "http://"+other+"/_cluster/links/import", link, peer); resp.status != http.StatusOK {
			t.Fatalf("copy link %d to %s: %d %s", i, other, resp.status, resp.body)
		}
	}

	for _, path := range []string{"/urls?per_page=100", "/urls?page=3&per_page=7", "/urls?page=2&per_page=20"} {
		resp := send(t, http.MethodGet, api+path, "")
		if resp.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
		}
		if got := resp.header.Get("X-Total-Count"); got != "20" {
			t.Errorf("GET %s: X-Total-Count %s, want 20", path, got)
		}
		var items []struct {
			ID    uint64  `json:"id"`
			Title *string `json:"title"`
		}
		resp.json(t, &items)
		seen := make(map[uint64]bool)
		for _, it := range items {
			if seen[it.ID] {
				t.Errorf("GET %s lists id %d twice", path, it.ID)
			}
			seen[it.ID] = true
			if it.Title != nil {
				t.Errorf("GET %s: id %d has title %q, the copy's, want the owner's null", path, it.ID, *it.Title)
			}
		}
	}
	var last []struct {
		ID uint64 `json:"id"`
	}
	send(t, http.MethodGet, api+"/urls?page=3&per_page=7", "").json(t, &last)
	if len(last) != 6 {
		t.Errorf("GET /urls?page=3&per_page=7: %d items, want 6", len(last))
	}
}
