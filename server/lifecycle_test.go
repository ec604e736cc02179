package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// samplePath turns a route pattern into a path that the route matches.
func samplePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{$}", "")
	path = strings.ReplaceAll(path, "{id}", "1")
	path = strings.ReplaceAll(path, "{code}", "abc123")
	return method, path
}

func TestReservedCodesFollowRoutes(t *testing.T) {
	a := startAPI(t, Options{})
	srv := &Server{}
	words := map[string]bool{"ui": true, "_cluster": true, "_CLUSTER": true}
	for _, rt := range srv.routeTable() {
		_, path := samplePath(rt.pattern)
		first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if store.ValidCode(first) && first != "abc123" {
			words[first] = true
			words[strings.ToUpper(first)] = true
		}
	}
	if !words["users"] || !words["admin"] || !words["health"] {
		t.Fatalf("route table gave reserved words %v", words)
	}
	for word := range words {
		t.Run(word, func(t *testing.T) {
			body := fmt.Sprintf(`{"original_url":"https://example.com/","short_code":%q}`, word)
			wantError(t, a.send(t, http.MethodPost, "/urls", body), http.StatusUnprocessableEntity, "short_code")
		})
	}
}

func TestCustomCodeNeverReused(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/", "short_code": "promo_2026"})
	body := `{"original_url":"https://example.org/","short_code":"promo_2026"}`
	wantError(t, a.send(t, http.MethodPost, "/urls", body), http.StatusConflict, "")

	wantStatus(t, a.delete(t, fmt.Sprintf("/urls/%d", jsonID(t, link["id"]))), http.StatusNoContent)
	wantError(t, a.send(t, http.MethodPost, "/urls", body), http.StatusConflict, "")

	other := `{"original_url":"https://example.org/","short_code":"Promo_2026"}`
	wantStatus(t, a.send(t, http.MethodPost, "/urls", other), http.StatusCreated)
}

func TestIsBot(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want bool
	}{
		{"chrome desktop", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36", false},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Version/17.4 Mobile/15E148 Safari/604.1", false},
		{"cubot phone", "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", false},
		{"python requests", "python-requests/2.32.3", false},
		{"curl", "curl/8.5.0", false},
		{"empty", "", false},
		{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
		{"bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true},
		{"facebook", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", true},
		{"twitter", "Twitterbot/1.0", true},
		{"slack", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true},
		{"discord", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true},
		{"whatsapp", "WhatsApp/2.23.20.0 A", true},
		{"telegram", "TelegramBot (like TwitterBot)", true},
		{"linkedin", "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", true},
	}
	var verdicts botVerdicts
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isBot(tt.ua); got != tt.want {
				t.Errorf("isBot(%q) = %v, want %v", tt.ua, got, tt.want)
			}
			// Twice, so that the second verdict comes from the
			// cache.
			for range 2 {
				if got := verdicts.isBot(tt.ua); got != tt.want {
					t.Errorf("botVerdicts.isBot(%q) = %v, want %v", tt.ua, got, tt.want)
				}
			}
		})
	}
}

func TestBotVerdictsBounded(t *testing.T) {
	var verdicts botVerdicts
	for i := range maxBotVerdicts + 10 {
		ua := fmt.Sprintf("Mozilla/5.0 test/%d", i)
		if i%2 == 1 {
			ua = fmt.Sprintf("Googlebot/%d", i)
		}
		if got, want := verdicts.isBot(ua), i%2 == 1; got != want {
			t.Fatalf("User-Agent %q: got %v, want %v", ua, got, want)
		}
		if n := len(verdicts.verdicts); n > maxBotVerdicts {
			t.Fatalf("%d verdicts remembered, want at most %d", n, maxBotVerdicts)
		}
	}
	if n := len(verdicts.verdicts); n != 10 {
		t.Errorf("%d verdicts after the reset, want the 10 added since", n)
	}
}

