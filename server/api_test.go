package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// These tests drive the real handler over HTTP against a store in
// t.TempDir() and check the HTTP contract of the API: routes, status codes,
// validation rules, JSON shapes, paging, redirects and bulk imports.

// apiClient sends requests to a test server. Redirects are not followed.
type apiClient struct {
	base   string
	client *http.Client
}

// apiRequest is one request to the test server. An empty contentType sends
// no Content-Type header.
type apiRequest struct {
	method      string
	path        string
	contentType string
	body        string
	header      map[string]string
}

// apiResponse is a response whose body was read in full.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// testClickFlush is the click recorder's flush interval in these tests,
// unless a test sets its own. It is far longer than any test, so a click is
// committed only when a request or the shutdown makes the recorder write
// it, and no check passes because a timer happened to fire first.
const testClickFlush = time.Hour

// startAPI starts the handler of a new server with opts over a new store.
// Cleanup closes the listener, then shuts the server down, which writes the
// queued clicks, and closes the store last.
func startAPI(t *testing.T, opts Options) *apiClient {
	t.Helper()
	client, _ := startAPIOnStore(t, opts, nil)
	return client
}

// startAPIOnStore is startAPI on a store opened with storeOpts. It also
// returns the server.
func startAPIOnStore(t *testing.T, opts Options, storeOpts *store.Options) (*apiClient, *Server) {
	t.Helper()
	return startAPIOnFile(t, filepath.Join(t.TempDir(), "linkbolt.db"), opts, storeOpts)
}

// startAPIOnFile is startAPIOnStore on the database file at path.
func startAPIOnFile(t *testing.T, path string, opts Options, storeOpts *store.Options) (*apiClient, *Server) {
	t.Helper()
	if opts.Clicks.Flush == 0 {
		opts.Clicks.Flush = testClickFlush
	}
	st, err := store.Open(path, storeOpts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})

	opts.Store = st
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shut down server: %v", err)
		}
	})

	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}
	return &apiClient{base: ts.URL, client: client}, srv
}

func (a *apiClient) do(t *testing.T, req apiRequest) apiResponse {
	t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, a.base+req.path, body)
	if err != nil {
		t.Fatalf("build request %s %s: %v", req.method, req.path, err)
	}
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	for name, value := range req.header {
		r.Header.Set(name, value)
	}

	resp, err := a.client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.method, req.path, err)
	}
	return apiResponse{status: resp.StatusCode, header: resp.Header, body: data}
}

func (a *apiClient) get(t *testing.T, path string) apiResponse {
	t.Helper()
	return a.do(t, apiRequest{method: http.MethodGet, path: path})
}

func (a *apiClient) head(t *testing.T, path string) apiResponse {
	t.Helper()
	return a.do(t, apiRequest{method: http.MethodHead, path: path})
}

func (a *apiClient) delete(t *testing.T, path string) apiResponse {
	t.Helper()
	return a.do(t, apiRequest{method: http.MethodDelete, path: path})
}

// send sends body as application/json.
func (a *apiClient) send(t *testing.T, method, path, body string) apiResponse {
	t.Helper()
	return a.do(t, apiRequest{method: method, path: path, contentType: "application/json", body: body})
}

// createUser posts a user and returns the 201 body.
func (a *apiClient) createUser(t *testing.T, username, email string) map[string]any {
	t.Helper()
	body := mustJSON(t, map[string]any{"username": username, "email": email})
	user := wantObject(t, a.send(t, http.MethodPost, "/users", body), http.StatusCreated)
	checkUser(t, user)
	return user
}

// createURL posts a URL with the fields and returns the 201 body.
func (a *apiClient) createURL(t *testing.T, fields map[string]any) map[string]any {
	t.Helper()
	link := wantObject(t, a.send(t, http.MethodPost, "/urls", mustJSON(t, fields)), http.StatusCreated)
	checkURL(t, link)
	return link
}

// list gets a list route and returns its items and X-Total-Count.
func (a *apiClient) list(t *testing.T, path string) ([]map[string]any, int) {
	t.Helper()
	resp := a.get(t, path)
	items := wantArray(t, resp, http.StatusOK)
	return items, totalCount(t, resp)
}

// events returns every event that matches the query, checking the shape of
// each.
func (a *apiClient) events(t *testing.T, query string) []map[string]any {
	t.Helper()
	items, total := a.list(t, "/events?per_page=1000&"+query)
	if total != len(items) {
		t.Fatalf("GET /events?%s: X-Total-Count %d, got %d items", query, total, len(items))
	}
	for _, ev := range items {
		checkEvent(t, ev)
	}
	return items
}

// postCSV sends a CSV file to a bulk route as the file field of a
// multipart body, after a row_count field as form clients send it.
func (a *apiClient) postCSV(t *testing.T, path, text string) apiResponse {
	t.Helper()
	contentType, body := multipartCSV(t, text, true)
	return a.do(t, apiRequest{method: http.MethodPost, path: path, contentType: contentType, body: body})
}

// importCSV posts a CSV file that must import and returns the row count.
func (a *apiClient) importCSV(t *testing.T, path, text string) int {
	t.Helper()
	result := wantObject(t, a.postCSV(t, path, text), http.StatusCreated)
	wantKeys(t, result, "imported", "count")
	n := jsonInt(t, result["imported"])
	if count := jsonInt(t, result["count"]); count != n {
		t.Fatalf("POST %s: imported %d but count %d", path, n, count)
	}
	return int(n)
}

// multipartCSV builds a multipart/form-data body with the CSV as the file
// field and a row_count field before or after it.
func multipartCSV(t *testing.T, text string, rowCountFirst bool) (contentType, body string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	rows := strconv.Itoa(strings.Count(strings.TrimSpace(text), "\n"))
	if rowCountFirst {
		if err := mw.WriteField("row_count", rows); err != nil {
			t.Fatal(err)
		}
	}
	part, err := mw.CreateFormFile("file", "data.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(part, text); err != nil {
		t.Fatal(err)
	}
	if !rowCountFirst {
		if err := mw.WriteField("row_count", rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.String()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %v: %v", v, err)
	}
	return string(data)
}

// clip shortens a body for a failure message.
func clip(body []byte) string {
	const limit = 400
	if len(body) > limit {
		return string(body[:limit]) + "..."
	}
	return string(body)
}

// decodeJSON decodes one JSON value with numbers kept as json.Number.
func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body is not JSON: %v; body: %s", err, clip(data))
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("body has data after the JSON value: %s", clip(data))
	}
	return v
}

func wantStatus(t *testing.T, resp apiResponse, status int) {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status %d, want %d; body: %s", resp.status, status, clip(resp.body))
	}
}

// wantJSON checks the status and the JSON Content-Type and decodes the body.
func wantJSON(t *testing.T, resp apiResponse, status int) any {
	t.Helper()
	wantStatus(t, resp, status)
	contentType := resp.header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body: %s", contentType, clip(resp.body))
	}
	return decodeJSON(t, resp.body)
}

func wantObject(t *testing.T, resp apiResponse, status int) map[string]any {
	t.Helper()
	obj, ok := wantJSON(t, resp, status).(map[string]any)
	if !ok {
		t.Fatalf("body is not a JSON object: %s", clip(resp.body))
	}
	return obj
}

// wantArray checks for a JSON array of objects. A null body fails.
func wantArray(t *testing.T, resp apiResponse, status int) []map[string]any {
	t.Helper()
	values, ok := wantJSON(t, resp, status).([]any)
	if !ok {
		t.Fatalf("body is not a JSON array: %s", clip(resp.body))
	}
	items := make([]map[string]any, 0, len(values))
	for i, v := range values {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("item %d is not an object: %v", i, v)
		}
		items = append(items, obj)
	}
	return items
}

// wantError checks an error response: the status, a JSON body with a
// non-empty "error" string, and, if the body names a field, that field.
// An empty field skips the field check.
func wantError(t *testing.T, resp apiResponse, status int, field string) map[string]any {
	t.Helper()
	obj := wantObject(t, resp, status)
	msg, ok := obj["error"].(string)
	if !ok || strings.TrimSpace(msg) == "" {
		t.Fatalf("error body has no error message: %s", clip(resp.body))
	}
	if got, named := obj["field"]; named && field != "" && got != field {
		t.Errorf("error names field %v, want %q; body: %s", got, field, clip(resp.body))
	}
	return obj
}

// totalCount returns the X-Total-Count header of a list response.
func totalCount(t *testing.T, resp apiResponse) int {
	t.Helper()
	raw := resp.header.Get("X-Total-Count")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		t.Fatalf("X-Total-Count %q is not a count", raw)
	}
	return n
}

// wantKeys checks that obj has exactly the keys.
func wantKeys(t *testing.T, obj map[string]any, keys ...string) {
	t.Helper()
	got := make([]string, 0, len(obj))
	for k := range obj {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(keys))
	if !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

// wantKeysAtLeast checks that obj has the keys and maybe others.
func wantKeysAtLeast(t *testing.T, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Fatalf("object has no %q key: %v", k, obj)
		}
	}
}

var integerPattern = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// jsonInt returns v, which must be a JSON integer: no quotes, fraction or
// exponent.
func jsonInt(t *testing.T, v any) int64 {
	t.Helper()
	num, ok := v.(json.Number)
	if !ok || !integerPattern.MatchString(string(num)) {
		t.Fatalf("%#v is not a JSON integer", v)
	}
	n, err := num.Int64()
	if err != nil {
		t.Fatalf("%s: %v", num, err)
	}
	return n
}

// jsonID returns v, which must be a JSON integer from 1 to 2^53-1.
func jsonID(t *testing.T, v any) uint64 {
	t.Helper()
	n := jsonInt(t, v)
	if n < 1 || n > store.MaxID {
		t.Fatalf("id %d is outside 1 to 2^53-1", n)
	}
	return uint64(n)
}

// jsonOptionalID returns v, which must be an id or null. Null gives 0.
func jsonOptionalID(t *testing.T, v any) uint64 {
	t.Helper()
	if v == nil {
		return 0
	}
	return jsonID(t, v)
}

var timestampPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$`)

// jsonTime parses v, which must be a timestamp such as 2025-09-19T22:25:05.
func jsonTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	if !ok || !timestampPattern.MatchString(s) {
		t.Fatalf("%#v is not a YYYY-MM-DDTHH:MM:SS timestamp", v)
	}
	ts, err := time.Parse(store.TimeLayout, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return ts
}

// wantTimeBetween checks that a timestamp lies between before and after,
// the times taken around the request, at the API's one-second resolution.
func wantTimeBetween(t *testing.T, v any, before, after time.Time) {
	t.Helper()
	ts := jsonTime(t, v)
	if ts.Before(before.UTC().Truncate(time.Second)) || ts.After(after.UTC()) {
		t.Fatalf("timestamp %s is outside the request, %s to %s (UTC)",
			ts.Format(store.TimeLayout), before.UTC().Format(time.RFC3339), after.UTC().Format(time.RFC3339))
	}
}

func checkUser(t *testing.T, user map[string]any) {
	t.Helper()
	wantKeys(t, user, "id", "username", "email", "created_at")
	jsonID(t, user["id"])
	if _, ok := user["username"].(string); !ok {
		t.Fatalf("username %#v is not a string", user["username"])
	}
	if _, ok := user["email"].(string); !ok {
		t.Fatalf("email %#v is not a string", user["email"])
	}
	jsonTime(t, user["created_at"])
}

func checkURL(t *testing.T, link map[string]any) {
	t.Helper()
	wantKeysAtLeast(t, link, "id", "user_id", "short_code", "original_url", "title",
		"is_active", "created_at", "updated_at")
	jsonID(t, link["id"])
	jsonOptionalID(t, link["user_id"])
	if _, ok := link["short_code"].(string); !ok {
		t.Fatalf("short_code %#v is not a string", link["short_code"])
	}
	if _, ok := link["original_url"].(string); !ok {
		t.Fatalf("original_url %#v is not a string", link["original_url"])
	}
	if _, ok := link["title"].(string); !ok && link["title"] != nil {
		t.Fatalf("title %#v is not a string or null", link["title"])
	}
	if _, ok := link["is_active"].(bool); !ok {
		t.Fatalf("is_active %#v is not a boolean", link["is_active"])
	}
	jsonTime(t, link["created_at"])
	jsonTime(t, link["updated_at"])
}

func checkEvent(t *testing.T, ev map[string]any) {
	t.Helper()
	wantKeys(t, ev, "id", "url_id", "user_id", "event_type", "timestamp", "details")
	jsonID(t, ev["id"])
	jsonID(t, ev["url_id"])
	jsonOptionalID(t, ev["user_id"])
	if _, ok := ev["event_type"].(string); !ok {
		t.Fatalf("event_type %#v is not a string", ev["event_type"])
	}
	jsonTime(t, ev["timestamp"])
	if _, ok := ev["details"].(map[string]any); !ok {
		t.Fatalf("details %#v is not an object", ev["details"])
	}
}

// wantJSONEqual compares a decoded value with the JSON text want.
func wantJSONEqual(t *testing.T, got any, want string) {
	t.Helper()
	if w := decodeJSON(t, []byte(want)); !reflect.DeepEqual(got, w) {
		t.Fatalf("got %s, want %s", mustJSON(t, got), want)
	}
}

// ids returns the id of each item in order.
func ids(t *testing.T, items []map[string]any) []uint64 {
	t.Helper()
	out := make([]uint64, 0, len(items))
	for _, item := range items {
		out = append(out, jsonID(t, item["id"]))
	}
	return out
}

func TestHealth(t *testing.T) {
	a := startAPI(t, Options{})
	body := wantObject(t, a.get(t, "/health"), http.StatusOK)
	if body["status"] != "ok" {
		t.Fatalf("status %#v, want \"ok\"", body["status"])
	}
}

func TestUnknownPaths(t *testing.T) {
	a := startAPI(t, Options{})
	tests := []struct {
		name   string
		method string
		path   string
	}{
		{name: "root", method: http.MethodGet, path: "/"},
		{name: "deep path", method: http.MethodGet, path: "/no/such/path"},
		{name: "user subpath", method: http.MethodGet, path: "/users/1/links"},
		{name: "event subpath", method: http.MethodGet, path: "/events/1/details"},
		{name: "redirect subpath", method: http.MethodGet, path: "/urls/abc123/redirect/more"},
		{name: "favicon", method: http.MethodGet, path: "/favicon.ico"},
		{name: "empty segment", method: http.MethodGet, path: "/users//1"},
		{name: "delete deep path", method: http.MethodDelete, path: "/no/such/path"},
		{name: "post deep path", method: http.MethodPost, path: "/no/such/path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, a.do(t, apiRequest{method: tc.method, path: tc.path}), http.StatusNotFound, "")
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	a := startAPI(t, Options{})
	tests := []struct {
		name   string
		method string
		path   string
		allow  []string
	}{
		{name: "delete users", method: http.MethodDelete, path: "/users", allow: []string{"GET", "POST"}},
		{name: "put users", method: http.MethodPut, path: "/users", allow: []string{"GET", "POST"}},
		{name: "post user", method: http.MethodPost, path: "/users/1", allow: []string{"GET", "PUT", "DELETE"}},
		{name: "patch user", method: http.MethodPatch, path: "/users/1", allow: []string{"GET", "PUT", "DELETE"}},
		{name: "put urls", method: http.MethodPut, path: "/urls", allow: []string{"GET", "POST"}},
		{name: "post url", method: http.MethodPost, path: "/urls/1", allow: []string{"GET", "PUT", "DELETE"}},
		{name: "delete events", method: http.MethodDelete, path: "/events", allow: []string{"GET", "POST"}},
		{name: "put event", method: http.MethodPut, path: "/events/1", allow: []string{"GET"}},
		{name: "delete event", method: http.MethodDelete, path: "/events/1", allow: []string{"GET"}},
		{name: "post health", method: http.MethodPost, path: "/health", allow: []string{"GET"}},
		{name: "post short code", method: http.MethodPost, path: "/abc123", allow: []string{"GET"}},
		{name: "delete redirect", method: http.MethodDelete, path: "/urls/abc123/redirect", allow: []string{"GET"}},
		{name: "get users bulk", method: http.MethodGet, path: "/users/bulk", allow: []string{"POST"}},
		{name: "put users bulk", method: http.MethodPut, path: "/users/bulk", allow: []string{"POST"}},
		{name: "delete users bulk", method: http.MethodDelete, path: "/users/bulk", allow: []string{"POST"}},
		{name: "patch users bulk", method: http.MethodPatch, path: "/users/bulk", allow: []string{"POST"}},
		{name: "get urls bulk", method: http.MethodGet, path: "/urls/bulk", allow: []string{"POST"}},
		{name: "put urls bulk", method: http.MethodPut, path: "/urls/bulk", allow: []string{"POST"}},
		{name: "get events bulk", method: http.MethodGet, path: "/events/bulk", allow: []string{"POST"}},
		{name: "delete events bulk", method: http.MethodDelete, path: "/events/bulk", allow: []string{"POST"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.do(t, apiRequest{method: tc.method, path: tc.path})
			wantError(t, resp, http.StatusMethodNotAllowed, "")
			header := resp.header.Get("Allow")
			var allowed []string
			for m := range strings.SplitSeq(header, ",") {
				allowed = append(allowed, strings.TrimSpace(m))
			}
			for _, m := range tc.allow {
				if !slices.Contains(allowed, m) {
					t.Errorf("Allow %q does not list %s", header, m)
				}
			}
			if slices.Contains(allowed, tc.method) {
				t.Errorf("Allow %q lists the rejected method %s", header, tc.method)
			}
			if tc.allow[0] == http.MethodPost && len(allowed) != 1 {
				t.Errorf("Allow %q, want only POST", header)
			}
		})
	}
}

// fixture is a server with one user and one URL, the targets of requests
// that must change nothing.
type fixture struct {
	api  *apiClient
	user map[string]any
	link map[string]any
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	a := startAPI(t, Options{})
	user := a.createUser(t, "owner", "owner@example.com")
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/fixture", "user_id": user["id"], "title": "Fixture"})
	return fixture{api: a, user: user, link: link}
}

// wantUnchanged checks that the fixture still has one user, one URL and one
// event, with their original values.
func (f fixture) wantUnchanged(t *testing.T) {
	t.Helper()
	a := f.api
	if _, n := a.list(t, "/users"); n != 1 {
		t.Errorf("users: X-Total-Count %d, want 1", n)
	}
	if _, n := a.list(t, "/urls"); n != 1 {
		t.Errorf("urls: X-Total-Count %d, want 1", n)
	}
	if _, n := a.list(t, "/events"); n != 1 {
		t.Errorf("events: X-Total-Count %d, want 1", n)
	}
	user := wantObject(t, a.get(t, "/users/1"), http.StatusOK)
	if !reflect.DeepEqual(user, f.user) {
		t.Errorf("user changed: got %s, want %s", mustJSON(t, user), mustJSON(t, f.user))
	}
	link := wantObject(t, a.get(t, "/urls/1"), http.StatusOK)
	if !reflect.DeepEqual(link, f.link) {
		t.Errorf("url changed: got %s, want %s", mustJSON(t, link), mustJSON(t, f.link))
	}
}

func TestBodyNotAnObject(t *testing.T) {
	f := newFixture(t)
	endpoints := []struct {
		method string
		path   string
		valid  string // a body that the route accepts
	}{
		{method: http.MethodPost, path: "/users", valid: `{"username":"carol","email":"carol@example.com"}`},
		{method: http.MethodPut, path: "/users/1", valid: `{"username":"carol"}`},
		{method: http.MethodPost, path: "/urls", valid: `{"original_url":"https://example.com/carol"}`},
		{method: http.MethodPut, path: "/urls/1", valid: `{"title":"carol"}`},
		{method: http.MethodPost, path: "/events", valid: `{"event_type":"share","url_id":1}`},
	}
	bodies := []struct {
		name        string
		contentType string
		body        func(valid string) string
	}{
		{name: "truncated JSON", contentType: "application/json", body: func(v string) string { return v[:len(v)-1] }},
		{name: "unquoted keys", contentType: "application/json", body: func(string) string { return `{username: carol}` }},
		{name: "empty", contentType: "application/json", body: func(string) string { return "" }},
		{name: "white space", contentType: "application/json", body: func(string) string { return " \n\t " }},
		{name: "array", contentType: "application/json", body: func(v string) string { return "[" + v + "]" }},
		{name: "empty array", contentType: "application/json", body: func(string) string { return "[]" }},
		{name: "string", contentType: "application/json", body: func(string) string { return `"carol"` }},
		{name: "number", contentType: "application/json", body: func(string) string { return "42" }},
		{name: "boolean", contentType: "application/json", body: func(string) string { return "true" }},
		{name: "null", contentType: "application/json", body: func(string) string { return "null" }},
		{name: "form-encoded", contentType: "application/x-www-form-urlencoded", body: func(string) string {
			return "username=carol&email=carol%40example.com&original_url=https%3A%2F%2Fexample.com"
		}},
		{name: "plain text", contentType: "text/plain", body: func(string) string { return "hello world" }},
		{name: "no content type", contentType: "", body: func(string) string { return "hello world" }},
		{name: "trailing object", contentType: "application/json", body: func(v string) string { return v + " {}" }},
		{name: "trailing text", contentType: "application/json", body: func(v string) string { return v + "x" }},
		{name: "two objects", contentType: "application/json", body: func(v string) string { return v + v }},
		{name: "byte order mark", contentType: "application/json", body: func(v string) string { return "\uFEFF" + v }},
		{name: "repeated field", contentType: "application/json", body: func(v string) string {
			var first string
			for name := range strings.SplitSeq(v[2:], `"`) {
				first = name
				break
			}
			return v[:len(v)-1] + `,"` + first + `":null}`
		}},
	}
	for _, ep := range endpoints {
		for _, b := range bodies {
			t.Run(ep.method+" "+ep.path+" "+b.name, func(t *testing.T) {
				req := apiRequest{method: ep.method, path: ep.path, contentType: b.contentType, body: b.body(ep.valid)}
				wantError(t, f.api.do(t, req), http.StatusBadRequest, "")
			})
		}
	}
	f.wantUnchanged(t)
}

func TestJSONContentType(t *testing.T) {
	f := newFixture(t)
	endpoints := []struct {
		method string
		path   string
		body   func(n int) string // a body that the route accepts, unique for each n
		status int
	}{
		{method: http.MethodPost, path: "/users", status: http.StatusCreated, body: func(n int) string {
			return fmt.Sprintf(`{"username":"carol%d","email":"carol%d@example.com"}`, n, n)
		}},
		{method: http.MethodPut, path: "/users/1", status: http.StatusOK, body: func(n int) string {
			return fmt.Sprintf(`{"email":"owner%d@example.com"}`, n)
		}},
		{method: http.MethodPost, path: "/urls", status: http.StatusCreated, body: func(n int) string {
			return fmt.Sprintf(`{"original_url":"https://example.com/%d"}`, n)
		}},
		{method: http.MethodPut, path: "/urls/1", status: http.StatusOK, body: func(n int) string {
			return fmt.Sprintf(`{"title":"title %d"}`, n)
		}},
		{method: http.MethodPost, path: "/events", status: http.StatusCreated, body: func(int) string {
			return `{"event_type":"share","url_id":1}`
		}},
		{method: http.MethodPost, path: "/admin/purge", status: http.StatusOK, body: func(int) string {
			return `{"inactive":true,"dry_run":true}`
		}},
	}

	// A JSON object sent with a type that is not JSON is a 415 and
	// changes nothing.
	rejected := []string{
		"text/plain",
		"text/plain; charset=utf-8",
		"multipart/form-data; boundary=x",
		"application/xml",
		"text/csv",
		"application/json-seq",
		"json",
		"application/json/x",
	}
	for _, ep := range endpoints {
		for _, contentType := range rejected {
			t.Run(ep.method+" "+ep.path+" "+contentType, func(t *testing.T) {
				req := apiRequest{method: ep.method, path: ep.path, contentType: contentType, body: ep.body(0)}
				wantError(t, f.api.do(t, req), http.StatusUnsupportedMediaType, "")
			})
		}
	}
	f.wantUnchanged(t)

	// JSON in any of its spellings, no Content-Type at all, and the form
	// type that curl -d sends are read.
	accepted := []string{
		"",
		"application/x-www-form-urlencoded",
		"application/json",
		"application/json; charset=utf-8",
		"Application/JSON; Charset=UTF-8",
		"application/vnd.api+json",
		"application/json; charset",
	}
	n := 0
	for _, ep := range endpoints {
		for _, contentType := range accepted {
			n++
			t.Run(ep.method+" "+ep.path+" "+contentType, func(t *testing.T) {
				req := apiRequest{method: ep.method, path: ep.path, contentType: contentType, body: ep.body(n)}
				wantStatus(t, f.api.do(t, req), ep.status)
			})
		}
	}
}

func TestFieldErrors(t *testing.T) {
	f := newFixture(t)
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		field  string
	}{
		// POST /users
		{name: "user empty object", method: "POST", path: "/users", body: `{}`, status: 422},
		{name: "user missing username", method: "POST", path: "/users", body: `{"email":"carol@example.com"}`, status: 422, field: "username"},
		{name: "user missing email", method: "POST", path: "/users", body: `{"username":"carol"}`, status: 422, field: "email"},
		{name: "username number", method: "POST", path: "/users", body: `{"username":12345,"email":"carol@example.com"}`, status: 422, field: "username"},
		{name: "username true", method: "POST", path: "/users", body: `{"username":true,"email":"carol@example.com"}`, status: 422, field: "username"},
		{name: "username null", method: "POST", path: "/users", body: `{"username":null,"email":"carol@example.com"}`, status: 422, field: "username"},
		{name: "username array", method: "POST", path: "/users", body: `{"username":["carol"],"email":"carol@example.com"}`, status: 422, field: "username"},
		{name: "username empty", method: "POST", path: "/users", body: `{"username":"","email":"carol@example.com"}`, status: 422, field: "username"},
		{name: "username 65 chars", method: "POST", path: "/users", body: `{"username":"` + long(65) + `","email":"carol@example.com"}`, status: 422, field: "username"},
		{name: "email number", method: "POST", path: "/users", body: `{"username":"carol","email":12345}`, status: 422, field: "email"},
		{name: "email without at", method: "POST", path: "/users", body: `{"username":"carol","email":"carol.example.com"}`, status: 422, field: "email"},
		{name: "email without domain", method: "POST", path: "/users", body: `{"username":"carol","email":"carol@"}`, status: 422, field: "email"},
		{name: "email without local part", method: "POST", path: "/users", body: `{"username":"carol","email":"@example.com"}`, status: 422, field: "email"},
		{name: "email 255 bytes", method: "POST", path: "/users", body: `{"username":"carol","email":"` + emailOfLength(255) + `"}`, status: 422, field: "email"},
		{name: "user unknown field", method: "POST", path: "/users", body: `{"username":"carol","email":"carol@example.com","role":"admin"}`, status: 422, field: "role"},
		{name: "user id field", method: "POST", path: "/users", body: `{"id":7,"username":"carol","email":"carol@example.com"}`, status: 422, field: "id"},

		// PUT /users/{id}
		{name: "update username number", method: "PUT", path: "/users/1", body: `{"username":12345}`, status: 422, field: "username"},
		{name: "update username null", method: "PUT", path: "/users/1", body: `{"username":null}`, status: 422, field: "username"},
		{name: "update username empty", method: "PUT", path: "/users/1", body: `{"username":""}`, status: 422, field: "username"},
		{name: "update email invalid", method: "PUT", path: "/users/1", body: `{"email":"not-an-email"}`, status: 422, field: "email"},
		{name: "update email boolean", method: "PUT", path: "/users/1", body: `{"email":false}`, status: 422, field: "email"},
		{name: "update user unknown field", method: "PUT", path: "/users/1", body: `{"nickname":"c"}`, status: 422, field: "nickname"},

		// POST /urls
		{name: "url empty object", method: "POST", path: "/urls", body: `{}`, status: 422, field: "original_url"},
		{name: "url missing original_url", method: "POST", path: "/urls", body: `{"title":"x","user_id":1}`, status: 422, field: "original_url"},
		{name: "original_url number", method: "POST", path: "/urls", body: `{"original_url":12345}`, status: 422, field: "original_url"},
		{name: "original_url null", method: "POST", path: "/urls", body: `{"original_url":null}`, status: 422, field: "original_url"},
		{name: "original_url object", method: "POST", path: "/urls", body: `{"original_url":{"href":"https://example.com"}}`, status: 422, field: "original_url"},
		{name: "user_id true", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":true}`, status: 422, field: "user_id"},
		{name: "user_id string", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":"1"}`, status: 422, field: "user_id"},
		{name: "user_id fraction", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":1.5}`, status: 422, field: "user_id"},
		{name: "user_id exponent", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":1e0}`, status: 422, field: "user_id"},
		{name: "user_id array", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":[1]}`, status: 422, field: "user_id"},
		{name: "user_id unknown", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":999}`, status: 404},
		{name: "user_id zero", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":0}`, status: 404},
		{name: "user_id negative", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","user_id":-1}`, status: 404},
		{name: "title number", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","title":5}`, status: 422, field: "title"},
		{name: "title boolean", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","title":true}`, status: 422, field: "title"},
		{name: "title 513 chars", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","title":"` + long(513) + `"}`, status: 422, field: "title"},
		{name: "url unknown field", method: "POST", path: "/urls", body: `{"original_url":"https://example.com","clicks":5}`, status: 422, field: "clicks"},

		// PUT /urls/{id}
		{name: "update short_code", method: "PUT", path: "/urls/1", body: `{"short_code":"abc123"}`, status: 422, field: "short_code"},
		{name: "update short_code with title", method: "PUT", path: "/urls/1", body: `{"title":"x","short_code":"abc123"}`, status: 422, field: "short_code"},
		{name: "update is_active string", method: "PUT", path: "/urls/1", body: `{"is_active":"false"}`, status: 422, field: "is_active"},
		{name: "update is_active number", method: "PUT", path: "/urls/1", body: `{"is_active":0}`, status: 422, field: "is_active"},
		{name: "update is_active null", method: "PUT", path: "/urls/1", body: `{"is_active":null}`, status: 422, field: "is_active"},
		{name: "update user_id true", method: "PUT", path: "/urls/1", body: `{"user_id":true}`, status: 422, field: "user_id"},
		{name: "update user_id string", method: "PUT", path: "/urls/1", body: `{"user_id":"1"}`, status: 422, field: "user_id"},
		{name: "update user_id unknown", method: "PUT", path: "/urls/1", body: `{"user_id":999}`, status: 404},
		{name: "update title number", method: "PUT", path: "/urls/1", body: `{"title":5}`, status: 422, field: "title"},
		{name: "update title 513 chars", method: "PUT", path: "/urls/1", body: `{"title":"` + long(513) + `"}`, status: 422, field: "title"},
		{name: "update original_url invalid", method: "PUT", path: "/urls/1", body: `{"original_url":"not-a-url"}`, status: 422, field: "original_url"},
		{name: "update original_url null", method: "PUT", path: "/urls/1", body: `{"original_url":null}`, status: 422, field: "original_url"},
		{name: "update url unknown field", method: "PUT", path: "/urls/1", body: `{"clicks":5}`, status: 422, field: "clicks"},

		// POST /events
		{name: "event empty object", method: "POST", path: "/events", body: `{}`, status: 422},
		{name: "event missing event_type", method: "POST", path: "/events", body: `{"url_id":1}`, status: 422, field: "event_type"},
		{name: "event missing url_id", method: "POST", path: "/events", body: `{"event_type":"share"}`, status: 422, field: "url_id"},
		{name: "event_type number", method: "POST", path: "/events", body: `{"event_type":5,"url_id":1}`, status: 422, field: "event_type"},
		{name: "event_type null", method: "POST", path: "/events", body: `{"event_type":null,"url_id":1}`, status: 422, field: "event_type"},
		{name: "event_type empty", method: "POST", path: "/events", body: `{"event_type":"","url_id":1}`, status: 422, field: "event_type"},
		{name: "event_type 65 chars", method: "POST", path: "/events", body: `{"event_type":"` + long(65) + `","url_id":1}`, status: 422, field: "event_type"},
		{name: "url_id string", method: "POST", path: "/events", body: `{"event_type":"share","url_id":"1"}`, status: 422, field: "url_id"},
		{name: "url_id true", method: "POST", path: "/events", body: `{"event_type":"share","url_id":true}`, status: 422, field: "url_id"},
		{name: "url_id fraction", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1.5}`, status: 422, field: "url_id"},
		{name: "url_id null", method: "POST", path: "/events", body: `{"event_type":"share","url_id":null}`, status: 422, field: "url_id"},
		{name: "url_id unknown", method: "POST", path: "/events", body: `{"event_type":"share","url_id":999}`, status: 404},
		{name: "event user_id string", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"user_id":"1"}`, status: 422, field: "user_id"},
		{name: "event user_id true", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"user_id":true}`, status: 422, field: "user_id"},
		{name: "event user_id unknown", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"user_id":999}`, status: 404},
		{name: "details string", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"details":"{}"}`, status: 422, field: "details"},
		{name: "details number", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"details":5}`, status: 422, field: "details"},
		{name: "details array", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"details":[{"a":1}]}`, status: 422, field: "details"},
		{name: "details boolean", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"details":true}`, status: 422, field: "details"},
		{name: "details repeated name", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"details":{"a":1,"a":2}}`, status: 422, field: "details"},
		{name: "details 65 levels deep", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"details":` + strings.Repeat(`{"a":`, 65) + `1` + strings.Repeat(`}`, 66), status: 422, field: "details"},
		{name: "details nested repeated name", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"details":{"a":{"b":1},"c":[{"b":1,"b":1}]}}`, status: 422, field: "details"},
		{name: "timestamp invalid", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"timestamp":"yesterday"}`, status: 422, field: "timestamp"},
		{name: "timestamp number", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"timestamp":1758320705}`, status: 422, field: "timestamp"},
		{name: "event unknown field", method: "POST", path: "/events", body: `{"event_type":"share","url_id":1,"ip":"192.0.2.1"}`, status: 422, field: "ip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.api.send(t, tc.method, tc.path, tc.body), tc.status, tc.field)
		})
	}
	f.wantUnchanged(t)
}

// emailOfLength returns a valid-looking address of exactly n bytes, for n
// from 70 to 290: a 64-byte local part and a domain of labels of at most 63
// bytes.
func emailOfLength(n int) string {
	local := strings.Repeat("a", 64)
	labels := strings.Repeat("b", 50) + "." + strings.Repeat("c", 50) + "." + strings.Repeat("d", 50)
	rest := n - len(local) - len("@") - len(labels) - len(".") - len(".com")
	if rest < 1 || rest > 63 {
		panic(fmt.Sprintf("emailOfLength(%d) is out of range", n))
	}
	return local + "@" + labels + "." + strings.Repeat("e", rest) + ".com"
}

func TestInvalidOriginalURL(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		raw  string
	}{
		{name: "not a url", raw: "not-a-url"},
		{name: "word", raw: "hello"},
		{name: "empty", raw: ""},
		{name: "ftp", raw: "ftp://x"},
		{name: "ftp with path", raw: "ftp://example.com/file.txt"},
		{name: "javascript", raw: "javascript:alert(1)"},
		{name: "data", raw: "data:text/html,x"},
		{name: "mailto", raw: "mailto:carol@example.com"},
		{name: "no scheme", raw: "example.com/path"},
		{name: "scheme relative", raw: "//example.com/path"},
		{name: "path only", raw: "/path"},
		{name: "no host", raw: "http://"},
		{name: "empty host", raw: "https:///path"},
		{name: "space in host", raw: "http://exa mple.com/"},
		{name: "space in path", raw: "https://example.com/a b"},
		{name: "leading space", raw: " https://example.com/"},
		{name: "trailing space", raw: "https://example.com/ "},
		{name: "tab", raw: "https://example.com/\tx"},
		{name: "newline", raw: "https://example.com/\nx"},
		{name: "over 8192 bytes", raw: "https://example.com/" + strings.Repeat("a", 8192-len("https://example.com/")+1)},
	}
	for _, tc := range tests {
		for _, method := range []string{http.MethodPost, http.MethodPut} {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				path := "/urls"
				if method == http.MethodPut {
					path = "/urls/1"
				}
				body := mustJSON(t, map[string]any{"original_url": tc.raw})
				wantError(t, f.api.send(t, method, path, body), http.StatusUnprocessableEntity, "original_url")
			})
		}
	}
	f.wantUnchanged(t)
}

func TestBodySizeLimit(t *testing.T) {
	f := newFixture(t)
	tooLarge := `{"title":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		method string
		path   string
	}{
		{name: "create user", method: http.MethodPost, path: "/users"},
		{name: "update user", method: http.MethodPut, path: "/users/1"},
		{name: "create url", method: http.MethodPost, path: "/urls"},
		{name: "update url", method: http.MethodPut, path: "/urls/1"},
		{name: "create event", method: http.MethodPost, path: "/events"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.api.send(t, tc.method, tc.path, tooLarge), http.StatusRequestEntityTooLarge, "")
		})
	}
	f.wantUnchanged(t)

	t.Run("body at the limit", func(t *testing.T) {
		body := `{"username":"padded","email":"padded@example.com"}`
		body += strings.Repeat(" ", DefaultMaxBodyBytes-len(body))
		wantObject(t, f.api.send(t, http.MethodPost, "/users", body), http.StatusCreated)
	})
}

func TestBulkSizeLimit(t *testing.T) {
	const limit = 1024
	a := startAPI(t, Options{MaxBulkBytes: limit})
	var b strings.Builder
	b.WriteString("id,username,email,created_at\n")
	for i := 1; b.Len() <= 2*limit; i++ {
		fmt.Fprintf(&b, "%d,user%d,user%d@example.com,2025-01-02 03:04:05\n", i, i, i)
	}
	text := b.String()

	multipartType, multipartBody := multipartCSV(t, text, false)
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{name: "multipart", contentType: multipartType, body: multipartBody},
		{name: "text/csv", contentType: "text/csv", body: text},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := apiRequest{method: http.MethodPost, path: "/users/bulk", contentType: tc.contentType, body: tc.body}
			wantError(t, a.do(t, req), http.StatusRequestEntityTooLarge, "")
			if _, n := a.list(t, "/users"); n != 0 {
				t.Fatalf("X-Total-Count %d after a rejected import, want 0", n)
			}
		})
	}
}

