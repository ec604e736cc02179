package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// clickDetailSeeds are strings that need each kind of escaping.
var clickDetailSeeds = []string{
	"",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
	`quote " backslash \ slash /`,
	"<script>alert(1)</script>&amp;",
	"tab\tnewline\ncr\rbackspace\bformfeed\f nul\x00 unit\x1f del\x7f",
	"line\u2028para\u2029 nbsp\u00a0 rtl\u202e emoji \U0001F600",
	"bad utf-8 \xff\xfe, cut \xe2\x82, lone \xc0 end",
	"\xed\xa0\x80 surrogate half",
}

// checkClickRecord fails t unless appendClickDetails and appendClickEvent
// write the bytes that json.Marshal and encodeEvent write for the click.
func checkClickRecord(t *testing.T, c Click) {
	t.Helper()
	details := appendClickDetails(nil, &c)
	want, err := json.Marshal(clickDetails{Referrer: c.Referrer, UserAgent: c.UserAgent, Bot: c.Bot})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(details, want) {
		t.Fatalf("details of %+v:\n got %s\nwant %s", c, details, want)
	}
	ev := Event{URLID: c.URLID, UserID: c.UserID, Type: EventClick, Timestamp: c.Time.UTC().Truncate(time.Second), Details: want}
	if got, want := appendClickEvent(nil, &c, details), encodeEvent(&ev); !bytes.Equal(got, want) {
		t.Fatalf("record of %+v:\n got %x\nwant %x", c, got, want)
	}
}

func TestClickRecordMatchesEncoders(t *testing.T) {
	at := time.Date(2026, 12, 4, 20, 1, 2, 999_999_999, time.FixedZone("x", 3600))
	for _, s := range clickDetailSeeds {
		for _, bot := range []bool{false, true} {
			checkClickRecord(t, Click{URLID: 300, UserID: 7, Time: at, Referrer: s, UserAgent: s + "!", Bot: bot})
		}
	}
	checkClickRecord(t, Click{URLID: 1 << 40})
	checkClickRecord(t, Click{URLID: 1, Time: time.Unix(-5, 0)})
}

func FuzzClickRecord(f *testing.F) {
	for _, s := range clickDetailSeeds {
		f.Add(s, s, uint64(1), uint64(0), int64(1_700_000_000), false)
	}
	f.Fuzz(func(t *testing.T, referrer, userAgent string, url, user uint64, unix int64, bot bool) {
		checkClickRecord(t, Click{URLID: url, UserID: user, Time: time.Unix(unix, 0), Referrer: referrer, UserAgent: userAgent, Bot: bot})
	})
}