func TestBotClicksLeftOut(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/", "max_clicks": 1})
	code := link["short_code"].(string)
	id := jsonID(t, link["id"])

	bot := map[string]string{"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
	for range 3 {
		resp := a.do(t, apiRequest{method: http.MethodGet, path: "/" + code, header: bot})
		wantStatus(t, resp, http.StatusFound)
	}
	human := map[string]string{"User-Agent": "Mozilla/5.0 Firefox/125.0", "Referer": "https://news.example/"}
	wantStatus(t, a.do(t, apiRequest{method: http.MethodGet, path: "/" + code, header: human}), http.StatusFound)
	wantStatus(t, a.do(t, apiRequest{method: http.MethodGet, path: "/" + code, header: human}), http.StatusGone)

	clicks := a.events(t, fmt.Sprintf("url_id=%d&event_type=click", id))
	if len(clicks) != 4 {
		t.Fatalf("click events = %d, want 4 (3 bot, 1 human)", len(clicks))
	}
	for i, ev := range clicks {
		details := ev["details"].(map[string]any)
		if wantBot := i < 3; (details["bot"] == true) != wantBot {
			t.Errorf("click %d details = %v, want bot %v", i, details, wantBot)
		}
	}
	got := wantObject(t, a.get(t, fmt.Sprintf("/urls/%d", id)), http.StatusOK)
	if jsonInt(t, got["click_count"]) != 1 {
		t.Errorf("click_count = %v, want 1", got["click_count"])
	}
	stats := wantObject(t, a.get(t, fmt.Sprintf("/urls/%d/stats", id)), http.StatusOK)
	if jsonInt(t, stats["clicks"]) != 1 {
		t.Errorf("stats clicks = %v, want 1", stats["clicks"])
	}
	withBots := wantObject(t, a.get(t, fmt.Sprintf("/urls/%d/stats?include_bots=true", id)), http.StatusOK)
	if jsonInt(t, withBots["clicks"]) != 4 {
		t.Errorf("stats clicks with bots = %v, want 4", withBots["clicks"])
	}
}

func TestURLStats(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/"})
	id := jsonID(t, link["id"])
	for _, ref := range []string{"https://a.example/", "https://a.example/", "https://b.example/", ""} {
		req := apiRequest{method: http.MethodGet, path: "/" + link["short_code"].(string), header: map[string]string{"Referer": ref}}
		wantStatus(t, a.do(t, req), http.StatusFound)
	}

	stats := wantObject(t, a.get(t, fmt.Sprintf("/urls/%d/stats?days=7", id)), http.StatusOK)
	wantKeys(t, stats, "url_id", "short_code", "clicks", "last_click_at", "days", "clicks_by_day", "top_referrers")
	if jsonInt(t, stats["clicks"]) != 4 || stats["short_code"] != link["short_code"] {
		t.Errorf("stats = %v", stats)
	}
	days := stats["clicks_by_day"].([]any)
	if len(days) != 7 {
		t.Fatalf("clicks_by_day has %d days, want 7", len(days))
	}
	today := days[6].(map[string]any)
	if today["date"] != time.Now().UTC().Format(time.DateOnly) || jsonInt(t, today["count"]) != 4 {
		t.Errorf("last day = %v, want today with 4 clicks", today)
	}
	top := stats["top_referrers"].([]any)
	first := top[0].(map[string]any)
	if len(top) != 3 || first["referrer"] != "https://a.example/" || jsonInt(t, first["count"]) != 2 {
		t.Errorf("top_referrers = %v", top)
	}
	wantTimeBetween(t, stats["last_click_at"], time.Now().Add(-time.Minute), time.Now().Add(time.Second))

	empty := a.createURL(t, map[string]any{"original_url": "https://example.com/"})
	none := wantObject(t, a.get(t, fmt.Sprintf("/urls/%d/stats", jsonID(t, empty["id"]))), http.StatusOK)
	if none["last_click_at"] != nil || len(none["clicks_by_day"].([]any)) != 30 {
		t.Errorf("stats of an unclicked link = %v", none)
	}

	for _, q := range []string{"days=0", "days=-1", "days=abc", "days=3661", "include_bots=maybe"} {
		t.Run(q, func(t *testing.T) {
			wantError(t, a.get(t, fmt.Sprintf("/urls/%d/stats?%s", id, q)), http.StatusUnprocessableEntity, "")
		})
	}
	wantError(t, a.get(t, "/urls/999/stats"), http.StatusNotFound, "")
}

func TestAPIKeysGuardPrivateRoutes(t *testing.T) {
	a := startAPI(t, Options{APIKeys: []string{"first-key", " second-key "}})
	srv := &Server{}
	for _, rt := range srv.routeTable() {
		method, path := samplePath(rt.pattern)
		t.Run(rt.pattern, func(t *testing.T) {
			resp := a.do(t, apiRequest{method: method, path: path, contentType: "application/json", body: "{}"})
			if rt.public {
				if resp.status == http.StatusUnauthorized {
					t.Errorf("public route answered 401")
				}
				return
			}
			wantError(t, resp, http.StatusUnauthorized, "")
			if !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.header.Get("WWW-Authenticate"))
			}
		})
	}

	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"first key", "Bearer first-key", http.StatusOK},
		{"second key trimmed", "Bearer second-key", http.StatusOK},
		{"scheme any case", "bearer first-key", http.StatusOK},
		{"wrong key", "Bearer third-key", http.StatusUnauthorized},
		{"prefix of a key", "Bearer first", http.StatusUnauthorized},
		{"basic scheme", "Basic Zmlyc3Qta2V5", http.StatusUnauthorized},
		{"no token", "Bearer", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.do(t, apiRequest{method: http.MethodGet, path: "/users", header: map[string]string{"Authorization": tt.header}})
			wantStatus(t, resp, tt.want)
		})
	}
}