func TestCreateUser(t *testing.T) {
	a := startAPI(t, Options{})
	tests := []struct {
		name     string
		username string
		email    string
	}{
		{name: "plain", username: "alice", email: "alice@example.com"},
		{name: "unicode username", username: "zoë", email: "zoe@example.com"},
		{name: "64 char username", username: strings.Repeat("u", 64), email: "long@example.com"},
		{name: "254 byte email", username: "longmail", email: emailOfLength(254)},
		{name: "plus address", username: "tagged", email: "tagged+news@mail.example.co.uk"},
	}
	var lastID uint64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			body := mustJSON(t, map[string]any{"username": tc.username, "email": tc.email})
			user := wantObject(t, a.send(t, http.MethodPost, "/users", body), http.StatusCreated)
			after := time.Now()

			checkUser(t, user)
			if user["username"] != tc.username {
				t.Errorf("username %q, want %q", user["username"], tc.username)
			}
			if user["email"] != tc.email {
				t.Errorf("email %q, want %q", user["email"], tc.email)
			}
			wantTimeBetween(t, user["created_at"], before, after)
			id := jsonID(t, user["id"])
			if id <= lastID {
				t.Errorf("id %d is not above the previous id %d", id, lastID)
			}
			lastID = id

			got := wantObject(t, a.get(t, fmt.Sprintf("/users/%d", id)), http.StatusOK)
			if !reflect.DeepEqual(got, user) {
				t.Errorf("GET returned %s, POST returned %s", mustJSON(t, got), mustJSON(t, user))
			}
		})
	}
}

func TestUserConflicts(t *testing.T) {
	a := startAPI(t, Options{})
	a.createUser(t, "Alice", "alice@example.com")
	a.createUser(t, "bob", "bob@example.com")

	// Cases run in order: the last two change user 1.
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
	}{
		{name: "create same username", method: "POST", path: "/users", body: `{"username":"Alice","email":"other@example.com"}`, status: 409},
		{name: "create username other case", method: "POST", path: "/users", body: `{"username":"ALICE","email":"other@example.com"}`, status: 409},
		{name: "create email other case", method: "POST", path: "/users", body: `{"username":"carol","email":"ALICE@Example.COM"}`, status: 409},
		{name: "create both taken", method: "POST", path: "/users", body: `{"username":"bob","email":"bob@example.com"}`, status: 409},
		{name: "update to taken username", method: "PUT", path: "/users/2", body: `{"username":"alice"}`, status: 409},
		{name: "update to taken email", method: "PUT", path: "/users/2", body: `{"email":"Alice@example.com"}`, status: 409},
		{name: "update own username case", method: "PUT", path: "/users/1", body: `{"username":"ALICE"}`, status: 200},
		{name: "update own email", method: "PUT", path: "/users/1", body: `{"email":"alice@example.com"}`, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.send(t, tc.method, tc.path, tc.body)
			if tc.status == http.StatusOK {
				checkUser(t, wantObject(t, resp, tc.status))
				return
			}
			wantError(t, resp, tc.status, "")
		})
	}

	users, n := a.list(t, "/users")
	if n != 2 {
		t.Fatalf("X-Total-Count %d, want 2", n)
	}
	if users[1]["username"] != "bob" || users[1]["email"] != "bob@example.com" {
		t.Fatalf("user 2 changed: %v", users[1])
	}
}

func TestNotFoundIDs(t *testing.T) {
	f := newFixture(t)
	badIDs := []string{"999", "abc", "0", "-1", "1.5", "1e0", "00x", "99999999999999999999", "9007199254740992"}
	routes := []struct {
		method string
		prefix string
		body   string
	}{
		{method: http.MethodGet, prefix: "/users/"},
		{method: http.MethodPut, prefix: "/users/", body: `{}`},
		{method: http.MethodDelete, prefix: "/users/"},
		{method: http.MethodGet, prefix: "/urls/"},
		{method: http.MethodPut, prefix: "/urls/", body: `{}`},
		{method: http.MethodDelete, prefix: "/urls/"},
		{method: http.MethodGet, prefix: "/events/"},
	}
	for _, rt := range routes {
		for _, id := range badIDs {
			t.Run(rt.method+" "+rt.prefix+id, func(t *testing.T) {
				req := apiRequest{method: rt.method, path: rt.prefix + id, body: rt.body}
				if rt.body != "" {
					req.contentType = "application/json"
				}
				wantError(t, f.api.do(t, req), http.StatusNotFound, "")
			})
		}
	}
	f.wantUnchanged(t)
}

func TestUpdateUser(t *testing.T) {
	a := startAPI(t, Options{})
	created := a.createUser(t, "dave", "dave@example.com")
	a.createUser(t, "erin", "erin@example.com")

	tests := []struct {
		name     string
		body     string
		username string
		email    string
	}{
		{name: "empty object", body: `{}`, username: "dave", email: "dave@example.com"},
		{name: "username", body: `{"username":"david"}`, username: "david", email: "dave@example.com"},
		{name: "email", body: `{"email":"david@example.org"}`, username: "david", email: "david@example.org"},
		{name: "both", body: `{"username":"d","email":"d@example.net"}`, username: "d", email: "d@example.net"},
		{name: "same values", body: `{"username":"d","email":"d@example.net"}`, username: "d", email: "d@example.net"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user := wantObject(t, a.send(t, http.MethodPut, "/users/1", tc.body), http.StatusOK)
			checkUser(t, user)
			want := map[string]any{
				"id":         created["id"],
				"username":   tc.username,
				"email":      tc.email,
				"created_at": created["created_at"],
			}
			if !reflect.DeepEqual(user, want) {
				t.Fatalf("PUT returned %s, want %s", mustJSON(t, user), mustJSON(t, want))
			}
			got := wantObject(t, a.get(t, "/users/1"), http.StatusOK)
			if !reflect.DeepEqual(got, user) {
				t.Fatalf("GET returned %s after PUT returned %s", mustJSON(t, got), mustJSON(t, user))
			}
		})
	}

	other := wantObject(t, a.get(t, "/users/2"), http.StatusOK)
	if other["username"] != "erin" || other["email"] != "erin@example.com" {
		t.Fatalf("user 2 changed: %v", other)
	}
}

func TestDeleteUser(t *testing.T) {
	a := startAPI(t, Options{})
	user := a.createUser(t, "frank", "frank@example.com")
	keep := a.createUser(t, "grace", "grace@example.com")
	userID := jsonID(t, user["id"])
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/frank", "user_id": userID})
	code := link["short_code"].(string)
	urlPath := fmt.Sprintf("/urls/%d", jsonID(t, link["id"]))

	// A redirect before the delete may leave the owner in a cache.
	wantStatus(t, a.get(t, "/"+code), http.StatusFound)

	resp := a.delete(t, fmt.Sprintf("/users/%d", userID))
	wantStatus(t, resp, http.StatusNoContent)
	if len(resp.body) != 0 {
		t.Errorf("204 body %q, want none", resp.body)
	}

	t.Run("user gone", func(t *testing.T) {
		path := fmt.Sprintf("/users/%d", userID)
		wantError(t, a.get(t, path), http.StatusNotFound, "")
		wantError(t, a.delete(t, path), http.StatusNotFound, "")
		wantError(t, a.send(t, http.MethodPut, path, `{"username":"frank2"}`), http.StatusNotFound, "")
		users, n := a.list(t, "/users")
		if n != 1 || len(users) != 1 || !reflect.DeepEqual(users[0], keep) {
			t.Fatalf("users after delete: %d total, %v; want only %v", n, users, keep)
		}
	})
	t.Run("link disowned", func(t *testing.T) {
		got := wantObject(t, a.get(t, urlPath), http.StatusOK)
		if got["user_id"] != nil {
			t.Fatalf("user_id %v, want null", got["user_id"])
		}
		if _, n := a.list(t, fmt.Sprintf("/urls?user_id=%d", userID)); n != 0 {
			t.Fatalf("GET /urls?user_id=%d: X-Total-Count %d, want 0", userID, n)
		}
	})
	t.Run("link redirects", func(t *testing.T) {
		resp := a.get(t, "/"+code)
		wantStatus(t, resp, http.StatusFound)
		if loc := resp.header.Get("Location"); loc != "https://example.com/frank" {
			t.Fatalf("Location %q, want https://example.com/frank", loc)
		}
		clicks := a.events(t, fmt.Sprintf("url_id=%d&event_type=click", jsonID(t, link["id"])))
		if len(clicks) != 2 {
			t.Fatalf("%d click events, want 2", len(clicks))
		}
		if clicks[1]["user_id"] != nil {
			t.Fatalf("click after the delete has user_id %v, want null", clicks[1]["user_id"])
		}
	})
}

