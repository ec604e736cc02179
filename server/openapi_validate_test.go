package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	validationerrors "github.com/pb33f/libopenapi-validator/errors"
)

// These tests run the OpenAPI document through libopenapi-validator: the
// document against the OpenAPI 3.1 schema, then real requests and responses
// of a test server against the document.

// validationKey is the API key of the server these tests start.
const validationKey = "validation-key"

func newOpenAPIValidator(t *testing.T) validator.Validator {
	t.Helper()
	doc, err := libopenapi.NewDocument(openAPIDocument)
	if err != nil {
		t.Fatalf("parse openapi.json: %v", err)
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Fatalf("build the OpenAPI model of openapi.json: %v", err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("create validator: %v", errs)
	}
	return v
}

// formatValidationErrors lists the errors of a validation, with their
// schema failures, one per line.
func formatValidationErrors(errs []*validationerrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s at %s", f.Reason, f.FieldPath)
		}
	}
	return b.String()
}

func TestOpenAPIDocumentValid(t *testing.T) {
	v := newOpenAPIValidator(t)
	if ok, errs := v.ValidateDocument(); !ok {
		t.Errorf("openapi.json is not a valid OpenAPI document:%s", formatValidationErrors(errs))
	}
}

// validationStep is one request to a test server, with the status it must
// get and whether the document accepts the request.
type validationStep struct {
	name         string
	method       string
	path         string
	contentType  string
	body         string
	header       map[string]string
	noKey        bool
	status       int
	requestValid bool
}