func TestRateLimitOnWrites(t *testing.T) {
	a := startAPI(t, Options{RateLimit: RateLimit{
		PerSecond:      0.001,
		Burst:          2,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}})
	post := func(forwardedFor string) apiResponse {
		req := apiRequest{method: http.MethodPost, path: "/users", contentType: "application/json",
			body: fmt.Sprintf(`{"username":"u%d","email":"u%d@example.com"}`, time.Now().UnixNano(), time.Now().UnixNano())}
		if forwardedFor != "" {
			req.header = map[string]string{"X-Forwarded-For": forwardedFor}
		}
		return a.do(t, req)
	}

	wantStatus(t, post("198.51.100.7"), http.StatusCreated)
	wantStatus(t, post("198.51.100.7"), http.StatusCreated)
	limited := post("198.51.100.7")
	wantError(t, limited, http.StatusTooManyRequests, "")
	if limited.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantStatus(t, post("198.51.100.8"), http.StatusCreated)
	wantStatus(t, a.get(t, "/users"), http.StatusOK)
}

func TestRateLimitAfterAPIKey(t *testing.T) {
	a := startAPI(t, Options{APIKeys: []string{"first-key"}, RateLimit: RateLimit{PerSecond: 0.001, Burst: 1}})
	post := func(authorization string) apiResponse {
		body := fmt.Sprintf(`{"username":"u%d","email":"u%d@example.com"}`, time.Now().UnixNano(), time.Now().UnixNano())
		return a.do(t, apiRequest{method: http.MethodPost, path: "/users", contentType: "application/json", body: body,
			header: map[string]string{"Authorization": authorization}})
	}

	// Requests without a valid key get 401 and take no token of the
	// client's bucket.
	for _, authorization := range []string{"", "Bearer wrong-key", "Bearer wrong-key"} {
		wantError(t, post(authorization), http.StatusUnauthorized, "")
	}
	wantStatus(t, post("Bearer first-key"), http.StatusCreated)
	wantError(t, post("Bearer first-key"), http.StatusTooManyRequests, "")
	wantError(t, post("Bearer wrong-key"), http.StatusUnauthorized, "")
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		peer   string
		header string
		want   string
	}{
		{"untrusted peer ignores header", "192.0.2.1:5000", "203.0.113.9", "192.0.2.1"},
		{"trusted peer", "10.0.0.2:5000", "203.0.113.9", "203.0.113.9"},
		{"rightmost untrusted hop", "10.0.0.2:5000", "198.51.100.1, 203.0.113.9, 10.0.0.3", "203.0.113.9"},
		{"all hops trusted", "10.0.0.2:5000", "10.0.0.4, 10.0.0.3", "10.0.0.4"},
		{"malformed hop", "10.0.0.2:5000", "nonsense", "10.0.0.2"},
		{"no header", "10.0.0.2:5000", "", "10.0.0.2"},
		{"ipv6 peer", "[2001:db8::1]:5000", "203.0.113.9", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/users", nil)
			r.RemoteAddr = tt.peer
			if tt.header != "" {
				r.Header.Set("X-Forwarded-For", tt.header)
			}
			if got := clientAddr(r, trusted); got.String() != tt.want {
				t.Errorf("clientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPurge(t *testing.T) {
	a := startAPI(t, Options{})
	keep := a.createURL(t, map[string]any{"original_url": "https://example.com/keep"})
	a.createURL(t, map[string]any{"original_url": "https://example.com/off", "is_active": false, "short_code": "gone-off"})
	expired := a.createURL(t, map[string]any{"original_url": "https://example.com/old", "expires_at": "2099-01-01T00:00:00"})
	wantStatus(t, a.send(t, http.MethodPut, fmt.Sprintf("/urls/%d", jsonID(t, expired["id"])), `{"expires_at":"2020-01-01T00:00:00"}`), http.StatusOK)
	deleted := a.createURL(t, map[string]any{"original_url": "https://example.com/del"})
	wantStatus(t, a.delete(t, fmt.Sprintf("/urls/%d", jsonID(t, deleted["id"]))), http.StatusNoContent)

	dry := wantObject(t, a.send(t, http.MethodPost, "/admin/purge", `{"inactive":true,"expired":true,"dry_run":true}`), http.StatusOK)
	if jsonInt(t, dry["links"]) != 2 || jsonInt(t, dry["events"]) != 3 || dry["dry_run"] != true {
		t.Errorf("dry run = %v, want 2 links with their 2 created events and 1 updated event", dry)
	}
	_, total := a.list(t, "/urls")
	if total != 3 {
		t.Fatalf("dry run removed links: %d left", total)
	}

	done := wantObject(t, a.send(t, http.MethodPost, "/admin/purge", `{"inactive":true,"expired":true}`), http.StatusOK)
	if jsonInt(t, done["links"]) != 2 || jsonInt(t, done["events"]) != 3 {
		t.Errorf("purge = %v", done)
	}
	urls, _ := a.list(t, "/urls")
	if len(urls) != 1 || jsonID(t, urls[0]["id"]) != jsonID(t, keep["id"]) {
		t.Errorf("links after purge = %v", ids(t, urls))
	}
	wantStatus(t, a.get(t, "/"+expired["short_code"].(string)), http.StatusNotFound)
	reuse := `{"original_url":"https://example.org/","short_code":"gone-off"}`
	wantError(t, a.send(t, http.MethodPost, "/urls", reuse), http.StatusConflict, "")

	orphans := wantObject(t, a.send(t, http.MethodPost, "/admin/purge", `{"deleted":true}`), http.StatusOK)
	if jsonInt(t, orphans["events"]) != 2 || jsonInt(t, orphans["links"]) != 0 {
		t.Errorf("purge of deleted links' events = %v, want the created and deleted events", orphans)
	}
	if evs := a.events(t, fmt.Sprintf("url_id=%d", jsonID(t, deleted["id"]))); len(evs) != 0 {
		t.Errorf("events of the deleted link left: %d", len(evs))
	}

	for _, body := range []string{`{}`, `{"dry_run":true}`, `{"inactive":"yes"}`, `{"everything":true}`} {
		t.Run(body, func(t *testing.T) {
			wantError(t, a.send(t, http.MethodPost, "/admin/purge", body), http.StatusUnprocessableEntity, "")
		})
	}
}

func TestBackupEndpoint(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/backup", "short_code": "saved"})

	resp := a.get(t, "/admin/backup")
	wantStatus(t, resp, http.StatusOK)
	if ct := resp.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cl := resp.header.Get("Content-Length"); cl != fmt.Sprint(len(resp.body)) {
		t.Errorf("Content-Length = %s, body has %d bytes", cl, len(resp.body))
	}

	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, resp.body, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, nil)
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer st.Close()
	got, err := st.GetURLByCode("saved")
	if err != nil || got.ID != jsonID(t, link["id"]) || got.OriginalURL != "https://example.com/backup" {
		t.Errorf("restored link = %+v, %v", got, err)
	}
}

func TestBulkBodyCutShort(t *testing.T) {
	a := startAPI(t, Options{})
	cut := "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nid,username"
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{"multipart without closing boundary", "multipart/form-data; boundary=xyz", cut},
		{"multipart with bare LF boundary", "multipart/form-data; boundary=xyz", cut + ",email,created_at\n--xyz--\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.do(t, apiRequest{method: http.MethodPost, path: "/users/bulk", contentType: tt.contentType, body: tt.body})
			wantError(t, resp, http.StatusBadRequest, "")
		})
	}
}

