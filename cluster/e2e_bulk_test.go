package cluster

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	urlsHeader  = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n"
	usersHeader = "id,username,email,created_at\n"
)

// urlRow is one row of a urls CSV file.
func urlRow(id int, code string) string {
	return fmt.Sprintf("%d,,%s,https://example.com/%s,,True,2025-01-10 09:05:00,2025-01-10 09:05:00\n", id, code, code)
}

// keyOnOtherShard returns the first key of the form prefix-N whose owner is
// not the owner of key.
func keyOnOtherShard(t *testing.T, ring *Ring, prefix, key string) string {
	t.Helper()
	for i := range 1000 {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if ring.Owner(k) != ring.Owner(key) {
			return k
		}
	}
	t.Fatalf("no key %s-N has another owner than %q", prefix, key)
	return ""
}

// countIDs returns how often each id appears in a list response.
func countIDs(t *testing.T, resp response) map[uint64]int {
	t.Helper()
	var items []struct {
		ID uint64 `json:"id"`
	}
	resp.json(t, &items)
	counts := make(map[uint64]int)
	for _, it := range items {
		counts[it.ID]++
	}
	return counts
}

// TestClusterBulkReplacesByID imports records again under the same ids with
// a code or username that another shard owns. As on a single server, the
// record is replaced: it moves to the new owner with its clicks, and the
// old copy is gone.
func TestClusterBulkReplacesByID(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	ring, err := NewRing(c.peers)
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + c.nginx

	var file strings.Builder
	file.WriteString(urlsHeader)
	for i := 1; i <= 30; i++ {
		file.WriteString(urlRow(i, fmt.Sprintf("bulkid%d", i)))
	}
	if resp := send(t, http.MethodPost, api+"/urls/bulk", file.String()); resp.status != http.StatusCreated {
		t.Fatalf("POST /urls/bulk: %d %s", resp.status, resp.body)
	}
	for range 2 {
		if resp := send(t, http.MethodGet, api+"/bulkid5", ""); resp.status != http.StatusFound {
			t.Fatalf("GET /bulkid5: %d %s", resp.status, resp.body)
		}
	}

	newCode := keyOnOtherShard(t, ring, "moved", "bulkid5")
	resp := send(t, http.MethodPost, api+"/urls/bulk", urlsHeader+urlRow(5, newCode))
	if resp.status != http.StatusCreated {
		t.Fatalf("POST /urls/bulk with id 5 under %s: %d %s", newCode, resp.status, resp.body)
	}

	list := send(t, http.MethodGet, api+"/urls?per_page=100", "")
	if got := countIDs(t, list)[5]; got != 1 {
		t.Errorf("GET /urls lists id 5 %d times, want 1", got)
	}
	if got := list.header.Get("X-Total-Count"); got != "30" {
		t.Errorf("GET /urls: X-Total-Count %s, want 30", got)
	}
	var link struct {
		ShortCode  string `json:"short_code"`
		ClickCount int    `json:"click_count"`
	}
	send(t, http.MethodGet, api+"/urls/5", "").json(t, &link)
	if link.ShortCode != newCode {
		t.Errorf("GET /urls/5: short_code %q, want %q", link.ShortCode, newCode)
	}
	if link.ClickCount != 2 {
		t.Errorf("GET /urls/5: click_count %d, want 2, the clicks before the move", link.ClickCount)
	}
	if resp := send(t, http.MethodGet, api+"/bulkid5", ""); resp.status != http.StatusNotFound {
		t.Errorf("GET /bulkid5 after the code changed: %d, want 404", resp.status)
	}
	if resp := send(t, http.MethodGet, api+"/"+newCode, ""); resp.status != http.StatusFound {
		t.Errorf("GET /%s: %d, want 302: %s", newCode, resp.status, resp.body)
	}

	// Users move the same way when their username changes owner.
	users := usersHeader + "1,bulkuser,bulkuser@example.com,2025-01-10 09:00:00\n" +
		"2,other,other@example.com,2025-01-10 09:00:00\n"
	if resp := send(t, http.MethodPost, api+"/users/bulk", users); resp.status != http.StatusCreated {
		t.Fatalf("POST /users/bulk: %d %s", resp.status, resp.body)
	}
	newName := keyOnOtherShard(t, ring, "renamed", "bulkuser")
	again := usersHeader + "1," + newName + ",bulkuser@example.com,2025-01-10 09:00:00\n"
	if resp := send(t, http.MethodPost, api+"/users/bulk", again); resp.status != http.StatusCreated {
		t.Fatalf("POST /users/bulk with id 1 as %s: %d %s", newName, resp.status, resp.body)
	}
	userList := send(t, http.MethodGet, api+"/users", "")
	if got := countIDs(t, userList)[1]; got != 1 {
		t.Errorf("GET /users lists id 1 %d times, want 1", got)
	}
	if got := userList.header.Get("X-Total-Count"); got != "2" {
		t.Errorf("GET /users: X-Total-Count %s, want 2", got)
	}
	var user struct {
		Username string `json:"username"`
	}
	send(t, http.MethodGet, api+"/users/1", "").json(t, &user)
	if user.Username != newName {
		t.Errorf("GET /users/1: username %q, want %q", user.Username, newName)
	}
}