func TestDecodeRejectsDamagedRecords(t *testing.T) {
	title := "Docs"
	user := User{ID: 4, Username: "ada", Email: "ada@example.com", CreatedAt: time.Unix(1_700_000_000, 0).UTC()}
	link := URL{ID: 5, ShortCode: "docs", OriginalURL: "https://example.com/", Title: &title, IsActive: true, MaxClicks: 3}
	event := Event{ID: 6, URLID: 5, Type: EventClick, Details: json.RawMessage(`{"referrer":"","user_agent":"Mozilla/5.0"}`)}

	// replace returns the encoding of a record with the first old
	// replaced by new.
	replace := func(record []byte, old, new string) []byte {
		return bytes.Replace(record, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name   string
		decode func() error
		want   string
	}{
		{
			name: "username not UTF-8",
			decode: func() error {
				_, err := decodeUser(user.ID, replace(encodeUser(&user), "ada", "ad\xff"))
				return err
			},
			want: "user 4 does not decode: username is not valid UTF-8",
		},
		{
			name: "title not UTF-8",
			decode: func() error {
				_, err := decodeURL(link.ID, replace(encodeURL(&link), "Docs", "Doc\xe9"))
				return err
			},
			want: "url 5 does not decode: title is not valid UTF-8",
		},
		{
			name: "max_clicks above limit",
			decode: func() error {
				u := link
				u.MaxClicks = 1 << 63
				_, err := decodeURL(u.ID, encodeURL(&u))
				return err
			},
			want: "url 5 does not decode: max_clicks 9223372036854775808 is larger than 9223372036854775807",
		},
		{
			name: "redirect_type not a redirect",
			decode: func() error {
				u := link
				u.RedirectType = 1000
				_, err := decodeURL(u.ID, encodeURL(&u))
				return err
			},
			want: "url 5 does not decode: redirect_type 1000 is not 301, 302, 307 or 308",
		},
		{
			name: "created_at past year 9999",
			decode: func() error {
				u := link
				u.CreatedAt = time.Unix(99999999999999, 0).UTC()
				_, err := decodeURL(u.ID, encodeURL(&u))
				return err
			},
			want: "url 5 does not decode: time 99999999999999 is outside the years 1 to 9999",
		},
		{
			name: "details cut to an array",
			decode: func() error {
				_, err := decodeEvent(event.ID, replace(encodeEvent(&event), "{", "["))
				return err
			},
			want: "event 6 does not decode: details is not a JSON object",
		},
		{
			name: "details not UTF-8",
			decode: func() error {
				_, err := decodeEvent(event.ID, replace(encodeEvent(&event), "Mozilla", "Mozill\xe0"))
				return err
			},
			want: "event 6 does not decode: details is not valid UTF-8",
		},
		{
			name: "event type not UTF-8",
			decode: func() error {
				_, err := decodeEvent(event.ID, replace(encodeEvent(&event), "click", "cl\xc3ck"))
				return err
			},
			want: "event 6 does not decode: event_type is not valid UTF-8",
		},
		{
			name: "details truncated",
			decode: func() error {
				record := encodeEvent(&event)
				_, err := decodeEvent(event.ID, record[:len(record)-1])
				return err
			},
			want: "event 6 does not decode: details is truncated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode()
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeKeepsValidRecords(t *testing.T) {
	title := "Café \U0001F600"
	link := URL{ID: 5, ShortCode: "docs", OriginalURL: "https://example.com/ü", Title: &title, IsActive: true, MaxClicks: MaxClickLimit}
	got, err := decodeURL(link.ID, encodeURL(&link))
	if err != nil {
		t.Fatalf("decode url: %v", err)
	}
	if got.MaxClicks != MaxClickLimit || *got.Title != title {
		t.Errorf("url = max_clicks %d, title %q; want %d, %q", got.MaxClicks, *got.Title, uint64(MaxClickLimit), title)
	}

	for _, details := range []string{`{}`, ` {"a":[1,{"b":null}]} `, `{"s":"\u0000 \ud800"}`} {
		ev := Event{ID: 6, URLID: 5, Type: "shared", Details: json.RawMessage(details)}
		if _, err := decodeEvent(ev.ID, encodeEvent(&ev)); err != nil {
			t.Errorf("details %s: %v", details, err)
		}
	}
}

// jsonObjectSeeds are details in the flat form of click details, in other
// valid forms, and broken.
var jsonObjectSeeds = []string{
	`{}`, `{"referrer":"","user_agent":"Mozilla/5.0"}`, `{"referrer":"a\"b\\c\/\b\f\n\r\t\u00e9","bot":true}`,
	`{"a":null,"b":false}`, `{"n":1}`, `{"a":{"b":[1,2]}}`, ` {"a":"b"} `, `{"a" :"b"}`,
	`{"a":"b",}`, `{"a":"b"`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}", `{"a":tru}`,
	`{"a":"b"}}`, `{"a":"b"}{"c":"d"}`, `{"a":"b""c":"d"}`, `{"a":}`, `{:"b"}`, `{"a"}`, `["a"]`, `{"a":"b"]`, `{"\`,
}

func TestIsJSONObjectText(t *testing.T) {
	tests := []struct {
		details string
		flat    bool // isFlatJSONObject takes it without json.Valid
		valid   bool
	}{
		{`{}`, true, true},
		{`{"referrer":"https://ref.example/?q=<b>","user_agent":"Mozilla/5.0","bot":true}`, true, true},
		{`{"a":"\"\\\/\b\f\n\r\t\u00e9\uD800","b":null,"c":false}`, true, true},
		{`{"n":1}`, false, true},
		{`{"a":{"b":[1,2]}}`, false, true},
		{` {"a":"b"} `, false, true},
		{`{"a":"b",}`, false, false},
		{`{"a":"b"`, false, false},
		{`{"a":"\x"}`, false, false},
		{`{"a":"\u12"}`, false, false},
		{"{\"a\":\"\x01\"}", false, false},
		{`{"a":"b"}}`, false, false},
		{`{"a":"b"}{"c":"d"}`, false, false},
		{`{"a":tru}`, false, false},
		{`["a"]`, false, false},
		{``, false, false},
	}
	// Every click's details take the fast path.
	for _, seed := range clickDetailSeeds {
		details := appendClickDetails(nil, &Click{Referrer: seed, UserAgent: seed, Bot: seed == ""})
		if !isFlatJSONObject(details) {
			t.Errorf("isFlatJSONObject(%q) = false for the details of a click", details)
		}
	}

	for _, tt := range tests {
		if got := isFlatJSONObject([]byte(tt.details)); got != tt.flat {
			t.Errorf("isFlatJSONObject(%q) = %t, want %t", tt.details, got, tt.flat)
		}
		if got := isJSONObjectText([]byte(tt.details)); got != tt.valid {
			t.Errorf("isJSONObjectText(%q) = %t, want %t", tt.details, got, tt.valid)
		}
	}
}

// FuzzFlatJSONObject checks that the fast path accepts only JSON objects
// that json.Valid accepts.
func FuzzFlatJSONObject(f *testing.F) {
	for _, s := range jsonObjectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if isFlatJSONObject(b) && (!json.Valid(b) || b[0] != '{') {
			t.Errorf("isFlatJSONObject accepts %q, which is not a JSON object", b)
		}
	})
}