func TestCreateURL(t *testing.T) {
	a := startAPI(t, Options{})
	owner := jsonID(t, a.createUser(t, "henry", "henry@example.com")["id"])
	long := "https://example.com/" + strings.Repeat("p", 8192-len("https://example.com/"))
	codePattern := regexp.MustCompile(`^[A-Za-z0-9]{6}$`)

	tests := []struct {
		name   string
		fields map[string]any
		owner  uint64
		title  any
	}{
		{name: "url only", fields: map[string]any{"original_url": "https://example.com/a"}},
		{name: "with owner", fields: map[string]any{"original_url": "https://example.com/b", "user_id": owner}, owner: owner},
		{name: "with title", fields: map[string]any{"original_url": "https://example.com/c", "title": "Docs"}, title: "Docs"},
		{name: "null owner and title", fields: map[string]any{"original_url": "https://example.com/d", "user_id": nil, "title": nil}},
		{name: "512 char title", fields: map[string]any{"original_url": "https://example.com/e", "title": strings.Repeat("é", 512)}, title: strings.Repeat("é", 512)},
		{name: "empty title", fields: map[string]any{"original_url": "https://example.com/f", "title": ""}, title: ""},
		{name: "8192 byte url", fields: map[string]any{"original_url": long}},
		{name: "http with port", fields: map[string]any{"original_url": "http://example.com:8080/x?y=1#z"}},
		{name: "upper case scheme", fields: map[string]any{"original_url": "HTTPS://EXAMPLE.COM/Path"}},
		{name: "ipv6 host", fields: map[string]any{"original_url": "http://[2001:db8::1]:8443/"}},
		{name: "unicode host", fields: map[string]any{"original_url": "https://bücher.example/straße"}},
	}
	codes := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			link := wantObject(t, a.send(t, http.MethodPost, "/urls", mustJSON(t, tc.fields)), http.StatusCreated)
			after := time.Now()

			checkURL(t, link)
			id := jsonID(t, link["id"])
			if link["original_url"] != tc.fields["original_url"] {
				t.Errorf("original_url %q, want %q", link["original_url"], tc.fields["original_url"])
			}
			if got := jsonOptionalID(t, link["user_id"]); got != tc.owner {
				t.Errorf("user_id %d, want %d (0 is null)", got, tc.owner)
			}
			if link["title"] != tc.title {
				t.Errorf("title %v, want %v", link["title"], tc.title)
			}
			if link["is_active"] != true {
				t.Errorf("is_active %v, want true", link["is_active"])
			}
			code := link["short_code"].(string)
			if !codePattern.MatchString(code) {
				t.Errorf("short_code %q is not 6 characters of [A-Za-z0-9]", code)
			}
			if codes[code] {
				t.Errorf("short_code %q was issued twice", code)
			}
			codes[code] = true
			wantTimeBetween(t, link["created_at"], before, after)
			wantTimeBetween(t, link["updated_at"], before, after)

			got := wantObject(t, a.get(t, fmt.Sprintf("/urls/%d", id)), http.StatusOK)
			if !reflect.DeepEqual(got, link) {
				t.Errorf("GET returned %s, POST returned %s", mustJSON(t, got), mustJSON(t, link))
			}

			// The create writes one created event with the URL's id and owner.
			events := a.events(t, fmt.Sprintf("url_id=%d", id))
			if len(events) != 1 {
				t.Fatalf("%d events for the new URL, want 1: %v", len(events), events)
			}
			ev := events[0]
			if ev["event_type"] != "created" {
				t.Errorf("event_type %v, want created", ev["event_type"])
			}
			if got := jsonOptionalID(t, ev["user_id"]); got != tc.owner {
				t.Errorf("event user_id %d, want %d (0 is null)", got, tc.owner)
			}
			wantJSONEqual(t, ev["details"], mustJSON(t, map[string]any{"short_code": code, "original_url": tc.fields["original_url"]}))
			wantTimeBetween(t, ev["timestamp"], before, after)
		})
	}
}

func TestCreateURLTwice(t *testing.T) {
	a := startAPI(t, Options{})
	fields := map[string]any{"original_url": "https://example.com/same"}
	first := a.createURL(t, fields)
	second := a.createURL(t, fields)
	if first["id"] == second["id"] {
		t.Errorf("both URLs have id %v", first["id"])
	}
	if first["short_code"] == second["short_code"] {
		t.Errorf("both URLs have short_code %v", first["short_code"])
	}
	if _, n := a.list(t, "/urls"); n != 2 {
		t.Errorf("X-Total-Count %d, want 2", n)
	}
}

func TestConcurrentCreates(t *testing.T) {
	a := startAPI(t, Options{})
	const n = 40
	type result struct {
		status int
		id     uint64
		code   string
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := `{"original_url":"https://example.com/concurrent"}`
			resp, err := a.client.Post(a.base+"/urls", "application/json", strings.NewReader(body))
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			var link struct {
				ID        uint64 `json:"id"`
				ShortCode string `json:"short_code"`
			}
			results[i].status = resp.StatusCode
			results[i].err = json.NewDecoder(resp.Body).Decode(&link)
			results[i].id, results[i].code = link.ID, link.ShortCode
		})
	}
	wg.Wait()

	seenIDs := map[uint64]bool{}
	seenCodes := map[string]bool{}
	for i, r := range results {
		if r.err != nil || r.status != http.StatusCreated {
			t.Fatalf("request %d: status %d, error %v", i, r.status, r.err)
		}
		if seenIDs[r.id] || seenCodes[r.code] {
			t.Fatalf("request %d: id %d or short_code %q was issued twice", i, r.id, r.code)
		}
		seenIDs[r.id], seenCodes[r.code] = true, true
	}
	if _, total := a.list(t, "/urls"); total != n {
		t.Fatalf("X-Total-Count %d, want %d", total, n)
	}
}

// importOldURL imports user 1 and user 2 and URL 1, owned by user 1 and
// last updated in 2024, so that an update shows a new updated_at.
func importOldURL(t *testing.T, a *apiClient) map[string]any {
	t.Helper()
	a.importCSV(t, "/users/bulk", "id,username,email,created_at\n"+
		"1,ivan,ivan@example.com,2024-01-01 00:00:00\n"+
		"2,judy,judy@example.com,2024-01-01 00:00:00\n")
	a.importCSV(t, "/urls/bulk", "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n"+
		"1,1,oLd123,https://example.com/old,Old title,True,2024-01-01 00:00:00,2024-02-03 04:05:06\n")
	return wantObject(t, a.get(t, "/urls/1"), http.StatusOK)
}

func TestUpdateURL(t *testing.T) {
	a := startAPI(t, Options{})
	old := importOldURL(t, a)
	if old["updated_at"] != "2024-02-03T04:05:06" {
		t.Fatalf("imported updated_at %v, want 2024-02-03T04:05:06", old["updated_at"])
	}

	// Cases run in order on URL 1. changes lists the updated events that
	// the request writes, as {"field", "new_value"} objects.
	tests := []struct {
		name    string
		body    string
		fields  map[string]any
		changes []string
	}{
		{name: "title", body: `{"title":"New title"}`,
			fields:  map[string]any{"title": "New title"},
			changes: []string{`{"field":"title","new_value":"New title"}`}},
		{name: "same title", body: `{"title":"New title"}`,
			fields: map[string]any{"title": "New title"}},
		{name: "empty object", body: `{}`,
			fields: map[string]any{"title": "New title", "is_active": true}},
		{name: "deactivate", body: `{"is_active":false}`,
			fields:  map[string]any{"is_active": false},
			changes: []string{`{"field":"is_active","new_value":false}`}},
		{name: "original_url", body: `{"original_url":"https://example.org/new?q=1"}`,
			fields:  map[string]any{"original_url": "https://example.org/new?q=1"},
			changes: []string{`{"field":"original_url","new_value":"https://example.org/new?q=1"}`}},
		{name: "title null", body: `{"title":null}`,
			fields:  map[string]any{"title": nil},
			changes: []string{`{"field":"title","new_value":null}`}},
		{name: "two fields", body: `{"title":"Both","is_active":true}`,
			fields:  map[string]any{"title": "Both", "is_active": true},
			changes: []string{`{"field":"is_active","new_value":true}`, `{"field":"title","new_value":"Both"}`}},
		{name: "owner", body: `{"user_id":2}`,
			fields:  map[string]any{"user_id": json.Number("2")},
			changes: []string{`{"field":"user_id","new_value":2}`}},
		{name: "owner null", body: `{"user_id":null}`,
			fields:  map[string]any{"user_id": nil},
			changes: []string{`{"field":"user_id","new_value":null}`}},
		{name: "redirect_type", body: `{"redirect_type":301}`,
			fields:  map[string]any{"redirect_type": json.Number("301"), "redirect_type_default": false},
			changes: []string{`{"field":"redirect_type","new_value":301}`}},
		{name: "redirect_type null", body: `{"redirect_type":null}`,
			fields:  map[string]any{"redirect_type": json.Number("302"), "redirect_type_default": true},
			changes: []string{`{"field":"redirect_type","new_value":null}`}},
		{name: "redirect_type null again", body: `{"redirect_type":null}`,
			fields: map[string]any{"redirect_type": json.Number("302"), "redirect_type_default": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eventsBefore := a.events(t, "url_id=1&event_type=updated")
			before := time.Now()
			link := wantObject(t, a.send(t, http.MethodPut, "/urls/1", tc.body), http.StatusOK)
			after := time.Now()

			checkURL(t, link)
			for _, key := range []string{"id", "short_code", "created_at"} {
				if link[key] != old[key] {
					t.Errorf("%s changed from %v to %v", key, old[key], link[key])
				}
			}
			for key, want := range tc.fields {
				if link[key] != want {
					t.Errorf("%s %#v, want %#v", key, link[key], want)
				}
			}
			if len(tc.changes) > 0 {
				wantTimeBetween(t, link["updated_at"], before, after)
			}
			got := wantObject(t, a.get(t, "/urls/1"), http.StatusOK)
			if !reflect.DeepEqual(got, link) {
				t.Errorf("GET returned %s after PUT returned %s", mustJSON(t, got), mustJSON(t, link))
			}

			// One updated event per changed field, carrying the URL's id
			// and owner.
			events := a.events(t, "url_id=1&event_type=updated")
			added := events[len(eventsBefore):]
			if len(added) != len(tc.changes) {
				t.Fatalf("%d updated events, want %d: %v", len(added), len(tc.changes), added)
			}
			var details []string
			for _, ev := range added {
				if got, owner := ev["user_id"], link["user_id"]; got != owner {
					t.Errorf("event user_id %v, want the owner %v", got, owner)
				}
				wantTimeBetween(t, ev["timestamp"], before, after)
				details = append(details, mustJSON(t, ev["details"]))
			}
			slices.Sort(details)
			for i, want := range tc.changes {
				wantJSONEqual(t, decodeJSON(t, []byte(details[i])), want)
			}
		})
	}
}

func TestUnknownURLFieldMessage(t *testing.T) {
	a := startAPI(t, Options{})
	a.createURL(t, map[string]any{"original_url": "https://example.com/a"})

	created := wantError(t, a.send(t, http.MethodPost, "/urls", `{"original_url":"https://example.com/b","clicks":5}`), http.StatusUnprocessableEntity, "clicks")
	if msg := created["error"].(string); !strings.Contains(msg, "short_code") {
		t.Errorf("create error %q does not list short_code, which a create may send", msg)
	}
	updated := wantError(t, a.send(t, http.MethodPut, "/urls/1", `{"clicks":5}`), http.StatusUnprocessableEntity, "clicks")
	msg := updated["error"].(string)
	if strings.Contains(msg, "short_code") {
		t.Errorf("update error %q lists short_code, which an update cannot change", msg)
	}
	if !strings.Contains(msg, "redirect_type") {
		t.Errorf("update error %q does not list redirect_type", msg)
	}
}

func TestDeleteURL(t *testing.T) {
	a := startAPI(t, Options{})
	owner := jsonID(t, a.createUser(t, "kate", "kate@example.com")["id"])
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/gone", "user_id": owner})
	other := a.createURL(t, map[string]any{"original_url": "https://example.com/stays"})
	id := jsonID(t, link["id"])
	code := link["short_code"].(string)
	path := fmt.Sprintf("/urls/%d", id)

	// A redirect before the delete may leave the link in a cache.
	wantStatus(t, a.get(t, "/"+code), http.StatusFound)

	before := time.Now()
	resp := a.delete(t, path)
	after := time.Now()
	wantStatus(t, resp, http.StatusNoContent)
	if len(resp.body) != 0 {
		t.Errorf("204 body %q, want none", resp.body)
	}

	tests := []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{name: "get", method: http.MethodGet, path: path},
		{name: "update", method: http.MethodPut, path: path, body: `{"title":"x"}`},
		{name: "delete again", method: http.MethodDelete, path: path},
		{name: "redirect", method: http.MethodGet, path: "/" + code},
		{name: "redirect route", method: http.MethodGet, path: "/urls/" + code + "/redirect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := apiRequest{method: tc.method, path: tc.path, body: tc.body}
			if tc.body != "" {
				req.contentType = "application/json"
			}
			wantError(t, a.do(t, req), http.StatusNotFound, "")
		})
	}

	t.Run("list", func(t *testing.T) {
		links, n := a.list(t, "/urls")
		if n != 1 || len(links) != 1 || links[0]["id"] != other["id"] {
			t.Fatalf("urls after delete: %d total, %v; want only id %v", n, links, other["id"])
		}
	})
	t.Run("events kept", func(t *testing.T) {
		events := a.events(t, fmt.Sprintf("url_id=%d", id))
		byType := map[string][]map[string]any{}
		for _, ev := range events {
			typ := ev["event_type"].(string)
			byType[typ] = append(byType[typ], ev)
		}
		if len(byType["created"]) != 1 || len(byType["deleted"]) != 1 {
			t.Fatalf("events %v, want one created and one deleted", events)
		}
		deleted := byType["deleted"][0]
		if got := jsonOptionalID(t, deleted["user_id"]); got != owner {
			t.Errorf("deleted event user_id %d, want %d", got, owner)
		}
		wantJSONEqual(t, deleted["details"], `{"reason":"user_requested"}`)
		wantTimeBetween(t, deleted["timestamp"], before, after)
	})

	// The redirect returned 302 while the link was active, so its
	// click is one of the events that stay. Event ids need not follow
	// the order of the requests.
	t.Run("click before delete kept", func(t *testing.T) {
		var types []string
		for _, ev := range a.events(t, fmt.Sprintf("url_id=%d", id)) {
			types = append(types, ev["event_type"].(string))
		}
		slices.Sort(types)
		if want := []string{"click", "created", "deleted"}; !slices.Equal(types, want) {
			t.Fatalf("event types %v, want one each of %v", types, want)
		}
	})
}

func TestRedirectLocation(t *testing.T) {
	a := startAPI(t, Options{})
	tests := []struct {
		name     string
		target   string
		location string
	}{
		{name: "plain", target: "https://example.com/docs", location: "https://example.com/docs"},
		{name: "escaped plus", target: "https://example.com/a%2Bb", location: "https://example.com/a%2Bb"},
		{name: "escaped slash", target: "https://example.com/a%2Fb/c", location: "https://example.com/a%2Fb/c"},
		{name: "escaped percent", target: "https://example.com/100%25?p=%25", location: "https://example.com/100%25?p=%25"},
		{name: "plus in query", target: "https://example.com/s?q=a+b&x=%2B", location: "https://example.com/s?q=a+b&x=%2B"},
		{name: "repeated and valueless params", target: "https://example.com/?a=1&a=2&b", location: "https://example.com/?a=1&a=2&b"},
		{name: "fragment", target: "https://example.com/page#frag", location: "https://example.com/page#frag"},
		{name: "query and fragment", target: "http://example.com:8080/p;x=1?q=%7B%7D#sec-2", location: "http://example.com:8080/p;x=1?q=%7B%7D#sec-2"},
		{name: "mixed case", target: "HTTPS://Example.COM/MiXeD?Q=V", location: "HTTPS://Example.COM/MiXeD?Q=V"},
		{name: "escaped unicode", target: "https://example.com/%E2%82%AC", location: "https://example.com/%E2%82%AC"},
		{name: "unicode host", target: "https://bücher.example/", location: "https://xn--bcher-kva.example/"},
		{name: "unicode path", target: "https://example.com/straße", location: "https://example.com/stra%C3%9Fe"},
		{name: "unicode query and fragment", target: "https://example.com/?q=ü#é", location: "https://example.com/?q=%C3%BC#%C3%A9"},
		{name: "unicode host port and path", target: "https://münchen.example:8443/straße?x=ö&y=%2F", location: "https://xn--mnchen-3ya.example:8443/stra%C3%9Fe?x=%C3%B6&y=%2F"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			link := a.createURL(t, map[string]any{"original_url": tc.target})
			if link["original_url"] != tc.target {
				t.Fatalf("stored original_url %q, want %q", link["original_url"], tc.target)
			}
			code := link["short_code"].(string)
			paths := []string{"/" + code, "/urls/" + code + "/redirect", "/" + code + "/"}
			for _, path := range paths {
				resp := a.get(t, path)
				wantStatus(t, resp, http.StatusFound)
				if got := resp.header.Values("Location"); len(got) != 1 || got[0] != tc.location {
					t.Errorf("GET %s: Location %q, want %q", path, got, tc.location)
				}
				wantShortBody(t, resp)
			}
			clicks := a.events(t, fmt.Sprintf("url_id=%d&event_type=click", jsonID(t, link["id"])))
			if len(clicks) != len(paths) {
				t.Errorf("%d click events after %d redirects", len(clicks), len(paths))
			}
		})
	}
}