func TestInvalidUnicodeInBody(t *testing.T) {
	a := startAPI(t, Options{})
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"invalid utf-8 bytes", "{\"original_url\":\"https://example.com/\xff\xfe\"}", http.StatusBadRequest},
		{"lone surrogate escape", `{"original_url":"https://example.com/\ud800"}`, http.StatusUnprocessableEntity},
		{"escaped replacement char kept", `{"original_url":"https://example.com/","title":"\ufffd"}`, http.StatusCreated},
		{"year past 9999", `{"original_url":"https://example.com/","expires_at":"9999-12-31T23:59:59-23:59"}`, http.StatusUnprocessableEntity},
		{"year zero", `{"original_url":"https://example.com/","expires_at":"0000-01-01T00:00:00+01:00"}`, http.StatusUnprocessableEntity},
		{"offset hour 24", `{"original_url":"https://example.com/","expires_at":"2099-01-01T00:00:00+24:00"}`, http.StatusUnprocessableEntity},
		{"offset minute 60", `{"original_url":"https://example.com/","expires_at":"2099-01-01T00:00:00-00:60"}`, http.StatusUnprocessableEntity},
		{"offset 23:59", `{"original_url":"https://example.com/","expires_at":"2099-01-01T00:00:00+23:59"}`, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, a.send(t, http.MethodPost, "/urls", tt.body), tt.status)
		})
	}
}

