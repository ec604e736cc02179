package store

import (
	"bytes"
	"encoding/json"
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