// wantShortBody checks that a redirect has no body or a short JSON one.
func wantShortBody(t *testing.T, resp apiResponse) {
	t.Helper()
	if len(resp.body) == 0 {
		return
	}
	if len(resp.body) > 1024 {
		t.Errorf("redirect body has %d bytes, want a short JSON body or none", len(resp.body))
	}
	if !json.Valid(resp.body) {
		t.Errorf("redirect body is not JSON: %s", clip(resp.body))
	}
}

func TestRedirectClick(t *testing.T) {
	a := startAPI(t, Options{})
	owner := jsonID(t, a.createUser(t, "liam", "liam@example.com")["id"])
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/clicked", "user_id": owner})
	id := jsonID(t, link["id"])
	code := link["short_code"].(string)

	tests := []struct {
		name      string
		path      string
		referrer  string
		userAgent string
	}{
		{name: "short path", path: "/" + code, referrer: "https://news.example/post/1", userAgent: "linkbolt-test/1.0"},
		{name: "redirect route", path: "/urls/" + code + "/redirect", referrer: "https://mail.example/", userAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
		{name: "no referrer", path: "/" + code, referrer: "", userAgent: "curl/8.5.0"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{
				"User-Agent":      tc.userAgent,
				"X-Forwarded-For": "203.0.113.9",
				"X-Real-IP":       "203.0.113.10",
			}
			if tc.referrer != "" {
				header["Referer"] = tc.referrer
			}
			before := time.Now()
			resp := a.do(t, apiRequest{method: http.MethodGet, path: tc.path, header: header})
			after := time.Now()
			wantStatus(t, resp, http.StatusFound)

			// The click must be listed as soon as the redirect response arrives.
			clicks := a.events(t, fmt.Sprintf("url_id=%d&event_type=click", id))
			if len(clicks) != i+1 {
				t.Fatalf("%d click events after %d redirects", len(clicks), i+1)
			}
			click := clicks[i]
			if got := jsonID(t, click["url_id"]); got != id {
				t.Errorf("url_id %d, want %d", got, id)
			}
			if got := jsonOptionalID(t, click["user_id"]); got != owner {
				t.Errorf("user_id %d, want the owner %d", got, owner)
			}
			wantTimeBetween(t, click["timestamp"], before, after)
			details := click["details"].(map[string]any)
			if details["referrer"] != tc.referrer {
				t.Errorf("details.referrer %#v, want %q", details["referrer"], tc.referrer)
			}
			if details["user_agent"] != tc.userAgent {
				t.Errorf("details.user_agent %#v, want %q", details["user_agent"], tc.userAgent)
			}

			// No form of the client's address is stored.
			raw := a.get(t, fmt.Sprintf("/events/%d", jsonID(t, click["id"])))
			wantObject(t, raw, http.StatusOK)
			for _, ip := range []string{"127.0.0.1", "::1", "203.0.113.9", "203.0.113.10"} {
				if bytes.Contains(raw.body, []byte(ip)) {
					t.Errorf("click event contains the client address %s: %s", ip, raw.body)
				}
			}
			for _, key := range []string{"ip", "client_ip", "remote_addr", "ip_address"} {
				if _, ok := details[key]; ok {
					t.Errorf("click details have a %q key: %v", key, details)
				}
			}
		})
	}
}

func TestRedirectConcurrentClicks(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/busy"})
	code := link["short_code"].(string)

	const workers, perWorker = 20, 10
	errs := make(chan error, workers*perWorker)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				resp, err := a.client.Get(a.base + "/" + code)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusFound {
					errs <- fmt.Errorf("status %d, want 302", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	path := fmt.Sprintf("/events?url_id=%d&event_type=click", jsonID(t, link["id"]))
	if _, n := a.list(t, path); n != workers*perWorker {
		t.Fatalf("%d click events after %d redirects", n, workers*perWorker)
	}
}

func TestRedirectHead(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/head?a=1&a=2#f"})
	code := link["short_code"].(string)
	inactive := a.createURL(t, map[string]any{"original_url": "https://example.com/off"})
	wantObject(t, a.send(t, http.MethodPut, fmt.Sprintf("/urls/%d", jsonID(t, inactive["id"])), `{"is_active":false}`), http.StatusOK)
	offCode := inactive["short_code"].(string)

	tests := []struct {
		name     string
		path     string
		status   int
		location string
	}{
		{name: "short path", path: "/" + code, status: http.StatusFound, location: "https://example.com/head?a=1&a=2#f"},
		{name: "redirect route", path: "/urls/" + code + "/redirect", status: http.StatusFound, location: "https://example.com/head?a=1&a=2#f"},
		{name: "trailing slash", path: "/" + code + "/", status: http.StatusFound, location: "https://example.com/head?a=1&a=2#f"},
		{name: "inactive", path: "/" + offCode, status: http.StatusNotFound},
		{name: "unknown", path: "/zz9zz9", status: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eventsBefore := a.events(t, "")
			head := a.head(t, tc.path)
			get := a.get(t, tc.path)
			if head.status != tc.status || get.status != tc.status {
				t.Fatalf("HEAD status %d, GET status %d, want %d", head.status, get.status, tc.status)
			}
			if got, want := head.header.Get("Location"), get.header.Get("Location"); got != want || got != tc.location {
				t.Errorf("HEAD Location %q, GET Location %q, want %q", got, want, tc.location)
			}
			if len(head.body) != 0 {
				t.Errorf("HEAD body %q, want none", head.body)
			}

			// Only the GET of an active link adds an event.
			added := len(a.events(t, "")) - len(eventsBefore)
			want := 0
			if tc.status == http.StatusFound {
				want = 1
			}
			if added != want {
				t.Errorf("HEAD and GET added %d events, want %d", added, want)
			}
		})
	}
}

func TestRedirectNotFound(t *testing.T) {
	a := startAPI(t, Options{})
	a.importCSV(t, "/urls/bulk", "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n"+
		"1,,abc123,https://example.com/lower,,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n"+
		"2,,ABC123,https://example.com/upper,,True,2025-01-01 00:00:00,2025-01-01 00:00:00\n"+
		"3,,off456,https://example.com/off,,False,2025-01-01 00:00:00,2025-01-01 00:00:00\n")

	t.Run("codes are case-sensitive", func(t *testing.T) {
		for code, want := range map[string]string{"abc123": "https://example.com/lower", "ABC123": "https://example.com/upper"} {
			for _, path := range []string{"/" + code, "/" + code + "/", "/urls/" + code + "/redirect"} {
				resp := a.get(t, path)
				wantStatus(t, resp, http.StatusFound)
				if got := resp.header.Get("Location"); got != want {
					t.Errorf("GET %s: Location %q, want %q", path, got, want)
				}
			}
		}
	})

	eventsBefore := len(a.events(t, ""))
	paths := []string{
		"/Abc123", "/abc12", "/abc1234", "/off456", "/off456/", "/OFF456",
		"/urls/Abc123/redirect", "/urls/off456/redirect", "/urls/nope99/redirect", "/a.b", "/%20",
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			wantError(t, a.get(t, path), http.StatusNotFound, "")
		})
	}
	if after := len(a.events(t, "")); after != eventsBefore {
		t.Fatalf("404 redirects added %d events", after-eventsBefore)
	}
}

func TestRedirectFollowsUpdates(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/v1"})
	path := fmt.Sprintf("/urls/%d", jsonID(t, link["id"]))
	code := "/" + link["short_code"].(string)

	// Cases run in order, and each redirect follows the update before it.
	tests := []struct {
		name     string
		update   string
		status   int
		location string
	}{
		{name: "initial", update: `{}`, status: http.StatusFound, location: "https://example.com/v1"},
		{name: "new target", update: `{"original_url":"https://example.com/v2"}`, status: http.StatusFound, location: "https://example.com/v2"},
		{name: "deactivated", update: `{"is_active":false}`, status: http.StatusNotFound},
		{name: "reactivated", update: `{"is_active":true}`, status: http.StatusFound, location: "https://example.com/v2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantObject(t, a.send(t, http.MethodPut, path, tc.update), http.StatusOK)
			resp := a.get(t, code)
			wantStatus(t, resp, tc.status)
			if got := resp.header.Get("Location"); got != tc.location {
				t.Fatalf("Location %q, want %q", got, tc.location)
			}
		})
	}
}

