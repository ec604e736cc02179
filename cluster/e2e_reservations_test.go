package cluster

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/linkbolt/linkbolt/internal/integration"
)

// reservation is one item of GET /admin/reservations.
type reservation struct {
	Kind      string  `json:"kind"`
	ID        uint64  `json:"id"`
	ShortCode *string `json:"short_code"`
}

func (r reservation) String() string {
	if r.ShortCode == nil {
		return fmt.Sprintf("%s %d", r.Kind, r.ID)
	}
	return fmt.Sprintf("%s %d %s", r.Kind, r.ID, *r.ShortCode)
}

// ownedKey returns the first key prefixN that the shard at index owns.
func ownedKey(t *testing.T, ring *Ring, prefix string, index int) string {
	t.Helper()
	for i := range 1000 {
		key := fmt.Sprintf("%s%d", prefix, i)
		if ring.Owner(key) == index {
			return key
		}
	}
	t.Fatalf("no key %sN is owned by shard %d", prefix, index)
	return ""
}

// createID sends a create request and returns the id of the new record.
func createID(t *testing.T, url, body string) uint64 {
	t.Helper()
	resp := send(t, http.MethodPost, url, body)
	if resp.status != http.StatusCreated {
		t.Fatalf("POST %s %s: %d %s", url, body, resp.status, resp.body)
	}
	var rec struct {
		ID uint64 `json:"id"`
	}
	resp.json(t, &rec)
	return rec.ID
}

// listReservations returns every reservation of the cluster behind api,
// read in pages of perPage, and checks X-Total-Count on each page.
func listReservations(t *testing.T, api string, perPage int) []reservation {
	t.Helper()
	var all []reservation
	for page := 1; ; page++ {
		path := fmt.Sprintf("%s/admin/reservations?page=%d&per_page=%d", api, page, perPage)
		resp := send(t, http.MethodGet, path, "")
		if resp.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
		}
		var items []reservation
		resp.json(t, &items)
		all = append(all, items...)
		if len(items) < perPage {
			if got, want := resp.header.Get("X-Total-Count"), fmt.Sprint(len(all)); got != want {
				t.Errorf("GET %s: X-Total-Count %s, want %s, the number of items on all pages", path, got, want)
			}
			return all
		}
	}
}