func TestOpenAPIResponsesMatch(t *testing.T) {
	v := newOpenAPIValidator(t)
	a := startAPI(t, Options{APIKeys: []string{validationKey}, MaxBodyBytes: 4096})
	csvType, csvBody := multipartCSV(t, "id,username,email,created_at\n11,,bad,2025-01-02 03:04:05\n", false)

	// The steps run in order on one store, whose first user and URL get
	// id 1.
	steps := []validationStep{
		{name: "health", method: "GET", path: "/health", status: 200, requestValid: true},
		{name: "ready", method: "GET", path: "/ready", status: 200, requestValid: true},
		{name: "metrics", method: "GET", path: "/metrics", status: 200, requestValid: true},
		{name: "openapi", method: "GET", path: "/openapi.json", status: 200, requestValid: true},
		{name: "no API key", method: "GET", path: "/users", noKey: true, status: 401},
		{name: "create user", method: "POST", path: "/users", contentType: "application/json",
			body: `{"username":"ada","email":"ada@example.com"}`, status: 201, requestValid: true},
		{name: "create user conflict", method: "POST", path: "/users", contentType: "application/json",
			body: `{"username":"ADA","email":"other@example.com"}`, status: 409, requestValid: true},
		{name: "create user wrong type", method: "POST", path: "/users", contentType: "application/json",
			body: `{"username":12345,"email":"x@example.com"}`, status: 422},
		{name: "create user unknown field", method: "POST", path: "/users", contentType: "application/json",
			body: `{"username":"bob","email":"bob@example.com","age":3}`, status: 422},
		{name: "create user array body", method: "POST", path: "/users", contentType: "application/json",
			body: `[]`, status: 400},
		{name: "create user body too large", method: "POST", path: "/users", contentType: "application/json",
			body: `{"username":"bob","email":"bob@example.com"}` + strings.Repeat(" ", 5000), status: 413, requestValid: true},
		{name: "create user as plain text", method: "POST", path: "/users", contentType: "text/plain",
			body: `{"username":"bob","email":"bob@example.com"}`, status: 415},
		{name: "list users", method: "GET", path: "/users?page=1&per_page=10", status: 200, requestValid: true},
		{name: "list users malformed query", method: "GET", path: "/users?page=%zz", status: 422, requestValid: true},
		{name: "list users bad page", method: "GET", path: "/users?page=0", status: 422},
		{name: "get user", method: "GET", path: "/users/1", status: 200, requestValid: true},
		{name: "get missing user", method: "GET", path: "/users/999", status: 404, requestValid: true},
		{name: "update user", method: "PUT", path: "/users/1", contentType: "application/json",
			body: `{"email":"ada@example.org"}`, status: 200, requestValid: true},
		{name: "create url with options", method: "POST", path: "/urls", contentType: "application/json",
			body:   `{"original_url":"https://example.com/a?q=1#top","user_id":1,"title":"A","short_code":"docs-link","max_clicks":50,"expires_at":"2099-01-02T03:04:05Z","redirect_type":307}`,
			status: 201, requestValid: true},
		{name: "create url plain", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/b"}`, status: 201, requestValid: true},
		{name: "create url expiring", method: "POST", path: "/urls", contentType: "application/json",
			body:   `{"original_url":"https://example.com/c","short_code":"old-link","expires_at":"2099-01-01 00:00:00","title":null,"user_id":null}`,
			status: 201, requestValid: true},
		{name: "create url past expiry", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/c","expires_at":"2020-01-01 00:00:00"}`, status: 422, requestValid: true},
		{name: "expire url now", method: "PUT", path: "/urls/3", contentType: "application/json",
			body: `{"expires_at":"2020-01-01 00:00:00"}`, status: 200, requestValid: true},
		{name: "url back on default redirect", method: "PUT", path: "/urls/3", contentType: "application/json",
			body: `{"redirect_type":null}`, status: 200, requestValid: true},
		{name: "create url taken code", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/d","short_code":"docs-link"}`, status: 409, requestValid: true},
		{name: "create url unknown user", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/d","user_id":999}`, status: 404, requestValid: true},
		{name: "create url ftp", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"ftp://example.com/d"}`, status: 422},
		{name: "create url bad code", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/d","short_code":"no spaces"}`, status: 422},
		{name: "create url zero max_clicks", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/d","max_clicks":0}`, status: 422},
		{name: "create url max_clicks above 2^53", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/e","max_clicks":9007199254740993}`, status: 201, requestValid: true},
		{name: "create url max_clicks above range", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/e","max_clicks":9223372036854775808}`, status: 422},
		{name: "create url bad redirect_type", method: "POST", path: "/urls", contentType: "application/json",
			body: `{"original_url":"https://example.com/d","redirect_type":303}`, status: 422},
		{name: "list urls filtered", method: "GET", path: "/urls?is_active=true&user_id=1&short_code=docs-link", status: 200, requestValid: true},
		{name: "list urls bad filter", method: "GET", path: "/urls?user_id=abc", status: 422},
		{name: "get url", method: "GET", path: "/urls/1", status: 200, requestValid: true},
		{name: "update url", method: "PUT", path: "/urls/1", contentType: "application/json",
			body: `{"title":null,"is_active":true,"max_clicks":null}`, status: 200, requestValid: true},
		{name: "update url short_code", method: "PUT", path: "/urls/1", contentType: "application/json",
			body: `{"short_code":"other"}`, status: 422},
		{name: "redirect", method: "GET", path: "/docs-link", header: map[string]string{"Referer": "https://news.example/"},
			noKey: true, status: 307, requestValid: true},
		{name: "redirect head", method: "HEAD", path: "/docs-link", noKey: true, status: 307, requestValid: true},
		{name: "redirect trailing slash", method: "GET", path: "/docs-link/", noKey: true, status: 307, requestValid: true},
		{name: "redirect under urls", method: "GET", path: "/urls/docs-link/redirect", noKey: true, status: 307, requestValid: true},
		{name: "redirect bot", method: "GET", path: "/docs-link", header: map[string]string{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"},
			noKey: true, status: 307, requestValid: true},
		{name: "redirect unknown", method: "GET", path: "/no-such-code", noKey: true, status: 404, requestValid: true},
		{name: "redirect unknown head", method: "HEAD", path: "/no-such-code", noKey: true, status: 404, requestValid: true},
		{name: "redirect expired", method: "GET", path: "/old-link", noKey: true, status: 410, requestValid: true},
		{name: "stats", method: "GET", path: "/urls/1/stats?days=7&include_bots=true", status: 200, requestValid: true},
		{name: "stats default window", method: "GET", path: "/urls/1/stats", status: 200, requestValid: true},
		{name: "stats bad days", method: "GET", path: "/urls/1/stats?days=0", status: 422},
		{name: "create event", method: "POST", path: "/events", contentType: "application/json",
			body:   `{"event_type":"shared","url_id":1,"user_id":1,"details":{"via":"mail"},"timestamp":"2025-09-19T22:25:05"}`,
			status: 201, requestValid: true},
		{name: "create event unknown url", method: "POST", path: "/events", contentType: "application/json",
			body: `{"event_type":"shared","url_id":999}`, status: 404, requestValid: true},
		{name: "create event details array", method: "POST", path: "/events", contentType: "application/json",
			body: `{"event_type":"shared","url_id":1,"details":[1]}`, status: 422},
		{name: "list click events", method: "GET", path: "/events?url_id=1&event_type=click", status: 200, requestValid: true},
		{name: "get event", method: "GET", path: "/events/1", status: 200, requestValid: true},
		{name: "import users csv", method: "POST", path: "/users/bulk", contentType: "text/csv",
			body: "id,username,email,created_at\n10,grace,grace@example.com,2025-01-02 03:04:05\n", status: 201, requestValid: true},
		{name: "import users invalid row", method: "POST", path: "/users/bulk", contentType: csvType,
			body: csvBody, status: 422, requestValid: true},
		{name: "import users json", method: "POST", path: "/users/bulk", contentType: "application/json",
			body: `{"file":"x"}`, status: 400},
		{name: "purge dry run", method: "POST", path: "/admin/purge", contentType: "application/json",
			body: `{"expired":true,"inactive":true,"dry_run":true}`, status: 200, requestValid: true},
		{name: "purge without filter", method: "POST", path: "/admin/purge", contentType: "application/json",
			body: `{"dry_run":true}`, status: 422},
		{name: "purge expired", method: "POST", path: "/admin/purge", contentType: "application/json",
			body: `{"expired":true,"created_before":"2100-01-01T00:00:00Z"}`, status: 200, requestValid: true},
		{name: "backup", method: "GET", path: "/admin/backup", status: 200, requestValid: true},
		{name: "delete url", method: "DELETE", path: "/urls/2", status: 204, requestValid: true},
		{name: "get deleted url", method: "GET", path: "/urls/2", status: 404, requestValid: true},
		{name: "delete user", method: "DELETE", path: "/users/1", status: 204, requestValid: true},
		{name: "url of deleted user", method: "GET", path: "/urls/1", status: 200, requestValid: true},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if !step.noKey {
				header := map[string]string{"Authorization": "Bearer " + validationKey}
				for k, val := range step.header {
					header[k] = val
				}
				step.header = header
			}
			checkAgainstOpenAPI(t, v, a, step)
		})
	}
}

func TestOpenAPIRateLimitResponse(t *testing.T) {
	v := newOpenAPIValidator(t)
	a := startAPI(t, Options{RateLimit: RateLimit{PerSecond: 0.001, Burst: 1}})
	steps := []validationStep{
		{name: "first write", method: "POST", path: "/users", contentType: "application/json",
			body: `{"username":"ada","email":"ada@example.com"}`, status: 201, requestValid: true},
		{name: "second write", method: "POST", path: "/users", contentType: "application/json",
			body: `{"username":"bob","email":"bob@example.com"}`, status: 429, requestValid: true},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			// The server has no API keys, but the document requires one.
			step.header = map[string]string{"Authorization": "Bearer " + validationKey}
			checkAgainstOpenAPI(t, v, a, step)
		})
	}
}

// checkAgainstOpenAPI sends the step's request, checks its status, and
// checks the request and the response against the document.
func checkAgainstOpenAPI(t *testing.T, v validator.Validator, a *apiClient, step validationStep) {
	t.Helper()
	resp := a.do(t, apiRequest{method: step.method, path: step.path, contentType: step.contentType, body: step.body, header: step.header})
	if resp.status != step.status {
		t.Fatalf("status %d, want %d; body %s", resp.status, step.status, clip(resp.body))
	}

	request := func() *http.Request {
		r := httptest.NewRequest(step.method, "http://linkbolt.test"+step.path, strings.NewReader(step.body))
		if step.contentType != "" {
			r.Header.Set("Content-Type", step.contentType)
		}
		for k, val := range step.header {
			r.Header.Set(k, val)
		}
		return r
	}
	ok, errs := v.ValidateHttpRequest(request())
	if ok != step.requestValid {
		t.Errorf("document accepts the request = %v, want %v:%s", ok, step.requestValid, formatValidationErrors(errs))
	}

	r := request()
	response := &http.Response{
		StatusCode:    resp.status,
		Header:        resp.header,
		Body:          io.NopCloser(bytes.NewReader(resp.body)),
		ContentLength: int64(len(resp.body)),
		Request:       r,
	}
	if ok, errs := v.ValidateHttpResponse(r, response); !ok {
		t.Errorf("response %d does not match the document:%s\nbody %s", resp.status, formatValidationErrors(errs), clip(resp.body))
	}
}