func TestCreateEvent(t *testing.T) {
	a := startAPI(t, Options{})
	owner := jsonID(t, a.createUser(t, "mia", "mia@example.com")["id"])
	urlID := jsonID(t, a.createURL(t, map[string]any{"original_url": "https://example.com/ev", "user_id": owner})["id"])

	tests := []struct {
		name      string
		body      map[string]any
		userID    uint64
		details   string
		timestamp string // "" means the time of the request
	}{
		{name: "minimal", body: map[string]any{"event_type": "share", "url_id": urlID}, details: `{}`},
		{name: "with user", body: map[string]any{"event_type": "share", "url_id": urlID, "user_id": owner}, userID: owner, details: `{}`},
		{name: "null user", body: map[string]any{"event_type": "view", "url_id": urlID, "user_id": nil}, details: `{}`},
		{name: "details", body: map[string]any{"event_type": "share", "url_id": urlID,
			"details": map[string]any{"channel": "email", "n": 3, "tags": []any{"a", "b"}, "meta": map[string]any{"ok": true}}},
			details: `{"channel":"email","n":3,"tags":["a","b"],"meta":{"ok":true}}`},
		{name: "empty details", body: map[string]any{"event_type": "share", "url_id": urlID, "details": map[string]any{}}, details: `{}`},
		{name: "timestamp", body: map[string]any{"event_type": "share", "url_id": urlID, "timestamp": "2025-09-19T22:25:05"},
			details: `{}`, timestamp: "2025-09-19T22:25:05"},
		{name: "server event type", body: map[string]any{"event_type": "click", "url_id": urlID, "user_id": owner}, userID: owner, details: `{}`},
		{name: "64 char type", body: map[string]any{"event_type": strings.Repeat("t", 64), "url_id": urlID}, details: `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			ev := wantObject(t, a.send(t, http.MethodPost, "/events", mustJSON(t, tc.body)), http.StatusCreated)
			after := time.Now()

			checkEvent(t, ev)
			if ev["event_type"] != tc.body["event_type"] {
				t.Errorf("event_type %v, want %v", ev["event_type"], tc.body["event_type"])
			}
			if got := jsonID(t, ev["url_id"]); got != urlID {
				t.Errorf("url_id %d, want %d", got, urlID)
			}
			if got := jsonOptionalID(t, ev["user_id"]); got != tc.userID {
				t.Errorf("user_id %d, want %d (0 is null)", got, tc.userID)
			}
			wantJSONEqual(t, ev["details"], tc.details)
			if tc.timestamp == "" {
				wantTimeBetween(t, ev["timestamp"], before, after)
			} else if ev["timestamp"] != tc.timestamp {
				t.Errorf("timestamp %v, want %s", ev["timestamp"], tc.timestamp)
			}

			got := wantObject(t, a.get(t, fmt.Sprintf("/events/%d", jsonID(t, ev["id"]))), http.StatusOK)
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("GET returned %s, POST returned %s", mustJSON(t, got), mustJSON(t, ev))
			}
		})
	}
}

// linkPattern matches one link of an RFC 8288 Link header as the server
// writes it.
var linkPattern = regexp.MustCompile(`^<([^>]+)>\s*;\s*rel="?([a-z]+)"?$`)

// parseLinks returns the target of each relation of a Link header.
func parseLinks(t *testing.T, header string) map[string]*url.URL {
	t.Helper()
	links := map[string]*url.URL{}
	for part := range strings.SplitSeq(header, ",") {
		m := linkPattern.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			t.Fatalf("Link %q: cannot parse %q", header, part)
		}
		target, err := url.Parse(m[1])
		if err != nil {
			t.Fatalf("Link %q: target %q: %v", header, m[1], err)
		}
		if _, dup := links[m[2]]; dup {
			t.Fatalf("Link %q names rel %q twice", header, m[2])
		}
		links[m[2]] = target
	}
	return links
}

func TestListPaging(t *testing.T) {
	a := startAPI(t, Options{})
	for i := 1; i <= 5; i++ {
		a.createUser(t, fmt.Sprintf("pager%d", i), fmt.Sprintf("pager%d@example.com", i))
	}

	tests := []struct {
		name    string
		query   string
		perPage string
		ids     []uint64
		links   map[string]string // rel to page number
	}{
		{name: "defaults", query: "", perPage: "100", ids: []uint64{1, 2, 3, 4, 5},
			links: map[string]string{"first": "1", "last": "1"}},
		{name: "first page", query: "?per_page=2", perPage: "2", ids: []uint64{1, 2},
			links: map[string]string{"first": "1", "next": "2", "last": "3"}},
		{name: "middle page", query: "?page=2&per_page=2", perPage: "2", ids: []uint64{3, 4},
			links: map[string]string{"first": "1", "prev": "1", "next": "3", "last": "3"}},
		{name: "last page", query: "?page=3&per_page=2", perPage: "2", ids: []uint64{5},
			links: map[string]string{"first": "1", "prev": "2", "last": "3"}},
		{name: "past the end", query: "?page=4&per_page=2", perPage: "2", ids: []uint64{},
			links: map[string]string{"first": "1", "prev": "3", "last": "3"}},
		{name: "page size of all", query: "?per_page=5", perPage: "5", ids: []uint64{1, 2, 3, 4, 5},
			links: map[string]string{"first": "1", "last": "1"}},
		{name: "page only", query: "?page=1", perPage: "100", ids: []uint64{1, 2, 3, 4, 5},
			links: map[string]string{"first": "1", "last": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.get(t, "/users"+tc.query)
			users := wantArray(t, resp, http.StatusOK)
			for _, u := range users {
				checkUser(t, u)
			}
			if got := ids(t, users); !slices.Equal(got, tc.ids) {
				t.Errorf("ids %v, want %v", got, tc.ids)
			}
			if n := totalCount(t, resp); n != 5 {
				t.Errorf("X-Total-Count %d, want 5", n)
			}
			links := parseLinks(t, resp.header.Get("Link"))
			if len(links) != len(tc.links) {
				t.Errorf("Link %q has %d links, want %v", resp.header.Get("Link"), len(links), tc.links)
			}
			for rel, page := range tc.links {
				target, ok := links[rel]
				if !ok {
					t.Errorf("Link %q has no rel %q", resp.header.Get("Link"), rel)
					continue
				}
				q := target.Query()
				if target.Path != "/users" || q.Get("page") != page || q.Get("per_page") != tc.perPage {
					t.Errorf("rel %q is %s, want /users page %s per_page %s", rel, target, page, tc.perPage)
				}
			}
		})
	}
}

// TestListLinksKeepOnlyFilters lists with every filter of each list route,
// a parameter that no list reads and filters of other lists. The page
// links keep the list's own filters, with the value the list used, and
// leave out the rest, so their length cannot inflate the header.
func TestListLinksKeepOnlyFilters(t *testing.T) {
	a := startAPI(t, Options{})
	long := strings.Repeat("a", 10_000)
	tests := []struct {
		path string
		keep map[string]string
		drop []string
	}{
		{"/urls?user_id=3&is_active=true&short_code=abc&url_id=" + long,
			map[string]string{"user_id": "3", "is_active": "true", "short_code": "abc"}, []string{"url_id"}},
		{"/events?url_id=4&user_id=5&event_type=click&short_code=" + long,
			map[string]string{"url_id": "4", "user_id": "5", "event_type": "click"}, []string{"short_code"}},
		{"/users?per_page=5&user_id=abc&is_active=bogus",
			map[string]string{"per_page": "5"}, []string{"user_id", "is_active"}},
		{"/urls?user_id=1&user_id=2",
			map[string]string{"user_id": "1"}, nil},
		{"/admin/reservations?url_id=" + long, nil, []string{"url_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.path[:min(len(tt.path), 60)], func(t *testing.T) {
			resp := a.get(t, tt.path+"&zz="+long)
			wantArray(t, resp, http.StatusOK)
			if n := len(resp.header.Get("Link")); n > 1000 {
				t.Fatalf("Link header is %d bytes, want the other parameters left out", n)
			}
			first := parseLinks(t, resp.header.Get("Link"))["first"]
			if first == nil {
				t.Fatalf("Link %q has no first", resp.header.Get("Link"))
			}
			got := first.Query()
			for name, value := range tt.keep {
				if vs := got[name]; len(vs) != 1 || vs[0] != value {
					t.Errorf("first link %s has %s=%q, want only %q", first, name, vs, value)
				}
			}
			for _, name := range append(tt.drop, "zz") {
				if got.Has(name) {
					t.Errorf("first link %s keeps %s, which this list does not read", first, name)
				}
			}
		})
	}
}

func TestListEmpty(t *testing.T) {
	a := startAPI(t, Options{})
	for _, path := range []string{"/users", "/urls", "/events", "/events?url_id=7"} {
		t.Run(path, func(t *testing.T) {
			resp := a.get(t, path)
			if items := wantArray(t, resp, http.StatusOK); len(items) != 0 {
				t.Fatalf("%d items, want 0", len(items))
			}
			if n := totalCount(t, resp); n != 0 {
				t.Fatalf("X-Total-Count %d, want 0", n)
			}
			links := parseLinks(t, resp.header.Get("Link"))
			if _, ok := links["first"]; !ok {
				t.Errorf("Link %q has no first", resp.header.Get("Link"))
			}
			if _, ok := links["next"]; ok {
				t.Errorf("Link %q has next on an empty list", resp.header.Get("Link"))
			}
		})
	}
}

func TestListFollowLinks(t *testing.T) {
	a := startAPI(t, Options{})
	owner := jsonID(t, a.createUser(t, "nora", "nora@example.com")["id"])
	var want []uint64
	for i := range 7 {
		fields := map[string]any{"original_url": fmt.Sprintf("https://example.com/%d", i)}
		if i%2 == 0 {
			fields["user_id"] = owner
		}
		link := a.createURL(t, fields)
		if i%2 == 0 {
			want = append(want, jsonID(t, link["id"]))
		}
	}

	// Following next links from the first page visits every match once,
	// with the filter kept.
	var got []uint64
	path := fmt.Sprintf("/urls?user_id=%d&per_page=2", owner)
	for range 10 {
		resp := a.get(t, path)
		got = append(got, ids(t, wantArray(t, resp, http.StatusOK))...)
		next, ok := parseLinks(t, resp.header.Get("Link"))["next"]
		if !ok {
			break
		}
		if next.Query().Get("user_id") != strconv.FormatUint(owner, 10) {
			t.Fatalf("next link %s dropped the user_id filter", next)
		}
		path = next.RequestURI()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ids %v across pages, want %v", got, want)
	}
}

func TestListPerPageLimit(t *testing.T) {
	a := startAPI(t, Options{})
	const n = 1005
	var b strings.Builder
	b.WriteString("id,username,email,created_at\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,many%d,many%d@example.com,2025-01-02 03:04:05\n", i, i, i)
	}
	a.importCSV(t, "/users/bulk", b.String())

	tests := []struct {
		name     string
		query    string
		first    uint64
		count    int
		lastPage string
	}{
		{name: "default page size", query: "", first: 1, count: 100, lastPage: "11"},
		{name: "default size last page", query: "?page=11", first: 1001, count: 5, lastPage: "11"},
		{name: "1000", query: "?per_page=1000", first: 1, count: 1000, lastPage: "2"},
		{name: "1001 means 1000", query: "?per_page=1001", first: 1, count: 1000, lastPage: "2"},
		{name: "5000 means 1000", query: "?per_page=5000", first: 1, count: 1000, lastPage: "2"},
		{name: "5000 page 2", query: "?per_page=5000&page=2", first: 1001, count: 5, lastPage: "2"},
		{name: "huge page size", query: "?per_page=99999999999999999999", first: 1, count: 1000, lastPage: "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.get(t, "/users"+tc.query)
			users := wantArray(t, resp, http.StatusOK)
			if len(users) != tc.count {
				t.Fatalf("%d users, want %d", len(users), tc.count)
			}
			got := ids(t, users)
			for i, id := range got {
				if id != tc.first+uint64(i) {
					t.Fatalf("item %d has id %d, want %d", i, id, tc.first+uint64(i))
				}
			}
			if total := totalCount(t, resp); total != n {
				t.Errorf("X-Total-Count %d, want %d", total, n)
			}
			last := parseLinks(t, resp.header.Get("Link"))["last"]
			if last == nil || last.Query().Get("page") != tc.lastPage {
				t.Errorf("last link %v, want page %s", last, tc.lastPage)
			}
		})
	}
}

func TestListBadPaging(t *testing.T) {
	a := startAPI(t, Options{})
	params := []string{
		"page=0", "page=-1", "page=abc", "page=1.5", "page=", "page=1e2", "page=%201",
		"per_page=0", "per_page=-5", "per_page=ten", "per_page=2.5", "per_page=",
	}
	for _, path := range []string{"/users", "/urls", "/events"} {
		for _, param := range params {
			t.Run(path+"?"+param, func(t *testing.T) {
				field, _, _ := strings.Cut(param, "=")
				wantError(t, a.get(t, path+"?"+param), http.StatusUnprocessableEntity, field)
			})
		}
	}
}

func TestListMalformedQuery(t *testing.T) {
	a := startAPI(t, Options{})
	a.createURL(t, map[string]any{"original_url": "https://example.com/"})
	queries := []struct {
		query string
		field string
	}{
		{query: "page=%zz", field: "page"},
		{query: "page=1&per_page=%", field: "per_page"},
		{query: "per_page=%2", field: "per_page"},
		{query: "page=2;per_page=5", field: "page"},
		{query: "%zz=1", field: ""},
	}
	paths := []string{"/users", "/urls", "/events", "/urls/1/stats"}
	for _, path := range paths {
		for _, tc := range queries {
			t.Run(path+"?"+tc.query, func(t *testing.T) {
				obj := wantError(t, a.get(t, path+"?"+tc.query), http.StatusUnprocessableEntity, tc.field)
				if tc.field == "" {
					if _, named := obj["field"]; named {
						t.Errorf("error names field %v, want none", obj["field"])
					}
				}
			})
		}
	}
}

func TestListURLFilters(t *testing.T) {
	a := startAPI(t, Options{})
	alice := jsonID(t, a.createUser(t, "olga", "olga@example.com")["id"])
	bob := jsonID(t, a.createUser(t, "pete", "pete@example.com")["id"])
	var links []map[string]any
	for i, owner := range []uint64{alice, alice, bob, 0} {
		fields := map[string]any{"original_url": fmt.Sprintf("https://example.com/f%d", i)}
		if owner != 0 {
			fields["user_id"] = owner
		}
		links = append(links, a.createURL(t, fields))
	}
	wantObject(t, a.send(t, http.MethodPut, fmt.Sprintf("/urls/%d", jsonID(t, links[1]["id"])), `{"is_active":false}`), http.StatusOK)
	id := func(i int) uint64 { return jsonID(t, links[i]["id"]) }
	code2 := links[2]["short_code"].(string)

	tests := []struct {
		name  string
		query string
		want  []uint64
	}{
		{name: "owner", query: fmt.Sprintf("user_id=%d", alice), want: []uint64{id(0), id(1)}},
		{name: "other owner", query: fmt.Sprintf("user_id=%d", bob), want: []uint64{id(2)}},
		{name: "unknown owner", query: "user_id=999", want: []uint64{}},
		{name: "active", query: "is_active=true", want: []uint64{id(0), id(2), id(3)}},
		{name: "inactive", query: "is_active=false", want: []uint64{id(1)}},
		{name: "owner and active", query: fmt.Sprintf("user_id=%d&is_active=true", alice), want: []uint64{id(0)}},
		{name: "short code", query: "short_code=" + code2, want: []uint64{id(2)}},
		{name: "unknown short code", query: "short_code=zzzzzz9", want: []uint64{}},
		{name: "short code with paging", query: "short_code=" + code2 + "&page=1&per_page=1", want: []uint64{id(2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, total := a.list(t, "/urls?"+tc.query)
			for _, link := range items {
				checkURL(t, link)
			}
			if got := ids(t, items); !slices.Equal(got, tc.want) {
				t.Errorf("ids %v, want %v", got, tc.want)
			}
			if total != len(tc.want) {
				t.Errorf("X-Total-Count %d, want %d", total, len(tc.want))
			}
		})
	}

	malformed := []string{"user_id=abc", "user_id=1.5", "user_id=-1", "user_id=", "user_id=1e2",
		"is_active=yes", "is_active=1", "is_active=", "is_active=maybe"}
	for _, query := range malformed {
		t.Run("malformed "+query, func(t *testing.T) {
			field, _, _ := strings.Cut(query, "=")
			wantError(t, a.get(t, "/urls?"+query), http.StatusUnprocessableEntity, field)
		})
	}
}

func TestListEventFilters(t *testing.T) {
	a := startAPI(t, Options{})
	alice := jsonID(t, a.createUser(t, "quinn", "quinn@example.com")["id"])
	bob := jsonID(t, a.createUser(t, "rosa", "rosa@example.com")["id"])
	url1 := jsonID(t, a.createURL(t, map[string]any{"original_url": "https://example.com/e1", "user_id": alice})["id"])
	url2 := jsonID(t, a.createURL(t, map[string]any{"original_url": "https://example.com/e2", "user_id": bob})["id"])
	a.createURL(t, map[string]any{"original_url": "https://example.com/e3"})

	// Events 1 to 3 are the created events, and 4 to 6 are posted here.
	for _, body := range []map[string]any{
		{"event_type": "share", "url_id": url1, "user_id": bob},
		{"event_type": "share", "url_id": url2},
		{"event_type": "view", "url_id": url1, "user_id": alice},
	} {
		wantObject(t, a.send(t, http.MethodPost, "/events", mustJSON(t, body)), http.StatusCreated)
	}

	tests := []struct {
		name  string
		query string
		want  []uint64
	}{
		{name: "url", query: fmt.Sprintf("url_id=%d", url1), want: []uint64{1, 4, 6}},
		{name: "user", query: fmt.Sprintf("user_id=%d", alice), want: []uint64{1, 6}},
		{name: "other user", query: fmt.Sprintf("user_id=%d", bob), want: []uint64{2, 4}},
		{name: "type created", query: "event_type=created", want: []uint64{1, 2, 3}},
		{name: "type share", query: "event_type=share", want: []uint64{4, 5}},
		{name: "url and type", query: fmt.Sprintf("url_id=%d&event_type=share", url1), want: []uint64{4}},
		{name: "url and user", query: fmt.Sprintf("url_id=%d&user_id=%d", url1, alice), want: []uint64{1, 6}},
		{name: "unknown url", query: "url_id=999", want: []uint64{}},
		{name: "unknown type", query: "event_type=nothing", want: []uint64{}},
		{name: "paged", query: "event_type=share&per_page=1&page=2", want: []uint64{5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, total := a.list(t, "/events?"+tc.query)
			for _, ev := range items {
				checkEvent(t, ev)
			}
			if got := ids(t, items); !slices.Equal(got, tc.want) {
				t.Errorf("ids %v, want %v", got, tc.want)
			}
			if tc.name != "paged" && total != len(tc.want) {
				t.Errorf("X-Total-Count %d, want %d", total, len(tc.want))
			}
		})
	}

	malformed := []string{"url_id=abc", "url_id=-1", "url_id=1.5", "url_id=", "user_id=x", "user_id=2.0", "user_id=",
		"event_type=", "event_type=%00", "event_type=a%0Ab", "event_type=%20%20"}
	for _, query := range malformed {
		t.Run("malformed "+query, func(t *testing.T) {
			field, _, _ := strings.Cut(query, "=")
			wantError(t, a.get(t, "/events?"+query), http.StatusUnprocessableEntity, field)
		})
	}
}

// Small CSV files in the seed-file format.
const (
	usersCSV = "id,username,email,created_at\n" +
		"3,sam,sam@example.com,2024-05-06 07:08:09\n" +
		"7,tina,tina@example.com,2024-06-07 08:09:10\n" +
		"42,uma,uma@example.com,2024-07-08 09:10:11\n"
	urlsCSV = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n" +
		"5,3,Abc123,https://example.com/a?x=1&x=2#top,Launch notes,True,2024-01-02 03:04:05,2024-03-04 05:06:07\n" +
		"9,7,xyz789,https://example.com/b,Old,False,2024-02-03 04:05:06,2024-02-03 04:05:06\n" +
		"11,42,Q1w2E3,http://example.org/c%2Fd,Third,True,2024-02-03 04:05:06,2024-05-06 07:08:09\n"
	eventsCSV = "id,url_id,user_id,event_type,timestamp,details\n" +
		"4,5,3,created,2024-01-02 03:04:05,\"{\"\"short_code\"\":\"\"Abc123\"\",\"\"original_url\"\":\"\"https://example.com/a\"\"}\"\n" +
		"8,5,3,updated,2024-03-04 05:06:07,\"{\"\"field\"\":\"\"title\"\",\"\"new_value\"\":\"\"renamed\"\"}\"\n" +
		"20,9,7,deleted,2024-02-03 04:05:06,\"{\"\"reason\"\":\"\"policy_cleanup\"\"}\"\n"
)

func TestBulkImportForms(t *testing.T) {
	files := []struct {
		route string
		list  string
		text  string
		ids   []uint64
	}{
		{route: "/users/bulk", list: "/users", text: usersCSV, ids: []uint64{3, 7, 42}},
		{route: "/urls/bulk", list: "/urls", text: urlsCSV, ids: []uint64{5, 9, 11}},
		{route: "/events/bulk", list: "/events", text: eventsCSV, ids: []uint64{4, 8, 20}},
	}
	forms := []struct {
		name string
		body func(t *testing.T, text string) (contentType, body string)
	}{
		{name: "multipart row_count first", body: func(t *testing.T, text string) (string, string) { return multipartCSV(t, text, true) }},
		{name: "multipart row_count last", body: func(t *testing.T, text string) (string, string) { return multipartCSV(t, text, false) }},
		{name: "text/csv", body: func(t *testing.T, text string) (string, string) { return "text/csv", text }},
		{name: "text/csv with charset", body: func(t *testing.T, text string) (string, string) { return "text/csv; charset=utf-8", text }},
	}
	for _, file := range files {
		for _, form := range forms {
			t.Run(file.route+" "+form.name, func(t *testing.T) {
				a := startAPI(t, Options{})
				contentType, body := form.body(t, file.text)
				req := apiRequest{method: http.MethodPost, path: file.route, contentType: contentType, body: body}
				result := wantObject(t, a.do(t, req), http.StatusCreated)
				wantJSONEqual(t, result, `{"imported":3,"count":3}`)

				items, total := a.list(t, file.list)
				if total != 3 {
					t.Errorf("X-Total-Count %d, want 3", total)
				}
				if got := ids(t, items); !slices.Equal(got, file.ids) {
					t.Errorf("ids %v, want %v", got, file.ids)
				}
			})
		}
	}
}

func TestBulkRejectsContentEncoding(t *testing.T) {
	a := startAPI(t, Options{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(usersCSV))
	zw.Close()
	for _, encoding := range []string{"gzip", "deflate, gzip", "br"} {
		t.Run(encoding, func(t *testing.T) {
			req := apiRequest{method: http.MethodPost, path: "/users/bulk", contentType: "text/csv",
				body: gz.String(), header: map[string]string{"Content-Encoding": encoding}}
			body := wantError(t, a.do(t, req), http.StatusUnsupportedMediaType, "")
			if msg := body["error"].(string); !strings.Contains(msg, "Content-Encoding") {
				t.Errorf("error %q does not name Content-Encoding", msg)
			}
		})
	}
	if _, total := a.list(t, "/users"); total != 0 {
		t.Errorf("X-Total-Count %d after rejected uploads, want 0", total)
	}

	// identity is no encoding at all.
	req := apiRequest{method: http.MethodPost, path: "/users/bulk", contentType: "text/csv",
		body: usersCSV, header: map[string]string{"Content-Encoding": "identity"}}
	wantObject(t, a.do(t, req), http.StatusCreated)
}

func TestCharsetOtherThanUTF8Rejected(t *testing.T) {
	a := startAPI(t, Options{})
	tests := []struct {
		path, contentType, body string
	}{
		{"/urls", "application/json; charset=latin1", `{"original_url":"https://example.com/latin"}`},
		{"/urls", "application/json; charset=UTF-16", `{"original_url":"https://example.com/utf16"}`},
		{"/users/bulk", "text/csv; charset=windows-1252", usersCSV},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			req := apiRequest{method: http.MethodPost, path: tt.path, contentType: tt.contentType, body: tt.body}
			body := wantError(t, a.do(t, req), http.StatusUnsupportedMediaType, "")
			if msg := body["error"].(string); !strings.Contains(msg, "charset") {
				t.Errorf("error %q does not name the charset", msg)
			}
		})
	}
	if _, total := a.list(t, "/urls"); total != 0 {
		t.Errorf("X-Total-Count %d after rejected bodies, want 0", total)
	}

	for _, contentType := range []string{"application/json; charset=utf-8", "application/json; charset=UTF8", "application/json; charset=us-ascii"} {
		req := apiRequest{method: http.MethodPost, path: "/urls", contentType: contentType, body: `{"original_url":"https://example.com/ok"}`}
		wantObject(t, a.do(t, req), http.StatusCreated)
	}
}

// multipartPart builds a multipart/form-data body whose file field has
// the given part headers.
func multipartPart(t *testing.T, header textproto.MIMEHeader, text string) (contentType, body string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	header.Set("Content-Disposition", `form-data; name="file"; filename="data.csv"`)
	part, err := mw.CreatePart(header)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(part, text); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.String()
}

func TestMultipartFileHeadersChecked(t *testing.T) {
	a := startAPI(t, Options{})
	tests := []struct {
		name, header, value, want string
	}{
		{"latin1 part", "Content-Type", "text/csv; charset=ISO-8859-1", `charset "ISO-8859-1"`},
		{"base64 part", "Content-Transfer-Encoding", "base64", `Content-Transfer-Encoding "base64"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			contentType, body := multipartPart(t, textproto.MIMEHeader{tt.header: {tt.value}}, usersCSV)
			req := apiRequest{method: http.MethodPost, path: "/users/bulk", contentType: contentType, body: body}
			got := wantError(t, a.do(t, req), http.StatusUnsupportedMediaType, "")
			if msg := got["error"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
		})
	}
	if _, total := a.list(t, "/users"); total != 0 {
		t.Errorf("X-Total-Count %d after rejected uploads, want 0", total)
	}

	for _, header := range []textproto.MIMEHeader{
		{"Content-Type": {"text/csv; charset=utf-8"}},
		{"Content-Transfer-Encoding": {"8bit"}},
		{"Content-Transfer-Encoding": {"quoted-printable"}},
	} {
		contentType, body := multipartPart(t, header, usersCSV)
		req := apiRequest{method: http.MethodPost, path: "/users/bulk", contentType: contentType, body: body}
		wantObject(t, a.do(t, req), http.StatusCreated)
	}
}

