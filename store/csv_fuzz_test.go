package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// assertParseResult fails unless err is nil or a *CSVError with between 1
// and maxRowErrors rows on positive lines, and unless records come back only
// without an error.
func assertParseResult(t *testing.T, records int, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if records != 0 {
		t.Errorf("%d records returned with error %v", records, err)
	}
	var csvErr *CSVError
	if !errors.As(err, &csvErr) {
		t.Fatalf("error = %v (%T), want *CSVError", err, err)
	}
	if len(csvErr.Rows) == 0 || len(csvErr.Rows) > maxRowErrors {
		t.Errorf("listed rows = %d, want 1 to %d", len(csvErr.Rows), maxRowErrors)
	}
	if csvErr.Total < len(csvErr.Rows) {
		t.Errorf("total = %d, less than the %d listed rows", csvErr.Total, len(csvErr.Rows))
	}
	for _, row := range csvErr.Rows {
		if row.Line < 1 {
			t.Errorf("row error %+v has line < 1", row)
		}
		if row.Reason == "" {
			t.Errorf("row error on line %d has no reason", row.Line)
		}
	}
}

// assertCSVTime fails unless ts is a UTC time in whole seconds that
// encodes as JSON.
func assertCSVTime(t *testing.T, name string, ts time.Time) {
	t.Helper()
	if ts.Location() != time.UTC {
		t.Errorf("%s %v is not in UTC", name, ts)
	}
	if ts.Nanosecond() != 0 {
		t.Errorf("%s %v has fractional seconds", name, ts)
	}
	if _, err := ts.MarshalJSON(); err != nil {
		t.Errorf("%s %v does not encode as JSON: %v", name, ts, err)
	}
}

// assertSortedIDs fails unless ids are valid and strictly ascending.
func assertSortedIDs(t *testing.T, ids []uint64) {
	t.Helper()
	for i, id := range ids {
		if id == 0 || id > MaxID {
			t.Errorf("id %d is outside 1 to %d", id, uint64(MaxID))
		}
		if i > 0 && id <= ids[i-1] {
			t.Errorf("id %d follows id %d, want ascending unique ids", id, ids[i-1])
		}
	}
}

func FuzzParseURLsCSV(f *testing.F) {
	seeds := []string{
		urlsHeader + "1,1,OvfxQA,https://example.com/a,Roadmap update,True,2025-06-09 11:24:49,2025-07-15 11:30:38\n",
		urlsHeader + "1,,a,https://x.io,,false,2025-06-09T11:24:49Z,\n2,3,b_-,https://y.io,\"t, \"\"q\"\"\",1,2025-06-09T11:24:49.5+02:00,\n",
		"\ufeff" + strings.ReplaceAll(urlsHeader+"2,1,c,https://x.io,T,0,2025-06-09 11:24:49,\n1,1,c,https://x.io,T,0,2025-06-09 11:24:49,\n", "\n", "\r\n"),
		"SHORT_CODE , id,original_url,user_id,is_active,created_at,extra\nab,1,https://x.io,,TRUE,2025-06-09 11:24:49,\n",
		urlsHeader + "18446744073709551616,1,a,https://x.io,,1,2025-06-09 11:24:49,\n",
		urlsHeader + "9007199254740991,9007199254740991,a,https://x.io,,1,9999-12-31 23:59:59,0001-01-01 00:00:00\n",
		urlsHeader + "1,1,a,https://x.io,,1,2025-06-09 11:24:49,\n2,1,a,https://x.io,,1,2025-06-09 11:24:49,\n",
		urlsHeader + ",,,,,,,\n",
		urlsHeader + "1,1,a\"b,https://x.io,,1,2025-06-09 11:24:49,\n",
		urlsHeader + "1,1,\"a,https://x.io,,1,2025-06-09 11:24:49,\n",
		urlsHeader + "1,1,a,https://x.io\n",
		"id,id,short_code\n",
		"",
		"\ufeff",
		"\"",
	}
	for _, seed := range seeds {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, input string) {
		urls, _, err := ParseURLsCSV(strings.NewReader(input), nil)
		assertParseResult(t, len(urls), err)
		if err != nil {
			return
		}

		ids := make([]uint64, len(urls))
		codes := make(map[string]uint64, len(urls))
		for i, u := range urls {
			ids[i] = u.ID
			if _, err := parseCSVShortCode(u.ShortCode); err != nil {
				t.Errorf("url %d: %v", u.ID, err)
			}
			if other, used := codes[u.ShortCode]; used {
				t.Errorf("short code %q used by ids %d and %d", u.ShortCode, other, u.ID)
			}
			codes[u.ShortCode] = u.ID
			if u.UserID > MaxID {
				t.Errorf("url %d: user_id %d is larger than %d", u.ID, u.UserID, uint64(MaxID))
			}
			if u.MaxClicks > MaxClickLimit {
				t.Errorf("url %d: max_clicks %d is larger than %d", u.ID, u.MaxClicks, uint64(MaxClickLimit))
			}
			if u.OriginalURL == "" {
				t.Errorf("url %d: empty original_url", u.ID)
			}
			if u.Title != nil && *u.Title == "" {
				t.Errorf("url %d: title is an empty string, want nil", u.ID)
			}
			assertCSVTime(t, "created_at", u.CreatedAt)
			assertCSVTime(t, "updated_at", u.UpdatedAt)
		}
		assertSortedIDs(t, ids)
	})
}