func TestTimestampLowerCaseLetters(t *testing.T) {
	a := startAPI(t, Options{})
	for _, expiry := range []string{"2099-01-02t03:04:05z", "2099-01-02T03:04:05z", "2099-01-02t05:04:05+02:00", "2099-01-02t03:04:05.5"} {
		t.Run(expiry, func(t *testing.T) {
			body := `{"original_url":"https://example.com/","expires_at":"` + expiry + `"}`
			link := wantObject(t, a.send(t, http.MethodPost, "/urls", body), http.StatusCreated)
			if link["expires_at"] != "2099-01-02T03:04:05" {
				t.Errorf("expires_at %v, want 2099-01-02T03:04:05", link["expires_at"])
			}
		})
	}
}

func TestExpiresAtInPast(t *testing.T) {
	a := startAPI(t, Options{})
	past := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	future := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)

	// A create with an expiry that has passed is a mistake: the link
	// could never redirect.
	for _, expiry := range []string{"2020-01-01T00:00:00", past, "2020-01-01T02:00:00+02:00"} {
		t.Run("create "+expiry, func(t *testing.T) {
			body := mustJSON(t, map[string]any{"original_url": "https://example.com/", "expires_at": expiry})
			wantError(t, a.send(t, http.MethodPost, "/urls", body), http.StatusUnprocessableEntity, "expires_at")
		})
	}
	if _, total := a.list(t, "/urls"); total != 0 {
		t.Fatalf("rejected creates stored %d links", total)
	}

	link := a.createURL(t, map[string]any{"original_url": "https://example.com/", "expires_at": future})
	a.createURL(t, map[string]any{"original_url": "https://example.com/", "expires_at": nil})
	code := link["short_code"].(string)
	wantStatus(t, a.get(t, "/"+code), http.StatusFound)

	// The zero time stands for no expiry in the store, so it is rejected
	// in every spelling rather than taken as a request to clear it.
	path := fmt.Sprintf("/urls/%d", jsonID(t, link["id"]))
	for _, zero := range []string{"0001-01-01T00:00:00", "0001-01-01 00:00:00.5", "0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00Z"} {
		t.Run("update to "+zero, func(t *testing.T) {
			body := mustJSON(t, map[string]any{"expires_at": zero})
			wantError(t, a.send(t, http.MethodPut, path, body), http.StatusUnprocessableEntity, "expires_at")
		})
	}
	wantStatus(t, a.get(t, "/"+code), http.StatusFound)

	// An update may set a past expiry, which ends the link at once.
	updated := wantObject(t, a.send(t, http.MethodPut, path, `{"expires_at":"2020-01-01T00:00:00"}`), http.StatusOK)
	if updated["expires_at"] != "2020-01-01T00:00:00" {
		t.Errorf("expires_at = %v after the update, want 2020-01-01T00:00:00", updated["expires_at"])
	}
	wantStatus(t, a.get(t, "/"+code), http.StatusGone)
}