// TestErrorsEchoLongInputShort sends values of 100,000 bytes where the
// error message names the value, and expects a short error body.
func TestErrorsEchoLongInputShort(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/"})
	stats := fmt.Sprintf("/urls/%v/stats?days=", link["id"])
	long := strings.Repeat("9", 100_000)
	tests := []struct {
		name string
		req  apiRequest
		want int
	}{
		{"url id", apiRequest{method: http.MethodGet, path: "/urls/" + long}, http.StatusNotFound},
		{"user id", apiRequest{method: http.MethodGet, path: "/users/" + long}, http.StatusNotFound},
		{"page", apiRequest{method: http.MethodGet, path: "/urls?page=x" + long}, http.StatusUnprocessableEntity},
		{"id filter", apiRequest{method: http.MethodGet, path: "/urls?user_id=" + long}, http.StatusUnprocessableEntity},
		{"boolean filter", apiRequest{method: http.MethodGet, path: "/urls?is_active=" + long}, http.StatusUnprocessableEntity},
		{"stats days", apiRequest{method: http.MethodGet, path: stats + long}, http.StatusUnprocessableEntity},
		{"id in a body", apiRequest{method: http.MethodPost, path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/","user_id":` + long + `}`}, http.StatusNotFound},
		{"unknown field", apiRequest{method: http.MethodPost, path: "/users", contentType: "application/json",
			body: `{"username":"u","email":"u@example.com","` + strings.Repeat("f", 100_000) + `":1}`}, http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.do(t, tt.req)
			wantError(t, resp, tt.want, "")
			if len(resp.body) > 1000 {
				t.Errorf("error body is %d bytes, want under 1000: %s", len(resp.body), clip(resp.body))
			}
		})
	}
}

func TestJSONBodyContentEncodingRejected(t *testing.T) {
	a := startAPI(t, Options{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"original_url":"https://example.com/gz"}`))
	zw.Close()
	req := apiRequest{method: http.MethodPost, path: "/urls", contentType: "application/json",
		body: gz.String(), header: map[string]string{"Content-Encoding": "gzip"}}
	body := wantError(t, a.do(t, req), http.StatusUnsupportedMediaType, "")
	if msg := body["error"].(string); !strings.Contains(msg, "Content-Encoding") {
		t.Errorf("error %q does not name Content-Encoding", msg)
	}
	if _, total := a.list(t, "/urls"); total != 0 {
		t.Errorf("X-Total-Count %d after a rejected body, want 0", total)
	}
}

func TestBulkCountsRepeatedIDOnce(t *testing.T) {
	a := startAPI(t, Options{})
	text := "id,username,email,created_at\n" +
		"7,first,first@example.com,2025-01-01 00:00:00\n" +
		"7,second,second@example.com,2025-01-01 00:00:00\n"
	req := apiRequest{method: http.MethodPost, path: "/users/bulk", contentType: "text/csv", body: text}
	wantJSONEqual(t, wantObject(t, a.do(t, req), http.StatusCreated), `{"imported":1,"count":1}`)
	items, total := a.list(t, "/users")
	if total != 1 || len(items) != 1 || items[0]["username"] != "second" {
		t.Errorf("users = %v (total %d), want only the second row", items, total)
	}
}

func TestNULRejected(t *testing.T) {
	f := newFixture(t)
	a := f.api
	linkPath := fmt.Sprintf("/urls/%d", jsonID(t, f.link["id"]))
	userPath := fmt.Sprintf("/users/%d", jsonID(t, f.user["id"]))
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		field  string
	}{
		{"create url title", http.MethodPost, "/urls", `{"original_url":"https://example.com/n","title":"a\u0000b"}`, "title"},
		{"update url title", http.MethodPut, linkPath, `{"title":"\u0000"}`, "title"},
		{"create user username", http.MethodPost, "/users", `{"username":"a\u0000b","email":"n@example.com"}`, "username"},
		{"update user email", http.MethodPut, userPath, `{"email":"n\u0000@example.com"}`, "email"},
		{"create event type", http.MethodPost, "/events", fmt.Sprintf(`{"event_type":"no\u0000te","url_id":%d}`, jsonID(t, f.link["id"])), "event_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apiRequest{method: tt.method, path: tt.path, contentType: "application/json", body: tt.body}
			body := wantError(t, a.do(t, req), http.StatusUnprocessableEntity, tt.field)
			if msg := body["error"].(string); !strings.Contains(msg, "NUL") {
				t.Errorf("error %q does not name the NUL character", msg)
			}
		})
	}
	f.wantUnchanged(t)

	// Bulk rows name the line and the column.
	text := "id,user_id,short_code,original_url,title,is_active,created_at\n" +
		"9,,nul1,https://example.com/n,a\x00b,True,2025-01-01 00:00:00\n"
	req := apiRequest{method: http.MethodPost, path: "/urls/bulk", contentType: "text/csv", body: text}
	body := wantError(t, a.do(t, req), http.StatusUnprocessableEntity, "")
	if got := mustJSON(t, body["rows"]); !strings.Contains(got, `"line":2`) || !strings.Contains(got, "column title contains a NUL byte") {
		t.Errorf("rows = %s, want line 2 and column title", got)
	}
	f.wantUnchanged(t)
}

func TestBulkKeepsRecords(t *testing.T) {
	a := startAPI(t, Options{})
	a.importCSV(t, "/users/bulk", usersCSV)
	a.importCSV(t, "/urls/bulk", urlsCSV)
	a.importCSV(t, "/events/bulk", eventsCSV)

	tests := []struct {
		name string
		path string
		want string
	}{
		{name: "user", path: "/users/42",
			want: `{"id":42,"username":"uma","email":"uma@example.com","created_at":"2024-07-08T09:10:11"}`},
		{name: "event", path: "/events/8",
			want: `{"id":8,"url_id":5,"user_id":3,"event_type":"updated","timestamp":"2024-03-04T05:06:07","details":{"field":"title","new_value":"renamed"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantJSONEqual(t, wantObject(t, a.get(t, tc.path), http.StatusOK), tc.want)
		})
	}
	t.Run("urls", func(t *testing.T) {
		want := []map[string]any{
			{"id": json.Number("5"), "user_id": json.Number("3"), "short_code": "Abc123",
				"original_url": "https://example.com/a?x=1&x=2#top", "title": "Launch notes", "is_active": true,
				"created_at": "2024-01-02T03:04:05", "updated_at": "2024-03-04T05:06:07"},
			{"id": json.Number("9"), "user_id": json.Number("7"), "short_code": "xyz789",
				"original_url": "https://example.com/b", "title": "Old", "is_active": false,
				"created_at": "2024-02-03T04:05:06", "updated_at": "2024-02-03T04:05:06"},
		}
		for _, w := range want {
			got := wantObject(t, a.get(t, fmt.Sprintf("/urls/%s", w["id"])), http.StatusOK)
			checkURL(t, got)
			for key, value := range w {
				if got[key] != value {
					t.Errorf("url %s: %s %#v, want %#v", w["id"], key, got[key], value)
				}
			}
		}
	})
	t.Run("redirects", func(t *testing.T) {
		resp := a.get(t, "/Abc123")
		wantStatus(t, resp, http.StatusFound)
		if got := resp.header.Get("Location"); got != "https://example.com/a?x=1&x=2#top" {
			t.Errorf("Location %q, want https://example.com/a?x=1&x=2#top", got)
		}
		wantError(t, a.get(t, "/xyz789"), http.StatusNotFound, "")
		clicks := a.events(t, "url_id=5&event_type=click")
		if len(clicks) != 1 || jsonOptionalID(t, clicks[0]["user_id"]) != 3 {
			t.Errorf("click events %v, want one with user_id 3", clicks)
		}
	})

	// New records get ids above the highest imported id of their kind.
	t.Run("new ids", func(t *testing.T) {
		user := a.createUser(t, "victor", "victor@example.com")
		if id := jsonID(t, user["id"]); id <= 42 {
			t.Errorf("new user id %d, want above 42", id)
		}
		link := a.createURL(t, map[string]any{"original_url": "https://example.com/new"})
		if id := jsonID(t, link["id"]); id <= 11 {
			t.Errorf("new url id %d, want above 11", id)
		}
		ev := wantObject(t, a.send(t, http.MethodPost, "/events", `{"event_type":"share","url_id":5}`), http.StatusCreated)
		if id := jsonID(t, ev["id"]); id <= 20 {
			t.Errorf("new event id %d, want above 20", id)
		}
		if _, n := a.list(t, "/users"); n != 4 {
			t.Errorf("users: X-Total-Count %d, want 4", n)
		}
	})

	// A second import of an id replaces that record.
	t.Run("upsert", func(t *testing.T) {
		n := a.importCSV(t, "/users/bulk", "id,username,email,created_at\n7,tina2,tina2@example.com,2024-06-07 08:09:10\n")
		if n != 1 {
			t.Errorf("imported %d, want 1", n)
		}
		wantJSONEqual(t, wantObject(t, a.get(t, "/users/7"), http.StatusOK),
			`{"id":7,"username":"tina2","email":"tina2@example.com","created_at":"2024-06-07T08:09:10"}`)
		if _, n := a.list(t, "/users"); n != 4 {
			t.Errorf("users: X-Total-Count %d, want 4", n)
		}
	})
}

func TestBulkImportRedirects(t *testing.T) {
	a := startAPI(t, Options{})
	const header = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n"

	// Cases run in order. Each request before the import may leave the
	// code's old state in a cache.
	tests := []struct {
		name     string
		row      string
		status   int
		location string
	}{
		{name: "new code", row: "1,,Imp0rt,https://example.com/v1,,True,2024-01-01 00:00:00,\n",
			status: http.StatusFound, location: "https://example.com/v1"},
		{name: "new target", row: "1,,Imp0rt,https://example.com/v2,,True,2024-01-01 00:00:00,\n",
			status: http.StatusFound, location: "https://example.com/v2"},
		{name: "deactivated", row: "1,,Imp0rt,https://example.com/v2,,False,2024-01-01 00:00:00,\n",
			status: http.StatusNotFound},
		{name: "reactivated", row: "1,,Imp0rt,https://example.com/v3,,True,2024-01-01 00:00:00,\n",
			status: http.StatusFound, location: "https://example.com/v3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.get(t, "/Imp0rt")
			a.importCSV(t, "/urls/bulk", header+tc.row)
			resp := a.get(t, "/Imp0rt")
			wantStatus(t, resp, tc.status)
			if got := resp.header.Get("Location"); got != tc.location {
				t.Fatalf("Location %q, want %q", got, tc.location)
			}
		})
	}
}

// TestBulkListsEveryConflict uploads links whose codes stored links hold.
// The 422 names each such row by id, and nothing is written.
func TestBulkListsEveryConflict(t *testing.T) {
	a := startAPI(t, Options{})
	a.createURL(t, map[string]any{"original_url": "https://example.com/a", "short_code": "takenA"})
	a.createURL(t, map[string]any{"original_url": "https://example.com/b", "short_code": "takenB"})
	text := "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n" +
		"10,,takenA,https://example.com/x,,True,2024-01-01 00:00:00,\n" +
		"11,,free11,https://example.com/y,,True,2024-01-01 00:00:00,\n" +
		"12,,takenB,https://example.com/z,,True,2024-01-01 00:00:00,\n"
	resp := a.postCSV(t, "/urls/bulk", text)
	body := wantError(t, resp, http.StatusUnprocessableEntity, "")
	if msg := body["error"].(string); msg != "no rows were imported: 2 rows conflict with stored records" {
		t.Errorf("error %q, want the count of conflicting rows", msg)
	}
	rows, _ := body["rows"].([]any)
	var got []uint64
	for _, row := range rows {
		got = append(got, jsonID(t, row.(map[string]any)["id"]))
	}
	if !slices.Equal(got, []uint64{10, 12}) {
		t.Errorf("rows name ids %v, want [10 12]: %s", got, clip(resp.body))
	}
	if _, total := a.list(t, "/urls"); total != 2 {
		t.Errorf("X-Total-Count %d after the rejected upload, want the 2 created", total)
	}
}