func FuzzParseEventsCSV(f *testing.F) {
	seeds := []string{
		eventsHeader + `1,1,1,created,2025-06-09 11:24:49,"{""short_code"":""OvfxQA"",""original_url"":""https://x.io""}"` + "\n",
		eventsHeader + "1,1,,updated,2025-06-09T11:24:49Z,\n2,1,1,deleted,2025-06-09 11:24:49-05:30,\"{ \"\"reason\"\" : \"\"x\"\" }\"\n",
		"\ufeff" + strings.ReplaceAll(eventsHeader+"3,2,1,click,2025-06-09 11:24:49.123,{}\n3,2,1,click,2025-06-09 11:24:49,\n", "\n", "\r\n"),
		"details,timestamp,event_type,user_id,url_id,id\n\"{\n}\",2025-06-09 11:24:49,x,,1,1\n",
		eventsHeader + "1,1,1,updated,2025-06-09 11:24:49,\"[1]\"\n",
		eventsHeader + "1,1,1,updated,2025-06-09 11:24:49,\"\"\"s\"\"\"\n",
		eventsHeader + "1,1,1,updated,2025-06-09 11:24:49,7\n",
		eventsHeader + "1,1,1,updated,2025-06-09 11:24:49,\"{\"\"a\"\":\"\n",
		eventsHeader + "99999999999999999999,1,1,updated,2025-06-09 11:24:49,\n",
		eventsHeader + "1,0,1,updated,2025-06-09 11:24:49,\n",
		eventsHeader + ",,,,,\n",
		eventsHeader + "1,1,1,up\"dated,2025-06-09 11:24:49,\n",
		"id,url_id,user_id,event_type,timestamp\n1,1,1,created,2025-02-29 00:00:00\n",
		"",
		"\r\n",
	}
	for _, seed := range seeds {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, input string) {
		events, _, err := ParseEventsCSV(strings.NewReader(input), nil)
		assertParseResult(t, len(events), err)
		if err != nil {
			return
		}

		ids := make([]uint64, len(events))
		for i, ev := range events {
			ids[i] = ev.ID
			if ev.URLID == 0 || ev.URLID > MaxID {
				t.Errorf("event %d: url_id %d is outside 1 to %d", ev.ID, ev.URLID, uint64(MaxID))
			}
			if ev.UserID > MaxID {
				t.Errorf("event %d: user_id %d is larger than %d", ev.ID, ev.UserID, uint64(MaxID))
			}
			if ev.Type == "" {
				t.Errorf("event %d: empty event_type", ev.ID)
			}
			var details map[string]any
			if err := json.Unmarshal(ev.Details, &details); err != nil || details == nil {
				t.Errorf("event %d: details %q is not a JSON object: %v", ev.ID, ev.Details, err)
			}
			assertCSVTime(t, "timestamp", ev.Timestamp)
		}
		assertSortedIDs(t, ids)
	})
}
