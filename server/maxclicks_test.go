package server

import (
	"net/http"
	"strings"
	"testing"
)

// maxClicksRangeError is the 422 message of a max_clicks outside the range
// that the store keeps.
const maxClicksRangeError = "max_clicks must be an integer from 1 to 9223372036854775807, or null for no limit"

func TestMaxClicksRange(t *testing.T) {
	a := startAPI(t, Options{})

	// The largest limit is stored and sent back exactly.
	resp := a.send(t, http.MethodPost, "/urls", `{"original_url":"https://example.com/","max_clicks":9223372036854775807}`)
	wantStatus(t, resp, http.StatusCreated)
	if !strings.Contains(string(resp.body), `"max_clicks":9223372036854775807,`) {
		t.Errorf("create with the largest max_clicks: body %s, want it sent back exactly", resp.body)
	}
	updated := a.send(t, http.MethodPut, "/urls/1", `{"max_clicks":9223372036854775807}`)
	wantStatus(t, updated, http.StatusOK)

	tests := []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{"create above range", http.MethodPost, "/urls", `{"original_url":"https://example.com/","max_clicks":9223372036854775808}`},
		{"create far above range", http.MethodPost, "/urls", `{"original_url":"https://example.com/","max_clicks":99999999999999999999}`},
		{"create zero", http.MethodPost, "/urls", `{"original_url":"https://example.com/","max_clicks":0}`},
		{"update above range", http.MethodPut, "/urls/1", `{"max_clicks":9223372036854775808}`},
		{"update negative", http.MethodPut, "/urls/1", `{"max_clicks":-1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := wantError(t, a.send(t, tt.method, tt.path, tt.body), http.StatusUnprocessableEntity, "max_clicks")
			if body["error"] != maxClicksRangeError {
				t.Errorf("error = %q, want %q", body["error"], maxClicksRangeError)
			}
		})
	}
	if _, total := a.list(t, "/urls"); total != 1 {
		t.Errorf("X-Total-Count of /urls = %d, want 1 after the rejected creates", total)
	}
}

func TestBulkMaxClicksRange(t *testing.T) {
	a := startAPI(t, Options{})
	const header = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at,expires_at,max_clicks,redirect_type\n"

	resp := a.postCSV(t, "/urls/bulk", header+"1,,big,https://example.com/,,True,2025-06-09 11:24:49,,,9223372036854775808,\n")
	body := wantError(t, resp, http.StatusUnprocessableEntity, "")
	rows, _ := body["rows"].([]any)
	if len(rows) != 1 {
		t.Fatalf("rows = %v, want one invalid row", body["rows"])
	}
	row, _ := rows[0].(map[string]any)
	if want := `max_clicks "9223372036854775808" is larger than 9223372036854775807`; row["reason"] != want {
		t.Errorf("reason = %q, want %q", row["reason"], want)
	}

	if n := a.importCSV(t, "/urls/bulk", header+"1,,big,https://example.com/,,True,2025-06-09 11:24:49,,,9223372036854775807,\n"); n != 1 {
		t.Fatalf("imported %d rows, want 1", n)
	}
	link := a.get(t, "/urls/1")
	wantStatus(t, link, http.StatusOK)
	if !strings.Contains(string(link.body), `"max_clicks":9223372036854775807,`) {
		t.Errorf("imported link: body %s, want max_clicks 9223372036854775807", link.body)
	}
}