func TestBulkAllOrNothing(t *testing.T) {
	const (
		userHeader  = "id,username,email,created_at\n"
		urlHeader   = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n"
		eventHeader = "id,url_id,user_id,event_type,timestamp,details\n"
		goodUser    = "1,walt,walt@example.com,2024-01-01 00:00:00\n"
		goodURL     = "1,1,good01,https://example.com/good,Good,True,2024-01-01 00:00:00,2024-01-01 00:00:00\n"
		goodEvent   = "1,1,1,created,2024-01-01 00:00:00,{}\n"
	)
	tests := []struct {
		name  string
		route string
		list  string
		text  string
		lines []int
	}{
		{name: "user bad email", route: "/users/bulk", list: "/users",
			text: userHeader + goodUser + "2,xena,not-an-email,2024-01-01 00:00:00\n", lines: []int{3}},
		{name: "user empty username", route: "/users/bulk", list: "/users",
			text: userHeader + goodUser + "2,,xena@example.com,2024-01-01 00:00:00\n", lines: []int{3}},
		{name: "user bad created_at", route: "/users/bulk", list: "/users",
			text: userHeader + "2,xena,xena@example.com,yesterday\n" + goodUser, lines: []int{2}},
		{name: "user bad id", route: "/users/bulk", list: "/users",
			text: userHeader + goodUser + "x,xena,xena@example.com,2024-01-01 00:00:00\n", lines: []int{3}},
		{name: "users two bad rows", route: "/users/bulk", list: "/users",
			text: userHeader + "2,,a@example.com,2024-01-01 00:00:00\n" + goodUser + "3,yara,bad,2024-01-01 00:00:00\n", lines: []int{2, 4}},
		{name: "url ftp", route: "/urls/bulk", list: "/urls",
			text: urlHeader + goodURL + "2,1,bad002,ftp://example.com/x,T,True,2024-01-01 00:00:00,2024-01-01 00:00:00\n", lines: []int{3}},
		{name: "url javascript", route: "/urls/bulk", list: "/urls",
			text: urlHeader + "2,1,bad002,javascript:alert(1),T,True,2024-01-01 00:00:00,2024-01-01 00:00:00\n" + goodURL, lines: []int{2}},
		{name: "url bad is_active", route: "/urls/bulk", list: "/urls",
			text: urlHeader + goodURL + "2,1,bad002,https://example.com/x,T,maybe,2024-01-01 00:00:00,2024-01-01 00:00:00\n", lines: []int{3}},
		{name: "url bad short_code", route: "/urls/bulk", list: "/urls",
			text: urlHeader + goodURL + "2,1,bad code,https://example.com/x,T,True,2024-01-01 00:00:00,2024-01-01 00:00:00\n", lines: []int{3}},
		{name: "event details not JSON", route: "/events/bulk", list: "/events",
			text: eventHeader + goodEvent + "2,1,1,updated,2024-01-01 00:00:00,not json\n", lines: []int{3}},
		{name: "event details array", route: "/events/bulk", list: "/events",
			text: eventHeader + goodEvent + "2,1,1,updated,2024-01-01 00:00:00,[1]\n", lines: []int{3}},
		{name: "event empty type", route: "/events/bulk", list: "/events",
			text: eventHeader + goodEvent + "2,1,1,,2024-01-01 00:00:00,{}\n", lines: []int{3}},
		{name: "event bad url_id", route: "/events/bulk", list: "/events",
			text: eventHeader + "2,abc,1,click,2024-01-01 00:00:00,{}\n" + goodEvent, lines: []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := startAPI(t, Options{})
			resp := a.postCSV(t, tc.route, tc.text)
			body := wantError(t, resp, http.StatusUnprocessableEntity, "")
			for _, line := range tc.lines {
				if !namesLine(body, line) {
					t.Errorf("error does not name line %d: %s", line, clip(resp.body))
				}
			}
			wantMsg := "no rows were imported: 1 invalid row"
			if len(tc.lines) > 1 {
				wantMsg = fmt.Sprintf("no rows were imported: %d invalid rows", len(tc.lines))
			}
			if msg, _ := body["error"].(string); msg != wantMsg {
				t.Errorf("error = %q, want %q", msg, wantMsg)
			}
			if _, n := a.list(t, tc.list); n != 0 {
				t.Errorf("X-Total-Count %d after a rejected import, want 0", n)
			}
		})
	}
}

// namesLine reports whether an error body names a CSV line, in its message
// or as the line of one of its rows.
func namesLine(body map[string]any, line int) bool {
	if msg, _ := body["error"].(string); regexp.MustCompile(`\bline ` + strconv.Itoa(line) + `\b`).MatchString(msg) {
		return true
	}
	rows, _ := body["rows"].([]any)
	for _, row := range rows {
		r, _ := row.(map[string]any)
		if n, ok := r["line"].(json.Number); ok && n.String() == strconv.Itoa(line) {
			return true
		}
	}
	return false
}

// seedDir returns the folder of the seed CSV files. It skips the test when
// the folder is absent, unless LINKBOLT_REQUIRE_INTEGRATION=1.
func seedDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "users.csv")); err != nil {
		if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("seed data is required: %v", err)
		}
		t.Skipf("seed data not found: %v", err)
	}
	return dir
}

// readCSV reads a CSV file and returns its rows as maps keyed by the
// header.
func readCSV(t *testing.T, path string) (text string, rows []map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	for _, record := range records[1:] {
		row := map[string]string{}
		for i, name := range records[0] {
			row[name] = record[i]
		}
		rows = append(rows, row)
	}
	return string(data), rows
}

// csvTime converts a seed timestamp, "2025-06-09 11:24:49", to the API form.
func csvTime(s string) string {
	return strings.Replace(s, " ", "T", 1)
}

// listAll reads every page of a list route at 1000 items a page.
func (a *apiClient) listAll(t *testing.T, path string) []map[string]any {
	t.Helper()
	var all []map[string]any
	for page := 1; ; page++ {
		items, total := a.list(t, fmt.Sprintf("%s?per_page=1000&page=%d", path, page))
		all = append(all, items...)
		if len(items) == 0 || len(all) >= total {
			if len(all) != total {
				t.Fatalf("%s: read %d items, X-Total-Count %d", path, len(all), total)
			}
			return all
		}
	}
}

func TestSeedImport(t *testing.T) {
	dir := seedDir(t)
	sets := []struct {
		name    string
		dir     string
		active  int
		repeats []string
	}{
		{name: "set-a", dir: dir, active: 1621},
		{name: "set-b", dir: filepath.Join(dir, "set-b"), active: 1638,
			repeats: []string{"emberdelta37", "navyzenith64", "silverpioneer32"}},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			t.Parallel()
			a := startAPI(t, Options{})
			usersText, users := readCSV(t, filepath.Join(set.dir, "users.csv"))
			urlsText, links := readCSV(t, filepath.Join(set.dir, "urls.csv"))
			eventsText, events := readCSV(t, filepath.Join(set.dir, "events.csv"))

			// Users go as a multipart upload, URLs as a text/csv body.
			if n := a.importCSV(t, "/users/bulk", usersText); n != 400 {
				t.Fatalf("users imported %d, want 400", n)
			}
			resp := a.do(t, apiRequest{method: http.MethodPost, path: "/urls/bulk", contentType: "text/csv", body: urlsText})
			wantJSONEqual(t, wantObject(t, resp, http.StatusCreated), `{"imported":2000,"count":2000}`)
			if n := a.importCSV(t, "/events/bulk", eventsText); n != 3422 {
				t.Fatalf("events imported %d, want 3422", n)
			}

			checkSeedUsers(t, a, users)
			checkSeedURLs(t, a, links, set.active)
			checkSeedEvents(t, a, events)
			checkSeedRedirects(t, a, links, set.active)

			t.Run("repeated usernames", func(t *testing.T) {
				all := a.listAll(t, "/users")
				for _, name := range set.repeats {
					count := 0
					for _, u := range all {
						if u["username"] == name {
							count++
						}
					}
					if count != 2 {
						t.Errorf("username %s appears %d times, want 2", name, count)
					}
					body := mustJSON(t, map[string]any{"username": strings.ToUpper(name), "email": name + "@new.example"})
					wantError(t, a.send(t, http.MethodPost, "/users", body), http.StatusConflict, "")
				}
			})
			t.Run("new ids", func(t *testing.T) {
				user := a.createUser(t, "newcomer", "newcomer@example.com")
				if id := jsonID(t, user["id"]); id <= 400 {
					t.Errorf("new user id %d, want above 400", id)
				}
				link := a.createURL(t, map[string]any{"original_url": "https://example.com/after-import"})
				if id := jsonID(t, link["id"]); id <= 2000 {
					t.Errorf("new url id %d, want above 2000", id)
				}
			})
		})
	}
}

// checkSeedUsers compares every user with its row of users.csv.
func checkSeedUsers(t *testing.T, a *apiClient, rows []map[string]string) {
	t.Helper()
	users := a.listAll(t, "/users")
	if len(users) != len(rows) {
		t.Fatalf("%d users, want %d", len(users), len(rows))
	}
	for i, row := range rows {
		want := map[string]any{
			"id":         json.Number(row["id"]),
			"username":   row["username"],
			"email":      row["email"],
			"created_at": csvTime(row["created_at"]),
		}
		if !reflect.DeepEqual(users[i], want) {
			t.Fatalf("user %s: got %s, want %s", row["id"], mustJSON(t, users[i]), mustJSON(t, want))
		}
	}
	one := wantObject(t, a.get(t, "/users/"+rows[199]["id"]), http.StatusOK)
	if !reflect.DeepEqual(one, users[199]) {
		t.Fatalf("GET /users/%s: %v, list has %v", rows[199]["id"], one, users[199])
	}
}

// checkSeedURLs compares every URL with its row of urls.csv and checks the
// is_active filter against the number of active rows.
func checkSeedURLs(t *testing.T, a *apiClient, rows []map[string]string, active int) {
	t.Helper()
	links := a.listAll(t, "/urls")
	if len(links) != len(rows) {
		t.Fatalf("%d urls, want %d", len(links), len(rows))
	}
	for i, row := range rows {
		link := links[i]
		checkURL(t, link)
		var title any = row["title"]
		if row["title"] == "" {
			title = link["title"] // an empty cell may read as "" or null
		}
		want := map[string]any{
			"id":           json.Number(row["id"]),
			"user_id":      json.Number(row["user_id"]),
			"short_code":   row["short_code"],
			"original_url": row["original_url"],
			"title":        title,
			"is_active":    row["is_active"] == "True",
			"created_at":   csvTime(row["created_at"]),
			"updated_at":   csvTime(row["updated_at"]),
		}
		for key, value := range want {
			if link[key] != value {
				t.Fatalf("url %s: %s %#v, want %#v", row["id"], key, link[key], value)
			}
		}
	}
	if _, n := a.list(t, "/urls?is_active=true"); n != active {
		t.Errorf("active urls: X-Total-Count %d, want %d", n, active)
	}
	if _, n := a.list(t, "/urls?is_active=false"); n != len(rows)-active {
		t.Errorf("inactive urls: X-Total-Count %d, want %d", n, len(rows)-active)
	}
}

// checkSeedEvents compares every event with its row of events.csv.
func checkSeedEvents(t *testing.T, a *apiClient, rows []map[string]string) {
	t.Helper()
	events := a.listAll(t, "/events")
	if len(events) != len(rows) {
		t.Fatalf("%d events, want %d", len(events), len(rows))
	}
	for i, row := range rows {
		ev := events[i]
		checkEvent(t, ev)
		want := map[string]any{
			"id":         json.Number(row["id"]),
			"url_id":     json.Number(row["url_id"]),
			"user_id":    json.Number(row["user_id"]),
			"event_type": row["event_type"],
			"timestamp":  csvTime(row["timestamp"]),
			"details":    decodeJSON(t, []byte(row["details"])),
		}
		if !reflect.DeepEqual(ev, want) {
			t.Fatalf("event %s: got %s, want %s", row["id"], mustJSON(t, ev), mustJSON(t, want))
		}
	}
}

// checkSeedRedirects follows every short code: active ones redirect to
// their original_url and record a click, inactive ones are 404.
func checkSeedRedirects(t *testing.T, a *apiClient, rows []map[string]string, active int) {
	t.Helper()
	clicksBefore := len(a.events(t, "event_type=click"))
	for _, row := range rows {
		resp := a.get(t, "/"+row["short_code"])
		if row["is_active"] != "True" {
			wantError(t, resp, http.StatusNotFound, "")
			continue
		}
		wantStatus(t, resp, http.StatusFound)
		if got := resp.header.Get("Location"); got != row["original_url"] {
			t.Fatalf("/%s: Location %q, want %q", row["short_code"], got, row["original_url"])
		}
	}
	_, clicks := a.list(t, "/events?event_type=click")
	if clicks-clicksBefore != active {
		t.Fatalf("%d click events after %d redirects", clicks-clicksBefore, active)
	}
}

// TestStoreClosed checks that reads and writes of a store that can no longer
// be read return 503, health included, and never 500.
func TestStoreClosed(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "linkbolt.db"), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	srv, err := New(Options{Store: st, Clicks: RecorderOptions{Flush: testClickFlush}})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts := httptest.NewServer(srv)
	a := &apiClient{base: ts.URL, client: ts.Client()}
	a.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shut down server: %v", err)
		}
	})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/closed"})
	code := link["short_code"].(string)
	if err := st.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}

	body := wantObject(t, a.get(t, "/health"), http.StatusServiceUnavailable)
	if body["status"] != "unavailable" {
		t.Errorf("health status %#v, want \"unavailable\"", body["status"])
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{name: "list users", method: http.MethodGet, path: "/users"},
		{name: "get user", method: http.MethodGet, path: "/users/1"},
		{name: "create user", method: http.MethodPost, path: "/users", body: `{"username":"zed","email":"zed@example.com"}`},
		{name: "list urls", method: http.MethodGet, path: "/urls"},
		{name: "get url", method: http.MethodGet, path: "/urls/1"},
		{name: "update url", method: http.MethodPut, path: "/urls/1", body: `{"title":"x"}`},
		{name: "delete url", method: http.MethodDelete, path: "/urls/1"},
		{name: "list events", method: http.MethodGet, path: "/events"},
		{name: "create event", method: http.MethodPost, path: "/events", body: `{"event_type":"share","url_id":1}`},
		{name: "redirect", method: http.MethodGet, path: "/" + code},
		{name: "unknown code", method: http.MethodGet, path: "/" + code + "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := apiRequest{method: tc.method, path: tc.path, body: tc.body}
			if tc.body != "" {
				req.contentType = "application/json"
			}
			wantError(t, a.do(t, req), http.StatusServiceUnavailable, "")
		})
	}
}

func TestRepeatedFieldNamed(t *testing.T) {
	a := startAPI(t, Options{})
	bodies := map[string]string{
		"original_url": `{"original_url":"https://example.com/a","original_url":"javascript:alert(1)"}`,
		"title":        `{"original_url":"https://example.com/a","title":"a","user_id":null,"title":"b"}`,
		"short_code":   `{"short_code":"a","original_url":"https://example.com/a","short\u005fcode":"b"}`,
	}
	for name, body := range bodies {
		resp := a.send(t, http.MethodPost, "/urls", body)
		wantError(t, resp, http.StatusBadRequest, "")
		if !strings.Contains(string(resp.body), `\"`+name+`\" more than once`) {
			t.Errorf("error %s does not name the field %s", resp.body, name)
		}
	}
	// The same name inside details, a free-form object, is kept as sent.
	resp := a.send(t, http.MethodPost, "/events", `{"event_type":"share","url_id":null,"details":{"a":1,"a":2}}`)
	if resp.status == http.StatusBadRequest {
		t.Errorf("a name repeated inside details got %d: %s", resp.status, resp.body)
	}
}

func TestBodyByteOrderMarkNamed(t *testing.T) {
	a := startAPI(t, Options{})
	resp := a.send(t, http.MethodPost, "/urls", "\uFEFF"+`{"original_url":"https://example.com/"}`)
	wantError(t, resp, http.StatusBadRequest, "")
	if !strings.Contains(string(resp.body), "byte order mark") {
		t.Errorf("error %s does not name the byte order mark", resp.body)
	}
}