// TestClusterReservationsRoundTrip removes links on every shard of one
// cluster, exports it through NGINX and imports the files into a new
// cluster through NGINX. Every removed code must stay reserved there, and
// every shard must draw new ids above the ids that its range issued.
func TestClusterReservationsRoundTrip(t *testing.T) {
	t.Parallel()
	src := startCluster(t, 3)
	ring, err := NewRing(src.peers)
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + src.nginx

	// Every shard gets a user and two links: one is deleted, and the other
	// is made inactive and purged.
	var removed []reservation
	var purgedIDs []uint64
	for shard := range src.peers {
		name := ownedKey(t, ring, "resvuser", shard)
		createID(t, api+"/users", fmt.Sprintf(`{"username":%q,"email":"%s@example.com"}`, name, name))

		deletedCode := ownedKey(t, ring, "resvgone", shard)
		deletedID := createID(t, api+"/urls", fmt.Sprintf(`{"original_url":"https://example.com/%s","short_code":%q}`, deletedCode, deletedCode))
		purgedCode := ownedKey(t, ring, "resvpurged", shard)
		purgedID := createID(t, api+"/urls", fmt.Sprintf(`{"original_url":"https://example.com/%s","short_code":%q}`, purgedCode, purgedCode))
		purgedIDs = append(purgedIDs, purgedID)

		if resp := send(t, http.MethodDelete, fmt.Sprintf("%s/urls/%d", api, deletedID), ""); resp.status != http.StatusNoContent {
			t.Fatalf("DELETE /urls/%d: %d %s", deletedID, resp.status, resp.body)
		}
		if resp := send(t, http.MethodPut, fmt.Sprintf("%s/urls/%d", api, purgedID), `{"is_active":false}`); resp.status != http.StatusOK {
			t.Fatalf("PUT /urls/%d: %d %s", purgedID, resp.status, resp.body)
		}
		removed = append(removed,
			reservation{Kind: "url", ID: deletedID, ShortCode: &deletedCode},
			reservation{Kind: "url", ID: purgedID, ShortCode: &purgedCode})
	}

	// The highest id of each kind in each shard's range, taken before the
	// purge removes the events of the purged links.
	highest := map[string]map[int]uint64{"user": {}, "url": {}, "event": {}}
	for kind, path := range map[string]string{"user": "/users", "event": "/events"} {
		resp := send(t, http.MethodGet, api+path+"?per_page=1000", "")
		if resp.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.status, resp.body)
		}
		for id := range countIDs(t, resp) {
			shard := RangeShard(id)
			highest[kind][shard] = max(highest[kind][shard], id)
		}
	}
	for _, res := range removed {
		shard := RangeShard(res.ID)
		highest["url"][shard] = max(highest["url"][shard], res.ID)
	}

	resp := send(t, http.MethodPost, api+"/admin/purge", `{"inactive":true}`)
	if resp.status != http.StatusOK {
		t.Fatalf("POST /admin/purge: %d %s", resp.status, resp.body)
	}
	var purge struct {
		Links int `json:"links"`
	}
	resp.json(t, &purge)
	if purge.Links != len(purgedIDs) {
		t.Fatalf("POST /admin/purge removed %d links, want %d", purge.Links, len(purgedIDs))
	}

	// The list through NGINX holds the id rows of every shard and every
	// removed code, in the same order on every page size.
	var want []reservation
	for _, kind := range []string{"user", "url", "event"} {
		for shard := range src.peers {
			if id := highest[kind][shard]; id > 0 {
				want = append(want, reservation{Kind: kind, ID: id})
			}
		}
	}
	codes := slices.Clone(removed)
	slices.SortFunc(codes, func(a, b reservation) int { return strings.Compare(*a.ShortCode, *b.ShortCode) })
	want = append(want, codes...)
	for _, perPage := range []int{1000, 4, 1} {
		got := listReservations(t, api, perPage)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("GET /admin/reservations in pages of %d:\n got %v\nwant %v", perPage, got, want)
		}
	}

	// Export through NGINX and import into a new cluster through NGINX.
	dir := filepath.Join(t.TempDir(), "export")
	if out, code := integration.Run(t, "export", "--server", api, "--dir", dir); code != 0 {
		t.Fatalf("export exited with %d: %s", code, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "reservations.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range removed {
		if !strings.Contains(string(data), *res.ShortCode) {
			t.Errorf("reservations.csv lacks the code %s of shard %d:\n%s", *res.ShortCode, RangeShard(res.ID), data)
		}
	}

	dst := startCluster(t, 3)
	dstRing, err := NewRing(dst.peers)
	if err != nil {
		t.Fatal(err)
	}
	dstAPI := "http://" + dst.nginx
	out, code := integration.Run(t, "import", "--server", dstAPI,
		"--users", filepath.Join(dir, "users.csv"), "--urls", filepath.Join(dir, "urls.csv"),
		"--events", filepath.Join(dir, "events.csv"), "--reservations", filepath.Join(dir, "reservations.csv"))
	if code != 0 {
		t.Fatalf("import exited with %d: %s", code, out)
	}

	for _, res := range removed {
		body := fmt.Sprintf(`{"original_url":"https://example.com/again","short_code":%q}`, *res.ShortCode)
		if resp := send(t, http.MethodPost, dstAPI+"/urls", body); resp.status != http.StatusConflict {
			t.Errorf("POST /urls with removed code %s: %d, want 409: %s", *res.ShortCode, resp.status, resp.body)
		}
	}

	for shard := range dst.peers {
		name := ownedKey(t, dstRing, "freshuser", shard)
		userID := createID(t, dstAPI+"/users", fmt.Sprintf(`{"username":%q,"email":"%s@example.com"}`, name, name))
		fresh := ownedKey(t, dstRing, "fresh", shard)
		urlID := createID(t, dstAPI+"/urls", fmt.Sprintf(`{"original_url":"https://example.com/%s","short_code":%q}`, fresh, fresh))
		eventID := createID(t, dstAPI+"/events", fmt.Sprintf(`{"event_type":"note","url_id":%d}`, urlID))

		for kind, id := range map[string]uint64{"user": userID, "url": urlID, "event": eventID} {
			if RangeShard(id) != shard {
				t.Errorf("new %s %d on shard %d lies in the range of shard %d", kind, id, shard, RangeShard(id))
			}
			if old := highest[kind][shard]; id <= old {
				t.Errorf("new %s on shard %d has id %d, want above %d, the highest id that shard issued before the export", kind, shard, id, old)
			}
		}
	}
}