func TestClickBeforeDeleteKeepsOrder(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/"})
	wantStatus(t, a.get(t, "/"+link["short_code"].(string)), http.StatusFound)
	wantStatus(t, a.delete(t, fmt.Sprintf("/urls/%d", jsonID(t, link["id"]))), http.StatusNoContent)

	evs := a.events(t, fmt.Sprintf("url_id=%d", jsonID(t, link["id"])))
	var types []string
	for _, ev := range evs {
		types = append(types, ev["event_type"].(string))
	}
	if strings.Join(types, ",") != "created,click,deleted" {
		t.Errorf("event order = %v, want created, click, deleted", types)
	}
}

func TestBotMarkedWithoutClickLimit(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/"})
	id := jsonID(t, link["id"])
	bot := map[string]string{"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
	wantStatus(t, a.do(t, apiRequest{method: http.MethodGet, path: "/" + link["short_code"].(string), header: bot}), http.StatusFound)

	clicks := a.events(t, fmt.Sprintf("url_id=%d&event_type=click", id))
	if len(clicks) != 1 {
		t.Fatalf("click events = %d, want 1", len(clicks))
	}
	if details := clicks[0]["details"].(map[string]any); details["bot"] != true {
		t.Errorf("details = %v, want bot true", details)
	}
	got := wantObject(t, a.get(t, fmt.Sprintf("/urls/%d", id)), http.StatusOK)
	if jsonInt(t, got["click_count"]) != 0 {
		t.Errorf("click_count = %v, want 0", got["click_count"])
	}
}

func TestTimestampRangeErrorsNamed(t *testing.T) {
	a := startAPI(t, Options{})
	link := a.createURL(t, map[string]any{"original_url": "https://example.com/"})
	tests := []struct {
		timestamp string
		reason    string
	}{
		{"0001-01-01T00:00:00", "zero time"},
		{"9999-12-31T23:59:59-01:00", "years 1 to 9999"},
		{"2025-01-01T00:00:00+24:00", "zone offset"},
	}
	for _, tt := range tests {
		t.Run(tt.timestamp, func(t *testing.T) {
			body := mustJSON(t, map[string]any{"event_type": "share", "url_id": link["id"], "timestamp": tt.timestamp})
			resp := a.send(t, http.MethodPost, "/events", body)
			wantError(t, resp, http.StatusUnprocessableEntity, "timestamp")
			if !strings.Contains(string(resp.body), tt.reason) {
				t.Errorf("error %s does not say %q", resp.body, tt.reason)
			}
		})
	}
}
