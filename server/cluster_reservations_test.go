package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/linkbolt/linkbolt/store"
)

// shardPages builds the pages of pageReservations from JSON arrays, one
// per shard.
func shardPages(t *testing.T, shards ...string) [][]json.RawMessage {
	t.Helper()
	pages := make([][]json.RawMessage, len(shards))
	for i, s := range shards {
		if err := json.Unmarshal([]byte(s), &pages[i]); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	return pages
}

func TestPageReservationsMerge(t *testing.T) {
	pages := shardPages(t,
		`[{"kind":"user","id":7,"short_code":null},{"kind":"url","id":9,"short_code":null},
		  {"kind":"url","id":3,"short_code":"bb"},{"kind":"url","id":4,"short_code":"dd"}]`,
		`[{"kind":"url","id":1099511627790,"short_code":null},{"kind":"event","id":1099511627800,"short_code":null},
		  {"kind":"url","id":3,"short_code":"bb"},{"kind":"url","id":1099511627780,"short_code":"cc"}]`,
		`[{"kind":"user","id":2199023255560,"short_code":null},{"kind":"url","id":5,"short_code":"aa"},
		  {"kind":"url","id":6,"short_code":"bb"}]`,
	)
	want := []string{
		`{"kind":"user","id":7,"short_code":null}`,
		`{"kind":"user","id":2199023255560,"short_code":null}`,
		`{"kind":"url","id":9,"short_code":null}`,
		`{"kind":"url","id":1099511627790,"short_code":null}`,
		`{"kind":"event","id":1099511627800,"short_code":null}`,
		`{"kind":"url","id":5,"short_code":"aa"}`,
		`{"kind":"url","id":3,"short_code":"bb"}`,
		`{"kind":"url","id":6,"short_code":"bb"}`,
		`{"kind":"url","id":1099511627780,"short_code":"cc"}`,
		`{"kind":"url","id":4,"short_code":"dd"}`,
	}

	tests := []struct {
		name          string
		page, perPage int
		first, count  int
	}{
		{name: "all", page: 1, perPage: 100, first: 0, count: len(want)},
		{name: "second page", page: 2, perPage: 4, first: 4, count: 4},
		{name: "last page", page: 3, perPage: 4, first: 8, count: 2},
		{name: "past the end", page: 4, perPage: 4, first: 10, count: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, copies, err := pageReservations(pages, store.Page{Page: tt.page, PerPage: tt.perPage})
			if err != nil {
				t.Fatal(err)
			}
			if copies != 1 {
				t.Errorf("copies = %d, want 1, the code bb with id 3 on two shards", copies)
			}
			if len(got) != tt.count {
				t.Fatalf("got %d items, want %d", len(got), tt.count)
			}
			for i, raw := range got {
				compact := strings.Join(strings.Fields(string(raw)), "")
				if compact != want[tt.first+i] {
					t.Errorf("item %d = %s, want %s", tt.first+i, compact, want[tt.first+i])
				}
			}
		})
	}
}

func TestPageReservationsInvalidJSON(t *testing.T) {
	pages := [][]json.RawMessage{{json.RawMessage(`{"kind":"user","id":"seven"}`)}}
	if _, _, err := pageReservations(pages, store.Page{Page: 1, PerPage: 10}); err == nil {
		t.Error("pageReservations accepted an id that is not a number")
	}
}