// TestClusterBulkConflictWritesNothing imports a file whose one row takes a
// code that an existing link holds. As on a single server, the import
// fails with 422 and no row of the file is written on any shard.
func TestClusterBulkConflictWritesNothing(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	api := "http://" + c.nginx
	if resp := send(t, http.MethodPost, api+"/urls", `{"original_url":"https://example.com/x","short_code":"taken"}`); resp.status != http.StatusCreated {
		t.Fatalf("POST /urls: %d %s", resp.status, resp.body)
	}

	var file strings.Builder
	file.WriteString(urlsHeader)
	for i := 1; i <= 30; i++ {
		file.WriteString(urlRow(1000+i, fmt.Sprintf("fresh%d", i)))
	}
	file.WriteString(urlRow(2000, "taken"))
	resp := send(t, http.MethodPost, api+"/urls/bulk", file.String())
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("POST /urls/bulk with a taken code: %d, want 422: %s", resp.status, resp.body)
	}
	if !strings.Contains(string(resp.body), "no rows were imported") {
		t.Errorf("POST /urls/bulk: body %s does not say that no rows were imported", resp.body)
	}

	redirected := 0
	for i := 1; i <= 30; i++ {
		if send(t, http.MethodGet, fmt.Sprintf("%s/fresh%d", api, i), "").status != http.StatusNotFound {
			redirected++
		}
	}
	if redirected != 0 {
		t.Errorf("%d of 30 codes of the rejected file redirect, want 0", redirected)
	}
	if got := send(t, http.MethodGet, api+"/urls", "").header.Get("X-Total-Count"); got != "1" {
		t.Errorf("GET /urls: X-Total-Count %s, want 1", got)
	}
}

// TestClusterBulkListsEveryConflict imports rows whose codes links on
// different shards hold. The 422 lists every such row, from all shards,
// as one server lists them.
func TestClusterBulkListsEveryConflict(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	api := "http://" + c.nginx
	const takenCount = 6
	shards := make(map[string]bool)
	for i := 1; i <= takenCount; i++ {
		resp := send(t, http.MethodPost, api+"/urls", fmt.Sprintf(`{"original_url":"https://example.com/%d","short_code":"taken%d"}`, i, i))
		if resp.status != http.StatusCreated {
			t.Fatalf("POST /urls: %d %s", resp.status, resp.body)
		}
		shards[resp.header.Get("X-Linkbolt-Instance")] = true
	}
	if len(shards) < 2 {
		t.Fatalf("the %d codes landed on %d shard, want at least 2 for this test", takenCount, len(shards))
	}

	var file strings.Builder
	file.WriteString(urlsHeader)
	for i := 1; i <= 10; i++ {
		file.WriteString(urlRow(1000+i, fmt.Sprintf("fresh%d", i)))
	}
	for i := 1; i <= takenCount; i++ {
		file.WriteString(urlRow(2000+i, fmt.Sprintf("taken%d", i)))
	}
	resp := send(t, http.MethodPost, api+"/urls/bulk", file.String())
	if resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("POST /urls/bulk with taken codes: %d, want 422: %s", resp.status, resp.body)
	}
	var body struct {
		Error string `json:"error"`
		Rows  []struct {
			ID uint64 `json:"id"`
		} `json:"rows"`
	}
	resp.json(t, &body)
	if want := fmt.Sprintf("no rows were imported: %d rows conflict with stored records", takenCount); body.Error != want {
		t.Errorf("error %q, want %q", body.Error, want)
	}
	var ids []uint64
	for _, row := range body.Rows {
		ids = append(ids, row.ID)
	}
	if want := []uint64{2001, 2002, 2003, 2004, 2005, 2006}; !slices.Equal(ids, want) {
		t.Errorf("rows name ids %v, want %v", ids, want)
	}
	if got := send(t, http.MethodGet, api+"/urls", "").header.Get("X-Total-Count"); got != strconv.Itoa(takenCount) {
		t.Errorf("GET /urls: X-Total-Count %s, want %d", got, takenCount)
	}
}