// TestClusterReservationsShardDown checks the reservation routes while a
// shard is down. The list fails with 503 naming it. An import writes the
// other shards and fails with 503, and the same file sent again once the
// shard is back completes it.
func TestClusterReservationsShardDown(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ring, err := NewRing(c.peers)
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + c.nginx

	resp := send(t, http.MethodGet, api+"/admin/reservations/bulk", "")
	if resp.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /admin/reservations/bulk: %d, want 405: %s", resp.status, resp.body)
	}
	resp = send(t, http.MethodPost, api+"/admin/reservations/bulk", "kind,id,short_code\nurl,5,bad code!\n")
	if resp.status != http.StatusUnprocessableEntity {
		t.Errorf("POST /admin/reservations/bulk with an invalid code: %d, want 422: %s", resp.status, resp.body)
	}
	for _, bad := range []struct{ method, path, body string }{
		{http.MethodGet, "/admin/reservations?per_page=lots", ""},
		{http.MethodPost, "/admin/reservations/bulk", "kind,id\nbook,5\n"},
		{http.MethodPost, "/admin/reservations/bulk", `{"kind":"url"}`},
	} {
		resp := send(t, bad.method, api+bad.path, bad.body)
		var body struct {
			Error string `json:"error"`
		}
		resp.json(t, &body)
		if resp.status < 400 || resp.status >= 500 || body.Error == "" {
			t.Errorf("%s %s with %q: %d %s, want a 4xx JSON error", bad.method, bad.path, bad.body, resp.status, resp.body)
		}
	}
	if got := listReservations(t, api, 100); len(got) != 0 {
		t.Errorf("GET /admin/reservations after a rejected file: %v, want none", got)
	}

	// One code per shard, and user ids in the ranges of shards 0 and 2.
	shard2User := uint64(2)<<RangeBits + 5
	file := fmt.Sprintf("kind,id,short_code\nuser,50,\nuser,%d,\n", shard2User)
	var codes []string
	for shard := range c.peers {
		code := ownedKey(t, ring, "downcode", shard)
		codes = append(codes, code)
		file += fmt.Sprintf("url,%d,%s\n", 10+shard, code)
	}

	dead := c.peers[1]
	c.procs[1].Kill()
	resp = send(t, http.MethodGet, api+"/admin/reservations", "")
	if resp.status != http.StatusServiceUnavailable || !strings.Contains(string(resp.body), dead) {
		t.Errorf("GET /admin/reservations with a shard down: %d %s, want 503 naming %s", resp.status, resp.body, dead)
	}

	resp = send(t, http.MethodPost, api+"/admin/reservations/bulk", file)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("POST /admin/reservations/bulk with a shard down: %d, want 503: %s", resp.status, resp.body)
	}
	if resp.header.Get("Retry-After") == "" {
		t.Errorf("POST /admin/reservations/bulk: 503 without Retry-After")
	}
	var partial struct {
		Error          string   `json:"error"`
		Shard          string   `json:"shard"`
		ImportedShards []string `json:"imported_shards"`
	}
	resp.json(t, &partial)
	if partial.Shard != dead {
		t.Errorf("partial import: shard %q, want %q", partial.Shard, dead)
	}
	live := []string{c.peers[0], c.peers[2]}
	slices.Sort(live)
	if !slices.Equal(partial.ImportedShards, live) {
		t.Errorf("partial import: imported_shards %v, want %v", partial.ImportedShards, live)
	}
	if !strings.Contains(partial.Error, "import the same file again") {
		t.Errorf("partial import: error %q does not ask for the same file again", partial.Error)
	}

	// The file sent again once the shard is back completes the import.
	c.procs[1].Start()
	for range 2 {
		resp = send(t, http.MethodPost, api+"/admin/reservations/bulk", file)
		if resp.status != http.StatusCreated {
			t.Fatalf("POST /admin/reservations/bulk after the restart: %d %s", resp.status, resp.body)
		}
	}
	for _, code := range codes {
		body := fmt.Sprintf(`{"original_url":"https://example.com/x","short_code":%q}`, code)
		if resp := send(t, http.MethodPost, api+"/urls", body); resp.status != http.StatusConflict {
			t.Errorf("POST /urls with reserved code %s of shard %d: %d, want 409: %s",
				code, ring.Owner(code), resp.status, resp.body)
		}
	}

	// Shard 0 keeps user 50 and url 12, the highest url id in its range,
	// and shard 2 keeps its user id. Each code is listed once.
	want := []string{"user 50", fmt.Sprintf("user %d", shard2User), "url 12"}
	sorted := slices.Clone(codes)
	slices.Sort(sorted)
	for _, code := range sorted {
		for shard, c := range codes {
			if c == code {
				want = append(want, fmt.Sprintf("url %d %s", 10+shard, code))
			}
		}
	}
	got := listReservations(t, api, 100)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GET /admin/reservations:\n got %v\nwant %v", got, want)
	}
}
