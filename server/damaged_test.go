package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/linkbolt/linkbolt/store"
)

// damagedFileError is the error body of a request that read a damaged
// record.
const damagedFileError = "the database file is damaged; the operator must restore it from a backup"

// damagedFixture is a closed database file with one link, "docs" (id 1),
// its created event (id 1) and one click event (id 2), whose details are
// kept in the details field.
type damagedFixture struct {
	path    string
	details []byte
}

func buildDamagedFixture(t *testing.T) damagedFixture {
	t.Helper()
	fx := damagedFixture{path: filepath.Join(t.TempDir(), "damaged.db")}
	st, err := store.Open(fx.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	title := "Docs"
	link, err := st.CreateURL(store.URL{ShortCode: "docs", OriginalURL: "https://example.com/docs", Title: &title, IsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	click := store.Click{URLID: link.ID, Time: time.Now(), Referrer: "https://ref.example/", UserAgent: "Mozilla/5.0"}
	if err := st.RecordClicks([]store.Click{click}); err != nil {
		t.Fatal(err)
	}
	ev, err := st.GetEvent(2)
	if err != nil || ev.Type != store.EventClick {
		t.Fatalf("event 2 = %+v, %v; want the click", ev, err)
	}
	fx.details = ev.Details
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

// damageRecord replaces the first old in record id of the bucket with
// new, through bbolt alone, as damage on disk would.
func damageRecord(t *testing.T, path, bucket string, id uint64, old, new []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		key := binary.BigEndian.AppendUint64(nil, id)
		record := b.Get(key)
		if !bytes.Contains(record, old) {
			t.Fatalf("record %d of %s has no %q: %q", id, bucket, old, record)
		}
		return b.Put(key, bytes.Replace(record, old, new, 1))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// logLines decodes a JSON log and returns its lines of the level.
func logLines(t *testing.T, logs *logBuffer, level string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(raw), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", raw, err)
		}
		if line["level"] == level {
			lines = append(lines, line)
		}
	}
	return lines
}

// wantDamagedResponse checks a 503 for a damaged record: valid UTF-8, the
// JSON error body, no Retry-After, and one new ERROR line that names the
// record, the route and the status.
func wantDamagedResponse(t *testing.T, resp apiResponse, logs *logBuffer, errorsBefore int, route, record string) {
	t.Helper()
	if !utf8.Valid(resp.body) {
		t.Errorf("body is not valid UTF-8: %q", resp.body)
	}
	body := wantError(t, resp, http.StatusServiceUnavailable, "")
	if body["error"] != damagedFileError {
		t.Errorf("error = %q, want %q", body["error"], damagedFileError)
	}
	if got := resp.header.Get("Retry-After"); got != "" {
		t.Errorf("Retry-After = %q, want none, because only an operator can repair the file", got)
	}

	lines := logLines(t, logs, "ERROR")
	if len(lines) != errorsBefore+1 {
		t.Fatalf("%d ERROR lines, want %d:\n%s", len(lines), errorsBefore+1, logs.String())
	}
	line := lines[len(lines)-1]
	if line["msg"] != "request failed" {
		t.Errorf("msg = %v, want request failed", line["msg"])
	}
	if msg, _ := line["error"].(string); !strings.Contains(msg, record) {
		t.Errorf("logged error = %q, want it to contain %q", msg, record)
	}
	if line["route"] != route {
		t.Errorf("logged route = %v, want %q", line["route"], route)
	}
	if line["status"] != float64(http.StatusServiceUnavailable) {
		t.Errorf("logged status = %v, want 503", line["status"])
	}
}

func TestDamagedDetailsServed(t *testing.T) {
	fx := buildDamagedFixture(t)
	damaged := append([]byte("["), fx.details[1:]...)
	damageRecord(t, fx.path, "events", 2, fx.details, damaged)
	logs := &logBuffer{}
	a, _ := startAPIOnFile(t, fx.path, Options{Log: slog.New(slog.NewJSONHandler(logs, nil))}, nil)

	const record = "event 2 does not decode: details is not a JSON object"
	tests := []struct {
		name  string
		path  string
		route string
	}{
		{"list by type", "/events?event_type=click&per_page=1000", "GET /events"},
		{"list all", "/events", "GET /events"},
		{"get by id", "/events/2", "GET /events/{id}"},
		{"stats", "/urls/1/stats", "GET /urls/{id}/stats"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantDamagedResponse(t, a.get(t, tt.path), logs, i, tt.route, record)
		})
	}

	// Records that are not damaged are still served.
	wantStatus(t, a.get(t, "/events/1"), http.StatusOK)
	wantStatus(t, a.get(t, "/docs"), http.StatusFound)
}

func TestInvalidUTF8RecordsServed(t *testing.T) {
	fx := buildDamagedFixture(t)
	damageRecord(t, fx.path, "events", 2, []byte("Mozilla"), []byte("Mozill\xe0"))
	damageRecord(t, fx.path, "urls", 1, []byte("Docs"), []byte("Doc\xff"))
	logs := &logBuffer{}
	a, _ := startAPIOnFile(t, fx.path, Options{Log: slog.New(slog.NewJSONHandler(logs, nil))}, nil)

	tests := []struct {
		name   string
		path   string
		route  string
		record string
	}{
		{"event list", "/events", "GET /events", "event 2 does not decode: details is not valid UTF-8"},
		{"event by id", "/events/2", "GET /events/{id}", "event 2 does not decode: details is not valid UTF-8"},
		{"url list", "/urls", "GET /urls", "url 1 does not decode: title is not valid UTF-8"},
		{"url by id", "/urls/1", "GET /urls/{id}", "url 1 does not decode: title is not valid UTF-8"},
		// The redirect reads the link on a cache miss, outside the mux.
		{"redirect", "/docs", codeRoute, "url 1 does not decode: title is not valid UTF-8"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantDamagedResponse(t, a.get(t, tt.path), logs, i, tt.route, tt.record)
		})
	}
}

func TestWriteJSONLogsEncodingFailure(t *testing.T) {
	logs := &logBuffer{}
	srv := &Server{log: slog.New(slog.NewJSONHandler(logs, nil))}
	req := httptest.NewRequest(http.MethodGet, "/events?per_page=5", nil)
	req.Pattern = "GET /events"
	rec := httptest.NewRecorder()

	srv.writeJSON(rec, req, http.StatusOK, []json.RawMessage{json.RawMessage(`[1,`)})

	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if want := `{"error":"internal server error; the server log has the details"}` + "\n"; rec.Body.String() != want {
		t.Errorf("body = %q, want %q", rec.Body.String(), want)
	}
	lines := logLines(t, logs, "ERROR")
	if len(lines) != 1 {
		t.Fatalf("%d ERROR lines, want 1:\n%s", len(lines), logs.String())
	}
	line := lines[0]
	if line["msg"] != "encoding the response failed" {
		t.Errorf("msg = %v, want encoding the response failed", line["msg"])
	}
	if msg, _ := line["error"].(string); !strings.Contains(msg, "json") {
		t.Errorf("logged error = %q, want the encoding/json error", msg)
	}
	if line["route"] != "GET /events" {
		t.Errorf("logged route = %v, want GET /events", line["route"])
	}
	if line["method"] != http.MethodGet {
		t.Errorf("logged method = %v, want GET", line["method"])
	}
	if line["path"] != "/events" {
		t.Errorf("logged path = %v, want /events", line["path"])
	}
	if line["status"] != float64(http.StatusInternalServerError) {
		t.Errorf("logged status = %v, want 500", line["status"])
	}
}

func TestDamageMetByAnImportRowIs503(t *testing.T) {
	err := &store.ImportError{ID: 8, Err: &wrappedCorrupt{}}
	status, body := errorResponse(err)
	if status != http.StatusServiceUnavailable || body.Error != damagedFileError {
		t.Errorf("errorResponse of an import row that met damage = %d %q, want 503 %q", status, body.Error, damagedFileError)
	}
	status, _ = errorResponse(&store.ImportError{ID: 8, Err: store.ErrConflict})
	if status != http.StatusUnprocessableEntity {
		t.Errorf("errorResponse of a conflicting import row = %d, want 422", status)
	}
}

// wrappedCorrupt is an error that wraps store.ErrCorrupt, as the decoding
// of a damaged record returns.
type wrappedCorrupt struct{}

func (*wrappedCorrupt) Error() string { return "corrupt data: event 8 does not decode" }
func (*wrappedCorrupt) Unwrap() error { return store.ErrCorrupt }
