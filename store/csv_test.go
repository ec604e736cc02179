package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const (
	usersHeader  = "id,username,email,created_at\n"
	urlsHeader   = "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n"
	eventsHeader = "id,url_id,user_id,event_type,timestamp,details\n"
)

// utcTime parses YYYY-MM-DD HH:MM:SS in UTC with time.Parse, so that the
// expected values do not depend on the parser under test.
func utcTime(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func stringPtr(s string) *string {
	return &s
}

// assertRowErrors fails unless err is a *CSVError that lists exactly want.
func assertRowErrors(t *testing.T, err error, want []RowError) {
	t.Helper()
	var csvErr *CSVError
	if !errors.As(err, &csvErr) {
		t.Fatalf("error = %v (%T), want *CSVError", err, err)
	}
	if !slices.Equal(csvErr.Rows, want) {
		t.Errorf("rows = %+v\nwant   %+v", csvErr.Rows, want)
	}
	if csvErr.Total != len(want) {
		t.Errorf("total = %d, want %d", csvErr.Total, len(want))
	}
}

func describeURLs(urls []URL) string {
	var b strings.Builder
	for _, u := range urls {
		title := "<nil>"
		if u.Title != nil {
			title = fmt.Sprintf("%q", *u.Title)
		}
		fmt.Fprintf(&b, "{id=%d user=%d code=%q url=%q title=%s active=%t created=%s updated=%s expires=%s max_clicks=%d redirect=%d} ",
			u.ID, u.UserID, u.ShortCode, u.OriginalURL, title, u.IsActive,
			u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339),
			u.ExpiresAt.Format(time.RFC3339), u.MaxClicks, u.RedirectType)
	}
	return b.String()
}

func describeEvents(events []Event) string {
	var b strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&b, "{id=%d url=%d user=%d type=%q at=%s details=%s} ",
			ev.ID, ev.URLID, ev.UserID, ev.Type, ev.Timestamp.Format(time.RFC3339), ev.Details)
	}
	return b.String()
}

func TestCSVErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  CSVError
		want string
	}{
		{
			name: "one row",
			err:  CSVError{Rows: []RowError{{Line: 1, Reason: "missing header row"}}, Total: 1},
			want: "1 invalid row: line 1: missing header row",
		},
		{
			name: "several rows",
			err: CSVError{
				Rows:  []RowError{{Line: 2, Reason: "id is empty"}, {Line: 7, Reason: "email is empty"}},
				Total: 2,
			},
			want: "2 invalid rows: line 2: id is empty; line 7: email is empty",
		},
		{
			name: "more rows than listed",
			err:  CSVError{Rows: []RowError{{Line: 2, Reason: "id is empty"}}, Total: 51},
			want: "51 invalid rows: line 2: id is empty; and 50 more",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseUsersCSV(t *testing.T) {
	alice := User{ID: 1, Username: "alice", Email: "alice@example.com", CreatedAt: utcTime("2025-11-02 16:29:04")}
	bob := User{ID: 2, Username: "bob", Email: "bob@example.com", CreatedAt: utcTime("2026-01-11 19:14:09")}
	aliceRow := "1,alice,alice@example.com,2025-11-02 16:29:04\n"
	bobRow := "2,bob,bob@example.com,2026-01-11 19:14:09\n"

	tests := []struct {
		name     string
		input    string
		want     []User
		wantErrs []RowError
	}{
		{
			name:  "plain row",
			input: usersHeader + aliceRow + bobRow,
			want:  []User{alice, bob},
		},
		{
			name:  "header only",
			input: usersHeader,
		},
		{
			name:  "header only without newline",
			input: "id,username,email,created_at",
		},
		{
			name:  "columns in any order and case",
			input: " Created_At ,EMAIL, username ,Id\n2025-11-02 16:29:04,alice@example.com,alice,1\n",
			want:  []User{alice},
		},
		{
			name:  "extra columns ignored",
			input: "id,username,note,email,created_at,\n1,alice,hello,alice@example.com,2025-11-02 16:29:04,\n",
			want:  []User{alice},
		},
		{
			name:  "extra column named twice",
			input: "id,note,username,email,note,created_at\n1,a,alice,alice@example.com,b,2025-11-02 16:29:04\n",
			want:  []User{alice},
		},
		{
			name:  "bom and crlf",
			input: "\ufeff" + strings.ReplaceAll(usersHeader+aliceRow+bobRow, "\n", "\r\n"),
			want:  []User{alice, bob},
		},
		{
			name:  "quoted cells",
			input: usersHeader + `"1","alice","alice@example.com","2025-11-02 16:29:04"` + "\n",
			want:  []User{alice},
		},
		{
			name:  "blank lines skipped",
			input: usersHeader + "\n" + aliceRow + "\n\n" + bobRow,
			want:  []User{alice, bob},
		},
		{
			name:  "sorted by id",
			input: usersHeader + bobRow + aliceRow,
			want:  []User{alice, bob},
		},
		{
			name:  "repeated id replaced by later row",
			input: usersHeader + "1,old,old@example.com,2020-01-01 00:00:00\n" + bobRow + aliceRow,
			want:  []User{alice, bob},
		},
		{
			name:  "repeated username accepted",
			input: usersHeader + aliceRow + "2,alice,other@example.com,2026-01-11 19:14:09\n",
			want: []User{
				alice,
				{ID: 2, Username: "alice", Email: "other@example.com", CreatedAt: utcTime("2026-01-11 19:14:09")},
			},
		},
		{
			name:  "cells kept as they are",
			input: usersHeader + "1, alice ,Alice@Example.COM,2025-11-02 16:29:04\n",
			want:  []User{{ID: 1, Username: " alice ", Email: "Alice@Example.COM", CreatedAt: alice.CreatedAt}},
		},
		{
			name:     "empty input",
			input:    "",
			wantErrs: []RowError{{Line: 1, Reason: "missing header row"}},
		},
		{
			name:     "only a bom and blank lines",
			input:    "\ufeff\n\r\n",
			wantErrs: []RowError{{Line: 1, Reason: "missing header row"}},
		},
		{
			name:     "missing column",
			input:    "id,username,created_at\n1,alice,2025-11-02 16:29:04\n",
			wantErrs: []RowError{{Line: 1, Reason: "missing required column email in the header"}},
		},
		{
			name:     "missing columns",
			input:    "id,username\n1,alice\n",
			wantErrs: []RowError{{Line: 1, Reason: "missing required columns email, created_at in the header"}},
		},
		{
			name:     "data row as header",
			input:    aliceRow,
			wantErrs: []RowError{{Line: 1, Reason: "missing required columns id, username, email, created_at in the header"}},
		},
		{
			name:     "column named twice",
			input:    "id,username,email,ID,created_at\n",
			wantErrs: []RowError{{Line: 1, Reason: `column "id" appears twice in the header`}},
		},
		{
			name:     "empty id",
			input:    usersHeader + aliceRow + ",bob,bob@example.com,2026-01-11 19:14:09\n",
			wantErrs: []RowError{{Line: 3, Reason: "id is empty"}},
		},
		{
			name: "id not a positive integer",
			input: usersHeader +
				"abc,a,a@x.io,2025-01-01 00:00:00\n" +
				"-1,a,a@x.io,2025-01-01 00:00:00\n" +
				"+1,a,a@x.io,2025-01-01 00:00:00\n" +
				" 1,a,a@x.io,2025-01-01 00:00:00\n" +
				"1.0,a,a@x.io,2025-01-01 00:00:00\n" +
				"0,a,a@x.io,2025-01-01 00:00:00\n" +
				"1e3,a,a@x.io,2025-01-01 00:00:00\n",
			wantErrs: []RowError{
				{Line: 2, Reason: `id "abc" is not a positive integer`},
				{Line: 3, Reason: `id "-1" is not a positive integer`},
				{Line: 4, Reason: `id "+1" is not a positive integer`},
				{Line: 5, Reason: `id " 1" is not a positive integer`},
				{Line: 6, Reason: `id "1.0" is not a positive integer`},
				{Line: 7, Reason: `id "0" is not a positive integer`},
				{Line: 8, Reason: `id "1e3" is not a positive integer`},
			},
		},
		{
			name: "id too large",
			input: usersHeader +
				"9007199254740992,a,a@x.io,2025-01-01 00:00:00\n" +
				"99999999999999999999999,a,a@x.io,2025-01-01 00:00:00\n",
			wantErrs: []RowError{
				{Line: 2, Reason: `id "9007199254740992" is larger than 9007199254740991`},
				{Line: 3, Reason: `id "99999999999999999999999" is larger than 9007199254740991`},
			},
		},
		{
			name:  "largest id",
			input: usersHeader + "9007199254740991,alice,alice@example.com,2025-11-02 16:29:04\n",
			want:  []User{{ID: 1<<53 - 1, Username: "alice", Email: "alice@example.com", CreatedAt: alice.CreatedAt}},
		},
		{
			name:  "leading zeros",
			input: usersHeader + "0001,alice,alice@example.com,2025-11-02 16:29:04\n",
			want:  []User{alice},
		},
		{
			name: "empty text cells",
			input: usersHeader +
				"1,,alice@example.com,2025-11-02 16:29:04\n" +
				"2,bob,,2026-01-11 19:14:09\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "username is empty"},
				{Line: 3, Reason: "email is empty"},
			},
		},
		{
			name:     "invalid utf-8",
			input:    usersHeader + "1,al\xffice,alice@example.com,2025-11-02 16:29:04\n",
			wantErrs: []RowError{{Line: 2, Reason: "username is not valid UTF-8"}},
		},
		{
			name: "invalid created_at",
			input: usersHeader +
				"1,alice,alice@example.com,\n" +
				"2,bob,bob@example.com,11/02/2025\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "created_at is empty"},
				{Line: 3, Reason: `created_at "11/02/2025" is not a YYYY-MM-DD HH:MM:SS or RFC 3339 time`},
			},
		},
		{
			name: "wrong number of fields",
			input: usersHeader +
				"1,alice,2025-11-02 16:29:04\n" +
				"2,bob,bob@example.com,2026-01-11 19:14:09,extra\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "row has 3 fields, the header has 4"},
				{Line: 3, Reason: "row has 5 fields, the header has 4"},
			},
		},
		{
			name:     "line numbers count blank lines and crlf",
			input:    "id,username,email,created_at\r\n\r\n1,alice,alice@example.com,2025-11-02 16:29:04\r\n\r\nx,bob,bob@example.com,2026-01-11 19:14:09\r\n",
			wantErrs: []RowError{{Line: 5, Reason: `id "x" is not a positive integer`}},
		},
		{
			name:     "bare quote",
			input:    usersHeader + aliceRow + "2,b\"ob,bob@example.com,2026-01-11 19:14:09\n" + "x,,,\n",
			wantErrs: []RowError{{Line: 3, Reason: `invalid CSV syntax at column 4: bare " in non-quoted-field`}},
		},
		{
			name:  "unterminated quote",
			input: usersHeader + "1,\"alice,alice@example.com,2025-11-02 16:29:04\n" + bobRow,
			wantErrs: []RowError{
				{Line: 2, Reason: `invalid CSV syntax at line 3, column 43: extraneous or missing " in quoted-field`},
			},
		},
		{
			name:  "row errors before a syntax error",
			input: usersHeader + "x,a,a@x.io,2025-01-01 00:00:00\n" + "2,\"b\"c,d,e\n",
			wantErrs: []RowError{
				{Line: 2, Reason: `id "x" is not a positive integer`},
				{Line: 3, Reason: `invalid CSV syntax at column 5: extraneous or missing " in quoted-field`},
			},
		},
		{
			name:     "long value cut in reason",
			input:    usersHeader + strings.Repeat("9", 100) + "x,a,a@x.io,2025-01-01 00:00:00\n",
			wantErrs: []RowError{{Line: 2, Reason: `id "` + strings.Repeat("9", 40) + `"... is not a positive integer`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ParseUsersCSV(strings.NewReader(tt.input), nil)
			if tt.wantErrs != nil {
				assertRowErrors(t, err, tt.wantErrs)
				if got != nil {
					t.Errorf("users = %+v, want nil on error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseUsersCSV: %v", err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("users = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

func TestParseURLsCSV(t *testing.T) {
	created := utcTime("2025-06-09 11:24:49")
	updated := utcTime("2025-07-15 11:30:38")
	first := URL{
		ID: 1, UserID: 1, ShortCode: "OvfxQA", OriginalURL: "https://example.com/a",
		Title: stringPtr("Roadmap update"), IsActive: true, CreatedAt: created, UpdatedAt: updated,
	}
	firstRow := "1,1,OvfxQA,https://example.com/a,Roadmap update,True,2025-06-09 11:24:49,2025-07-15 11:30:38\n"

	// optionsHeader adds the link option columns that an export writes.
	optionsHeader := strings.TrimSuffix(urlsHeader, "\n") + ",expires_at,max_clicks,redirect_type\n"

	// withURL returns first changed by edit.
	withURL := func(edit func(*URL)) URL {
		u := first
		edit(&u)
		return u
	}

	tests := []struct {
		name     string
		input    string
		want     []URL
		wantErrs []RowError
	}{
		{
			name:  "plain row",
			input: urlsHeader + firstRow,
			want:  []URL{first},
		},
		{
			name:  "header only",
			input: urlsHeader,
		},
		{
			name: "title and updated_at columns absent",
			input: "id,user_id,short_code,original_url,is_active,created_at\n" +
				"1,1,OvfxQA,https://example.com/a,True,2025-06-09 11:24:49\n",
			want: []URL{withURL(func(u *URL) { u.Title = nil; u.UpdatedAt = created })},
		},
		{
			name:  "empty title and updated_at",
			input: urlsHeader + "1,1,OvfxQA,https://example.com/a,,True,2025-06-09 11:24:49,\n",
			want:  []URL{withURL(func(u *URL) { u.Title = nil; u.UpdatedAt = created })},
		},
		{
			name:  "title kept as it is",
			input: urlsHeader + `1,1,OvfxQA,https://example.com/a," Q3, ""draft"" ",True,2025-06-09 11:24:49,2025-07-15 11:30:38` + "\n",
			want:  []URL{withURL(func(u *URL) { u.Title = stringPtr(` Q3, "draft" `) })},
		},
		{
			name:  "empty user_id means no owner",
			input: urlsHeader + "1,,OvfxQA,https://example.com/a,Roadmap update,True,2025-06-09 11:24:49,2025-07-15 11:30:38\n",
			want:  []URL{withURL(func(u *URL) { u.UserID = 0 })},
		},
		{
			name: "is_active forms",
			input: urlsHeader +
				"1,1,a1,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"2,1,a2,https://example.com/a,,FALSE,2025-06-09 11:24:49,\n" +
				"3,1,a3,https://example.com/a,,true,2025-06-09 11:24:49,\n" +
				"4,1,a4,https://example.com/a,,false,2025-06-09 11:24:49,\n" +
				"5,1,a5,https://example.com/a,,1,2025-06-09 11:24:49,\n" +
				"6,1,a6,https://example.com/a,,0,2025-06-09 11:24:49,\n",
			want: []URL{
				{ID: 1, UserID: 1, ShortCode: "a1", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created},
				{ID: 2, UserID: 1, ShortCode: "a2", OriginalURL: "https://example.com/a", IsActive: false, CreatedAt: created, UpdatedAt: created},
				{ID: 3, UserID: 1, ShortCode: "a3", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created},
				{ID: 4, UserID: 1, ShortCode: "a4", OriginalURL: "https://example.com/a", IsActive: false, CreatedAt: created, UpdatedAt: created},
				{ID: 5, UserID: 1, ShortCode: "a5", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created},
				{ID: 6, UserID: 1, ShortCode: "a6", OriginalURL: "https://example.com/a", IsActive: false, CreatedAt: created, UpdatedAt: created},
			},
		},
		{
			name: "invalid is_active",
			input: urlsHeader +
				"1,1,a1,https://example.com/a,,yes,2025-06-09 11:24:49,\n" +
				"2,1,a2,https://example.com/a,,t,2025-06-09 11:24:49,\n" +
				"3,1,a3,https://example.com/a,,,2025-06-09 11:24:49,\n",
			wantErrs: []RowError{
				{Line: 2, Reason: `is_active "yes" is not true, false, 1 or 0`},
				{Line: 3, Reason: `is_active "t" is not true, false, 1 or 0`},
				{Line: 4, Reason: "is_active is empty"},
			},
		},
		{
			name: "short_code limits",
			input: urlsHeader +
				"1,1," + strings.Repeat("z", 64) + ",https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"2,1,_-,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"3,1,X,https://example.com/a,,True,2025-06-09 11:24:49,\n",
			want: []URL{
				{ID: 1, UserID: 1, ShortCode: strings.Repeat("z", 64), OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created},
				{ID: 2, UserID: 1, ShortCode: "_-", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created},
				{ID: 3, UserID: 1, ShortCode: "X", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created},
			},
		},
		{
			name: "invalid short_code",
			input: urlsHeader +
				"1,1," + strings.Repeat("z", 65) + ",https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"2,1,a b,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"3,1,,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"4,1,abc/,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"5,1,café,https://example.com/a,,True,2025-06-09 11:24:49,\n",
			wantErrs: []RowError{
				{Line: 2, Reason: `short_code "` + strings.Repeat("z", 40) + `"... is not 1 to 64 characters of A-Z, a-z, 0-9, _ and -`},
				{Line: 3, Reason: `short_code "a b" is not 1 to 64 characters of A-Z, a-z, 0-9, _ and -`},
				{Line: 4, Reason: "short_code is empty"},
				{Line: 5, Reason: `short_code "abc/" is not 1 to 64 characters of A-Z, a-z, 0-9, _ and -`},
				{Line: 6, Reason: `short_code "café" is not 1 to 64 characters of A-Z, a-z, 0-9, _ and -`},
			},
		},
		{
			name: "short_code under two ids",
			input: urlsHeader + firstRow +
				"2,1,abc,https://example.com/b,,True,2025-06-09 11:24:49,\n" +
				"3,1,OvfxQA,https://example.com/c,,True,2025-06-09 11:24:49,\n",
			wantErrs: []RowError{{Line: 4, Reason: `short_code "OvfxQA" is already used by id 1 on line 2`}},
		},
		{
			name: "short codes are case-sensitive",
			input: urlsHeader + firstRow +
				"2,1,ovfxqa,https://example.com/b,,True,2025-06-09 11:24:49,\n",
			want: []URL{
				first,
				{ID: 2, UserID: 1, ShortCode: "ovfxqa", OriginalURL: "https://example.com/b", IsActive: true, CreatedAt: created, UpdatedAt: created},
			},
		},
		{
			name: "repeated id keeps the later row",
			input: urlsHeader +
				"1,1,OvfxQA,https://example.com/old,,False,2025-06-09 11:24:49,\n" +
				firstRow,
			want: []URL{first},
		},
		{
			name: "empty original_url",
			input: urlsHeader +
				"1,1,OvfxQA,,Roadmap update,True,2025-06-09 11:24:49,2025-07-15 11:30:38\n",
			wantErrs: []RowError{{Line: 2, Reason: "original_url is empty"}},
		},
		{
			name: "invalid ids",
			input: urlsHeader +
				",1,a1,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"2,0,a2,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"3,x,a3,https://example.com/a,,True,2025-06-09 11:24:49,\n" +
				"4,9007199254740992,a4,https://example.com/a,,True,2025-06-09 11:24:49,\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "id is empty"},
				{Line: 3, Reason: `user_id "0" is not a positive integer (leave the cell empty for none)`},
				{Line: 4, Reason: `user_id "x" is not a positive integer`},
				{Line: 5, Reason: `user_id "9007199254740992" is larger than 9007199254740991`},
			},
		},
		{
			name: "timestamp forms",
			input: urlsHeader +
				"1,1,OvfxQA,https://example.com/a,Roadmap update,True,2025-06-09T11:24:49.75,2025-07-15T13:30:38+02:00\n",
			want: []URL{first},
		},
		{
			name: "invalid timestamps",
			input: urlsHeader +
				"1,1,a1,https://example.com/a,,True,,\n" +
				"2,1,a2,https://example.com/a,,True,2025-06-09 11:24:49,2025-06-09\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "created_at is empty"},
				{Line: 3, Reason: `updated_at "2025-06-09" is not a YYYY-MM-DD HH:MM:SS or RFC 3339 time`},
			},
		},
		{
			name: "link option columns",
			input: optionsHeader +
				"1,1,OvfxQA,https://example.com/a,Roadmap update,True,2025-06-09 11:24:49,2025-07-15 11:30:38,2026-01-02 03:04:05,25,301\n",
			want: []URL{withURL(func(u *URL) {
				u.ExpiresAt = utcTime("2026-01-02 03:04:05")
				u.MaxClicks = 25
				u.RedirectType = 301
			})},
		},
		{
			name: "max_clicks up to MaxClickLimit",
			input: optionsHeader +
				"1,1,a1,https://example.com/a,,True,2025-06-09 11:24:49,,,9007199254740992,\n" +
				"2,1,a2,https://example.com/a,,True,2025-06-09 11:24:49,,,9223372036854775807,\n",
			want: []URL{
				{ID: 1, UserID: 1, ShortCode: "a1", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created, MaxClicks: 1 << 53},
				{ID: 2, UserID: 1, ShortCode: "a2", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created, MaxClicks: MaxClickLimit},
			},
		},
		{
			name: "link option columns in any order",
			input: "redirect_type,max_clicks,expires_at,id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n" +
				"308,1,2026-01-02T05:04:05+02:00,1,1,OvfxQA,https://example.com/a,Roadmap update,True,2025-06-09 11:24:49,2025-07-15 11:30:38\n",
			want: []URL{withURL(func(u *URL) {
				u.ExpiresAt = utcTime("2026-01-02 03:04:05")
				u.MaxClicks = 1
				u.RedirectType = 308
			})},
		},
		{
			name:  "empty link options",
			input: optionsHeader + strings.TrimSuffix(firstRow, "\n") + ",,,\n",
			want:  []URL{first},
		},
		{
			name: "each redirect type",
			input: optionsHeader +
				"1,1,a1,https://example.com/a,,True,2025-06-09 11:24:49,,,,301\n" +
				"2,1,a2,https://example.com/a,,True,2025-06-09 11:24:49,,,,302\n" +
				"3,1,a3,https://example.com/a,,True,2025-06-09 11:24:49,,,,307\n" +
				"4,1,a4,https://example.com/a,,True,2025-06-09 11:24:49,,,,308\n",
			want: []URL{
				{ID: 1, UserID: 1, ShortCode: "a1", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created, RedirectType: 301},
				{ID: 2, UserID: 1, ShortCode: "a2", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created, RedirectType: 302},
				{ID: 3, UserID: 1, ShortCode: "a3", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created, RedirectType: 307},
				{ID: 4, UserID: 1, ShortCode: "a4", OriginalURL: "https://example.com/a", IsActive: true, CreatedAt: created, UpdatedAt: created, RedirectType: 308},
			},
		},
		{
			name: "invalid link options",
			input: optionsHeader +
				"1,1,a1,https://example.com/a,,True,2025-06-09 11:24:49,,2026-01-02,,\n" +
				"2,1,a2,https://example.com/a,,True,2025-06-09 11:24:49,,,0,\n" +
				"3,1,a3,https://example.com/a,,True,2025-06-09 11:24:49,,,-5,\n" +
				"4,1,a4,https://example.com/a,,True,2025-06-09 11:24:49,,,9223372036854775808,\n" +
				"5,1,a5,https://example.com/a,,True,2025-06-09 11:24:49,,,,303\n" +
				"6,1,a6,https://example.com/a,,True,2025-06-09 11:24:49,,,,302 \n" +
				"7,1,a7,https://example.com/a,,True,2025-06-09 11:24:49,,,,0\n",
			wantErrs: []RowError{
				{Line: 2, Reason: `expires_at "2026-01-02" is not a YYYY-MM-DD HH:MM:SS or RFC 3339 time`},
				{Line: 3, Reason: `max_clicks "0" is not a positive integer (leave the cell empty for none)`},
				{Line: 4, Reason: `max_clicks "-5" is not a positive integer`},
				{Line: 5, Reason: `max_clicks "9223372036854775808" is larger than 9223372036854775807`},
				{Line: 6, Reason: `redirect_type "303" is not 301, 302, 307 or 308 (leave the cell empty for the default)`},
				{Line: 7, Reason: `redirect_type "302 " is not 301, 302, 307 or 308 (leave the cell empty for the default)`},
				{Line: 8, Reason: `redirect_type "0" is not 301, 302, 307 or 308 (leave the cell empty for the default)`},
			},
		},
		{
			name:     "missing required column",
			input:    "id,user_id,original_url,title,is_active,created_at,updated_at\n",
			wantErrs: []RowError{{Line: 1, Reason: "missing required column short_code in the header"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ParseURLsCSV(strings.NewReader(tt.input), nil)
			if tt.wantErrs != nil {
				assertRowErrors(t, err, tt.wantErrs)
				if got != nil {
					t.Errorf("urls = %s, want nil on error", describeURLs(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURLsCSV: %v", err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("urls = %s\nwant   %s", describeURLs(got), describeURLs(tt.want))
			}
		})
	}
}

func TestParseEventsCSV(t *testing.T) {
	at := utcTime("2025-06-09 11:24:49")
	created := Event{
		ID: 1, URLID: 1, UserID: 1, Type: EventCreated, Timestamp: at,
		Details: json.RawMessage(`{"short_code":"OvfxQA","original_url":"https://example.com/a"}`),
	}
	createdRow := `1,1,1,created,2025-06-09 11:24:49,"{""short_code"":""OvfxQA"",""original_url"":""https://example.com/a""}"` + "\n"

	// event returns an event with id 1 at the time at, changed by edit.
	event := func(edit func(*Event)) Event {
		ev := Event{ID: 1, URLID: 1, UserID: 1, Type: EventUpdated, Timestamp: at, Details: json.RawMessage(`{}`)}
		edit(&ev)
		return ev
	}

	tests := []struct {
		name     string
		input    string
		want     []Event
		wantErrs []RowError
	}{
		{
			name:  "plain row",
			input: eventsHeader + createdRow,
			want:  []Event{created},
		},
		{
			name:  "header only",
			input: eventsHeader,
		},
		{
			name:  "details column absent",
			input: "id,url_id,user_id,event_type,timestamp\n1,1,1,updated,2025-06-09 11:24:49\n",
			want:  []Event{event(func(*Event) {})},
		},
		{
			name:  "empty details",
			input: eventsHeader + "1,1,1,updated,2025-06-09 11:24:49,\n",
			want:  []Event{event(func(*Event) {})},
		},
		{
			name:  "details compacted",
			input: eventsHeader + "1,1,1,updated,2025-06-09 11:24:49,\"{\n  \"\"field\"\": \"\"title\"\",\n  \"\"new_value\"\": \"\"a  b\"\"\n}\"\n",
			want:  []Event{event(func(ev *Event) { ev.Details = json.RawMessage(`{"field":"title","new_value":"a  b"}`) })},
		},
		{
			name: "details not an object",
			input: eventsHeader +
				"1,1,1,updated,2025-06-09 11:24:49,\"[1,2]\"\n" +
				"2,1,1,updated,2025-06-09 11:24:49,\"\"\"text\"\"\"\n" +
				"3,1,1,updated,2025-06-09 11:24:49,42\n" +
				"4,1,1,updated,2025-06-09 11:24:49,null\n" +
				"5,1,1,updated,2025-06-09 11:24:49,true\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "details is an array, not a JSON object"},
				{Line: 3, Reason: "details is a string, not a JSON object"},
				{Line: 4, Reason: "details is a number, not a JSON object"},
				{Line: 5, Reason: "details is null, not a JSON object"},
				{Line: 6, Reason: "details is a boolean, not a JSON object"},
			},
		},
		{
			name: "details with a repeated name",
			input: eventsHeader +
				"1,1,1,updated,2025-06-09 11:24:49,\"{\"\"a\"\":1,\"\"a\"\":2}\"\n" +
				"2,1,1,updated,2025-06-09 11:24:49,\"{\"\"a\"\":{\"\"b\"\":1},\"\"c\"\":{\"\"b\"\":1,\"\"b\"\":2}}\"\n" +
				"3,1,1,updated,2025-06-09 11:24:49,\"{\"\"a\"\":{\"\"b\"\":1},\"\"c\"\":{\"\"b\"\":1}}\"\n" +
				"4,1,1,updated,2025-06-09 11:24:49,\"" + strings.Repeat(`{""a"":`, 65) + "1" + strings.Repeat("}", 65) + "\"\n",
			wantErrs: []RowError{
				{Line: 2, Reason: `details has the name "a" more than once`},
				{Line: 3, Reason: `details has the name "b" more than once`},
				{Line: 5, Reason: "details nests more than 64 levels deep"},
			},
		},
		{
			name: "details not valid JSON",
			input: eventsHeader +
				"1,1,1,updated,2025-06-09 11:24:49,\"{\"\"a\"\":\"\n" +
				"2,1,1,updated,2025-06-09 11:24:49,{} {}\n" +
				"3,1,1,updated,2025-06-09 11:24:49,\"{\"\"a\"\":\"\"\xff\"\"}\"\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "details is not valid JSON: unexpected end of JSON input"},
				{Line: 3, Reason: "details is not valid JSON: invalid character '{' after top-level value"},
				{Line: 4, Reason: "details is not valid UTF-8"},
			},
		},
		{
			name:  "empty user_id means no user",
			input: eventsHeader + "1,1,,updated,2025-06-09 11:24:49,\n",
			want:  []Event{event(func(ev *Event) { ev.UserID = 0 })},
		},
		{
			name: "invalid url_id",
			input: eventsHeader +
				"1,,1,updated,2025-06-09 11:24:49,\n" +
				"2,0,1,updated,2025-06-09 11:24:49,\n" +
				"3,x,1,updated,2025-06-09 11:24:49,\n",
			wantErrs: []RowError{
				{Line: 2, Reason: "url_id is empty"},
				{Line: 3, Reason: `url_id "0" is not a positive integer`},
				{Line: 4, Reason: `url_id "x" is not a positive integer`},
			},
		},
		{
			name:  "other event types kept",
			input: eventsHeader + "1,1,1,renamed,2025-06-09 11:24:49,\n",
			want:  []Event{event(func(ev *Event) { ev.Type = "renamed" })},
		},
		{
			name:     "empty event_type",
			input:    eventsHeader + "1,1,1,,2025-06-09 11:24:49,\n",
			wantErrs: []RowError{{Line: 2, Reason: "event_type is empty"}},
		},
		{
			name:  "timestamp with offset",
			input: eventsHeader + "1,1,1,updated,2025-06-09T06:24:49.123456-05:00,\n",
			want:  []Event{event(func(*Event) {})},
		},
		{
			name:     "invalid timestamp",
			input:    eventsHeader + "1,1,1,updated,2025-06-31 11:24:49,\n",
			wantErrs: []RowError{{Line: 2, Reason: `timestamp "2025-06-31 11:24:49" is not a YYYY-MM-DD HH:MM:SS or RFC 3339 time`}},
		},
		{
			name: "sorted by id with the last row of each id",
			input: eventsHeader +
				"3,1,1,deleted,2025-06-09 11:24:49,\n" +
				"1,1,1,updated,2025-06-09 11:24:49,\n" +
				"3,1,1,click,2025-06-09 11:24:49,\n",
			want: []Event{
				event(func(*Event) {}),
				event(func(ev *Event) { ev.ID = 3; ev.Type = EventClick }),
			},
		},
		{
			name:     "quoted line break keeps the first line number",
			input:    eventsHeader + "1,1,1,updated,2025-06-09 11:24:49,\"{\n}\"\nx,1,1,updated,2025-06-09 11:24:49,\n",
			wantErrs: []RowError{{Line: 4, Reason: `id "x" is not a positive integer`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ParseEventsCSV(strings.NewReader(tt.input), nil)
			if tt.wantErrs != nil {
				assertRowErrors(t, err, tt.wantErrs)
				if got != nil {
					t.Errorf("events = %s, want nil on error", describeEvents(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEventsCSV: %v", err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("events = %s\nwant     %s", describeEvents(got), describeEvents(tt.want))
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // RFC 3339 in UTC, or "" when the input is invalid
	}{
		{name: "space separator", input: "2025-06-09 11:24:49", want: "2025-06-09T11:24:49Z"},
		{name: "t separator", input: "2025-06-09T11:24:49", want: "2025-06-09T11:24:49Z"},
		{name: "lowercase t and z", input: "2025-06-09t11:24:49z", want: "2025-06-09T11:24:49Z"},
		{name: "fraction truncated", input: "2025-06-09 11:24:49.999999999", want: "2025-06-09T11:24:49Z"},
		{name: "long fraction", input: "2025-06-09 11:24:49.1234567890123", want: "2025-06-09T11:24:49Z"},
		{name: "utc", input: "2025-06-09T11:24:49Z", want: "2025-06-09T11:24:49Z"},
		{name: "positive offset", input: "2025-06-09T13:24:49+02:00", want: "2025-06-09T11:24:49Z"},
		{name: "negative offset", input: "2025-06-09T01:24:49.5-10:00", want: "2025-06-09T11:24:49Z"},
		{name: "space form with offset", input: "2025-06-09 13:54:49+02:30", want: "2025-06-09T11:24:49Z"},
		{name: "offset crosses year", input: "2025-12-31T23:30:00-01:00", want: "2026-01-01T00:30:00Z"},
		{name: "leap day", input: "2024-02-29 00:00:00", want: "2024-02-29T00:00:00Z"},
		{name: "first year", input: "0001-01-01 00:00:00", want: "0001-01-01T00:00:00Z"},
		{name: "last second", input: "9999-12-31 23:59:59", want: "9999-12-31T23:59:59Z"},
		{name: "empty", input: ""},
		{name: "date only", input: "2025-06-09"},
		{name: "one-digit month", input: "2025-6-09 11:24:49"},
		{name: "one-digit hour", input: "2025-06-09 1:24:49"},
		{name: "slashes", input: "2025/06/09 11:24:49"},
		{name: "month 13", input: "2025-13-01 00:00:00"},
		{name: "month 0", input: "2025-00-01 00:00:00"},
		{name: "day 0", input: "2025-01-00 00:00:00"},
		{name: "february 29 of a common year", input: "2025-02-29 00:00:00"},
		{name: "april 31", input: "2025-04-31 00:00:00"},
		{name: "hour 24", input: "2025-06-09 24:00:00"},
		{name: "minute 60", input: "2025-06-09 23:60:00"},
		{name: "leap second", input: "2025-06-09 23:59:60"},
		{name: "dot without digits", input: "2025-06-09 11:24:49."},
		{name: "comma fraction", input: "2025-06-09 11:24:49,5"},
		{name: "trailing space", input: "2025-06-09 11:24:49 "},
		{name: "leading space", input: " 2025-06-09 11:24:49"},
		{name: "zone name", input: "2025-06-09 11:24:49 UTC"},
		{name: "offset without colon", input: "2025-06-09T11:24:49+0200"},
		{name: "offset hour 24", input: "2025-06-09T11:24:49+24:00"},
		{name: "offset minute 60", input: "2025-06-09T11:24:49+01:60"},
		{name: "year 0", input: "0000-01-01 00:00:00"},
		{name: "before year 1 in utc", input: "0001-01-01T00:30:00+01:00"},
		{name: "after year 9999 in utc", input: "9999-12-31T23:30:00-01:00"},
		{name: "signed year", input: "+2025-06-09 11:24:49"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseTimestamp(tt.input)
			if tt.want == "" {
				if ok {
					t.Errorf("parseTimestamp(%q) = %v, want invalid", tt.input, got)
				}
				return
			}
			if !ok {
				t.Fatalf("parseTimestamp(%q) is invalid, want %s", tt.input, tt.want)
			}
			if s := got.Format(time.RFC3339Nano); s != tt.want {
				t.Errorf("parseTimestamp(%q) = %s, want %s", tt.input, s, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("location = %v, want UTC", got.Location())
			}
		})
	}
}

func TestParseCSVCheck(t *testing.T) {
	rejectBob := func(u *User) error {
		if u.Username == "bob" {
			return errors.New("username \"bob\" is taken")
		}
		return nil
	}
	input := usersHeader +
		"1,alice,alice@example.com,2025-11-02 16:29:04\n" +
		"2,bob,bob@example.com,2026-01-11 19:14:09\n" +
		"x,bad,bad@example.com,2026-01-11 19:14:09\n" +
		"3,bob,bob3@example.com,2026-01-11 19:14:09\n"

	tests := []struct {
		name      string
		check     func(*User) error
		wantCalls int
		wantErrs  []RowError
	}{
		{
			name:      "reason from check",
			check:     rejectBob,
			wantCalls: 3,
			wantErrs: []RowError{
				{Line: 3, Reason: `username "bob" is taken`},
				{Line: 4, Reason: `id "x" is not a positive integer`},
				{Line: 5, Reason: `username "bob" is taken`},
			},
		},
		{
			name:      "nil from check",
			check:     func(*User) error { return nil },
			wantCalls: 3,
			wantErrs:  []RowError{{Line: 4, Reason: `id "x" is not a positive integer`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			check := func(u *User) error {
				calls++
				return tt.check(u)
			}
			_, _, err := ParseUsersCSV(strings.NewReader(input), check)
			assertRowErrors(t, err, tt.wantErrs)
			if calls != tt.wantCalls {
				t.Errorf("check called %d times, want %d", calls, tt.wantCalls)
			}
		})
	}
}

func TestParseCSVCheckChangesRecord(t *testing.T) {
	tests := []struct {
		name  string
		parse func() (string, error)
		want  string
	}{
		{
			name: "users",
			parse: func() (string, error) {
				users, _, err := ParseUsersCSV(strings.NewReader(usersHeader+"1,Alice,a@x.io,2025-01-01 00:00:00\n"),
					func(u *User) error { u.Username = strings.ToLower(u.Username); return nil })
				if err != nil || len(users) != 1 {
					return "", err
				}
				return users[0].Username, nil
			},
			want: "alice",
		},
		{
			name: "urls",
			parse: func() (string, error) {
				urls, _, err := ParseURLsCSV(strings.NewReader(urlsHeader+"1,,abc,https://x.io,,1,2025-01-01 00:00:00,\n"),
					func(u *URL) error { u.OriginalURL += "/"; return nil })
				if err != nil || len(urls) != 1 {
					return "", err
				}
				return urls[0].OriginalURL, nil
			},
			want: "https://x.io/",
		},
		{
			name: "events",
			parse: func() (string, error) {
				events, _, err := ParseEventsCSV(strings.NewReader(eventsHeader+"1,1,,click,2025-01-01 00:00:00,\n"),
					func(ev *Event) error { ev.Type = "visit"; return nil })
				if err != nil || len(events) != 1 {
					return "", err
				}
				return events[0].Type, nil
			},
			want: "visit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse()
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("changed field = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseCSVRowErrorLimit(t *testing.T) {
	tests := []struct {
		name      string
		badRows   int
		wantTotal int
		wantLast  int // line of the last listed row
	}{
		{name: "under the limit", badRows: 3, wantTotal: 3, wantLast: 4},
		{name: "at the limit", badRows: maxRowErrors, wantTotal: maxRowErrors, wantLast: maxRowErrors + 1},
		{name: "over the limit", badRows: 120, wantTotal: 120, wantLast: maxRowErrors + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := usersHeader + strings.Repeat("0,a,a@x.io,2025-01-01 00:00:00\n", tt.badRows)
			_, _, err := ParseUsersCSV(strings.NewReader(input), nil)
			var csvErr *CSVError
			if !errors.As(err, &csvErr) {
				t.Fatalf("error = %v, want *CSVError", err)
			}
			if csvErr.Total != tt.wantTotal {
				t.Errorf("total = %d, want %d", csvErr.Total, tt.wantTotal)
			}
			if want := min(tt.badRows, maxRowErrors); len(csvErr.Rows) != want {
				t.Fatalf("listed rows = %d, want %d", len(csvErr.Rows), want)
			}
			if last := csvErr.Rows[len(csvErr.Rows)-1].Line; last != tt.wantLast {
				t.Errorf("last listed line = %d, want %d", last, tt.wantLast)
			}
			more := fmt.Sprintf("; and %d more", tt.wantTotal-maxRowErrors)
			if got := strings.HasSuffix(err.Error(), more); got != (tt.wantTotal > maxRowErrors) {
				t.Errorf("message ends with %q = %t, message %q", more, got, err.Error())
			}
		})
	}
}

func TestParseCSVReadError(t *testing.T) {
	failure := errors.New("connection reset")
	tests := []struct {
		name   string
		prefix string // bytes read before the failure
		parse  func(r io.Reader) error
	}{
		{
			name:   "users before the header",
			prefix: "",
			parse:  func(r io.Reader) error { _, _, err := ParseUsersCSV(r, nil); return err },
		},
		{
			name:   "urls after a row",
			prefix: urlsHeader + "1,,abc,https://x.io,,1,2025-01-01 00:00:00,\n",
			parse:  func(r io.Reader) error { _, _, err := ParseURLsCSV(r, nil); return err },
		},
		{
			name:   "events after a row",
			prefix: eventsHeader + "1,1,,click,2025-01-01 00:00:00,\n",
			parse:  func(r io.Reader) error { _, _, err := ParseEventsCSV(r, nil); return err },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &failingReader{data: strings.NewReader(tt.prefix), err: failure}
			err := tt.parse(r)
			if !errors.Is(err, failure) {
				t.Fatalf("error = %v, want it to wrap %v", err, failure)
			}
			var csvErr *CSVError
			if errors.As(err, &csvErr) {
				t.Errorf("error = %v, want a read error, not *CSVError", err)
			}
		})
	}
}

// failingReader returns the bytes of data and then err.
type failingReader struct {
	data *strings.Reader
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data.Len() == 0 {
		return 0, r.err
	}
	return r.data.Read(p)
}

func TestParseCSVOneByteReads(t *testing.T) {
	input := "\ufeff" + eventsHeader + `1,1,1,created,2025-06-09 11:24:49,"{""a"":1}"` + "\r\n"
	events, _, err := ParseEventsCSV(iotest.OneByteReader(strings.NewReader(input)), nil)
	if err != nil {
		t.Fatalf("ParseEventsCSV: %v", err)
	}
	if len(events) != 1 {
		t.Fatalf("events = %d, want 1", len(events))
	}
	if string(events[0].Details) != `{"a":1}` {
		t.Errorf("details = %s, want {\"a\":1}", events[0].Details)
	}
}

func TestParseCSVFixtures(t *testing.T) {
	dir := filepath.Join("..", "testdata", "csv")
	tests := []struct {
		name     string
		file     string
		parse    func(*os.File) (string, error)
		want     string
		wantErrs []RowError
	}{
		{
			name: "urls with bom, crlf and reordered columns",
			file: "urls_bom_crlf.csv",
			parse: func(f *os.File) (string, error) {
				urls, _, err := ParseURLsCSV(f, nil)
				return describeURLs(urls), err
			},
			want: describeURLs([]URL{
				{
					ID: 1, UserID: 7, ShortCode: "abc123", OriginalURL: "https://example.com/a?x=1&y=2",
					Title: stringPtr("Launch, phase 1"), IsActive: true,
					CreatedAt: utcTime("2025-01-02 03:04:05"), UpdatedAt: utcTime("2025-02-03 04:05:06"),
				},
				{
					ID: 2, UserID: 0, ShortCode: "my-link_2", OriginalURL: "https://example.org/",
					IsActive:  false,
					CreatedAt: utcTime("2025-03-04 05:06:07"), UpdatedAt: utcTime("2025-03-04 05:06:07"),
				},
				{
					ID: 5, UserID: 7, ShortCode: "Z", OriginalURL: "https://example.net/new",
					Title: stringPtr(`She said "hi"`), IsActive: true,
					CreatedAt: utcTime("2025-04-05 04:07:08"), UpdatedAt: utcTime("2025-04-06 00:00:00"),
				},
			}),
		},
		{
			name: "events with multi-line details",
			file: "events_multiline.csv",
			parse: func(f *os.File) (string, error) {
				events, _, err := ParseEventsCSV(f, nil)
				return describeEvents(events), err
			},
			want: describeEvents([]Event{
				{
					ID: 1, URLID: 1, UserID: 7, Type: EventCreated, Timestamp: utcTime("2025-01-02 03:04:05"),
					Details: json.RawMessage(`{"short_code":"abc123","original_url":"https://example.com/a?x=1&y=2"}`),
				},
				{
					ID: 2, URLID: 1, UserID: 0, Type: EventUpdated, Timestamp: utcTime("2025-02-03 04:05:06"),
					Details: json.RawMessage(`{"field":"title","new_value":"Launch, phase 1"}`),
				},
				{
					ID: 3, URLID: 2, UserID: 7, Type: EventDeleted, Timestamp: utcTime("2025-03-04 05:06:07"),
					Details: json.RawMessage(`{}`),
				},
			}),
		},
		{
			name: "users with invalid rows",
			file: "users_invalid.csv",
			parse: func(f *os.File) (string, error) {
				users, _, err := ParseUsersCSV(f, nil)
				return fmt.Sprint(users), err
			},
			wantErrs: []RowError{
				{Line: 3, Reason: `id "-2" is not a positive integer`},
				{Line: 4, Reason: "email is empty"},
				{Line: 6, Reason: `created_at "2025-02-30 10:00:00" is not a YYYY-MM-DD HH:MM:SS or RFC 3339 time`},
				{Line: 7, Reason: "row has 3 fields, the header has 4"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()

			got, err := tt.parse(f)
			if tt.wantErrs != nil {
				assertRowErrors(t, err, tt.wantErrs)
				return
			}
			if err != nil {
				t.Fatalf("parse %s: %v", tt.file, err)
			}
			if got != tt.want {
				t.Errorf("records = %s\nwant      %s", got, tt.want)
			}
		})
	}
}

// seedDataDir returns the directory of the seed CSV files, or skips the test
// when it is absent unless LINKBOLT_REQUIRE_INTEGRATION=1.
func seedDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "users.csv")); err != nil {
		if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("seed data: %v", err)
		}
		t.Skipf("seed data not found: %v", err)
	}
	return dir
}

func TestParseSeedData(t *testing.T) {
	dir := seedDataDir(t)
	tests := []struct {
		name             string
		dir              string
		firstUser        User
		lastUser         User
		firstURL         URL
		lastURL          URL
		activeURLs       int
		firstEvent       Event
		lastEvent        Event
		repeatedUsername []string
	}{
		{
			name:      "main set",
			dir:       dir,
			firstUser: User{ID: 1, Username: "forestorbit68", Email: "forestorbit68@opswise.net", CreatedAt: utcTime("2025-11-02 16:29:04")},
			lastUser:  User{ID: 400, Username: "dawnnetwork02", Email: "dawnnetwork02@relay.cloud", CreatedAt: utcTime("2025-02-07 16:38:29")},
			firstURL: URL{
				ID: 1, UserID: 1, ShortCode: "OvfxQA", OriginalURL: "https://opswise.net/urban/lagoon/1",
				Title: stringPtr("Roadmap update journey"), IsActive: true,
				CreatedAt: utcTime("2025-06-09 11:24:49"), UpdatedAt: utcTime("2025-07-15 11:30:38"),
			},
			lastURL: URL{
				ID: 2000, UserID: 57, ShortCode: "G4MUeV", OriginalURL: "https://hackstack.io/proud/anchor/2000",
				Title: stringPtr("Roadmap update garden"), IsActive: true,
				CreatedAt: utcTime("2025-01-12 10:22:47"), UpdatedAt: utcTime("2025-04-27 14:27:12"),
			},
			activeURLs: 1621,
			firstEvent: Event{
				ID: 1, URLID: 1, UserID: 1, Type: EventCreated, Timestamp: utcTime("2025-06-09 11:24:49"),
				Details: json.RawMessage(`{"short_code":"OvfxQA","original_url":"https://opswise.net/urban/lagoon/1"}`),
			},
			lastEvent: Event{
				ID: 3422, URLID: 556, UserID: 77, Type: EventDeleted, Timestamp: utcTime("2026-01-16 08:18:08"),
				Details: json.RawMessage(`{"reason":"user_requested"}`),
			},
		},
		{
			name:      "set b",
			dir:       filepath.Join(dir, "set-b"),
			firstUser: User{ID: 1, Username: "livelypioneer98", Email: "livelypioneer98@hackstack.io", CreatedAt: utcTime("2024-03-09 07:51:31")},
			lastUser:  User{ID: 400, Username: "livelykernel24", Email: "livelykernel24@hackstack.io", CreatedAt: utcTime("2025-11-24 07:14:33")},
			firstURL: URL{
				ID: 1, UserID: 1, ShortCode: "0Y7puX", OriginalURL: "https://opswise.net/clear/zenith/1",
				Title: stringPtr("Quarterly brief garden"), IsActive: true,
				CreatedAt: utcTime("2025-09-27 19:12:17"), UpdatedAt: utcTime("2025-10-04 11:18:27"),
			},
			lastURL: URL{
				ID: 2000, UserID: 40, ShortCode: "S5gRK7", OriginalURL: "https://acme.dev/dawn/field/2000",
				Title: stringPtr("Alert feed uplink"), IsActive: true,
				CreatedAt: utcTime("2025-12-19 03:19:55"), UpdatedAt: utcTime("2026-02-03 12:46:31"),
			},
			activeURLs: 1638,
			firstEvent: Event{
				ID: 1, URLID: 1, UserID: 1, Type: EventCreated, Timestamp: utcTime("2025-09-27 19:12:17"),
				Details: json.RawMessage(`{"short_code":"0Y7puX","original_url":"https://opswise.net/clear/zenith/1"}`),
			},
			lastEvent: Event{
				ID: 3422, URLID: 19, UserID: 164, Type: EventDeleted, Timestamp: utcTime("2025-04-21 02:46:52"),
				Details: json.RawMessage(`{"reason":"policy_cleanup"}`),
			},
			repeatedUsername: []string{"emberdelta37", "navyzenith64", "silverpioneer32"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := parseSeedFile(t, filepath.Join(tt.dir, "users.csv"), ParseUsersCSV)
			urls := parseSeedFile(t, filepath.Join(tt.dir, "urls.csv"), ParseURLsCSV)
			events := parseSeedFile(t, filepath.Join(tt.dir, "events.csv"), ParseEventsCSV)

			if len(users) != 400 {
				t.Fatalf("users = %d, want 400", len(users))
			}
			if !reflect.DeepEqual(users[0], tt.firstUser) {
				t.Errorf("first user = %+v, want %+v", users[0], tt.firstUser)
			}
			if !reflect.DeepEqual(users[399], tt.lastUser) {
				t.Errorf("last user = %+v, want %+v", users[399], tt.lastUser)
			}
			usernames := make(map[string]int)
			for _, u := range users {
				usernames[u.Username]++
			}
			var repeated []string
			for name, n := range usernames {
				if n > 1 {
					repeated = append(repeated, name)
				}
				if n > 2 {
					t.Errorf("username %q appears %d times, want at most 2", name, n)
				}
			}
			slices.Sort(repeated)
			if !slices.Equal(repeated, tt.repeatedUsername) {
				t.Errorf("repeated usernames = %q, want %q", repeated, tt.repeatedUsername)
			}

			if len(urls) != 2000 {
				t.Fatalf("urls = %d, want 2000", len(urls))
			}
			if got := describeURLs(urls[:1]); got != describeURLs([]URL{tt.firstURL}) {
				t.Errorf("first url = %s, want %s", got, describeURLs([]URL{tt.firstURL}))
			}
			if got := describeURLs(urls[1999:]); got != describeURLs([]URL{tt.lastURL}) {
				t.Errorf("last url = %s, want %s", got, describeURLs([]URL{tt.lastURL}))
			}
			active := 0
			for _, u := range urls {
				if u.IsActive {
					active++
				}
			}
			if active != tt.activeURLs {
				t.Errorf("active urls = %d, want %d", active, tt.activeURLs)
			}

			if len(events) != 3422 {
				t.Fatalf("events = %d, want 3422", len(events))
			}
			if !reflect.DeepEqual(events[0], tt.firstEvent) {
				t.Errorf("first event = %s, want %s", describeEvents(events[:1]), describeEvents([]Event{tt.firstEvent}))
			}
			if !reflect.DeepEqual(events[3421], tt.lastEvent) {
				t.Errorf("last event = %s, want %s", describeEvents(events[3421:]), describeEvents([]Event{tt.lastEvent}))
			}
			types := make(map[string]int)
			for _, ev := range events {
				types[ev.Type]++
			}
			wantTypes := map[string]int{EventCreated: 2000, EventUpdated: 1206, EventDeleted: 216}
			if !reflect.DeepEqual(types, wantTypes) {
				t.Errorf("event types = %v, want %v", types, wantTypes)
			}
		})
	}
}

// parseSeedFile opens path and parses it with parse, failing the test on
// any error.
func parseSeedFile[T any](t *testing.T, path string, parse func(io.Reader, func(*T) error) ([]T, int, error)) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, rows, err := parse(f, nil)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if rows != len(records) {
		t.Errorf("parse %s: %d data rows for %d records; the seed files repeat no id", path, rows, len(records))
	}
	return records
}

func BenchmarkParseURLsCSV(b *testing.B) {
	var input strings.Builder
	input.WriteString(urlsHeader)
	for i := 1; i <= 100_000; i++ {
		fmt.Fprintf(&input, "%d,%d,c%d,https://example.com/path/%d,Title %d,True,2025-06-09 11:24:49,2025-07-15 11:30:38\n",
			i, i%400+1, i, i, i)
	}
	data := input.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseURLsCSV(strings.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseCSVTimeRejectsZeroTime(t *testing.T) {
	for _, cell := range []string{"0001-01-01 00:00:00", "0001-01-01T01:00:00+01:00", "0001-01-01 00:00:00.9"} {
		if _, err := parseCSVTime("created_at", cell); err == nil || !strings.Contains(err.Error(), "zero time") {
			t.Errorf("parseCSVTime(%q) = %v, want an error naming the zero time", cell, err)
		}
	}
	if _, err := parseCSVTime("created_at", "0001-01-01 00:00:01"); err != nil {
		t.Errorf("the second after the zero time: %v", err)
	}
}

func TestParseCSVCountsRepeatedIDOnce(t *testing.T) {
	users, n, err := ParseUsersCSV(strings.NewReader(usersHeader+
		"7,old,old@example.com,2020-01-01 00:00:00\n"+
		"8,bob,bob@example.com,2020-01-01 00:00:00\n"+
		"7,new,new@example.com,2020-01-01 00:00:00\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(users) != 2 {
		t.Errorf("users: count %d, %d records; want 2 and 2", n, len(users))
	}
	if len(users) > 0 && users[0].Username != "new" {
		t.Errorf("user 7 = %q, want the later row", users[0].Username)
	}

	urls, n, err := ParseURLsCSV(strings.NewReader(urlsHeader+
		"3,,abc,https://example.com/a,,True,2025-01-01 00:00:00,\n"+
		"3,,abc,https://example.com/b,,True,2025-01-01 00:00:00,\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(urls) != 1 {
		t.Errorf("urls: count %d, %d records; want 1 and 1", n, len(urls))
	}

	events, n, err := ParseEventsCSV(strings.NewReader(eventsHeader+
		"5,1,,click,2025-01-01 00:00:00,\n"+
		"5,1,,click,2025-01-01 00:00:01,\n"+
		"5,1,,click,2025-01-01 00:00:02,\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(events) != 1 {
		t.Errorf("events: count %d, %d records; want 1 and 1", n, len(events))
	}
}

func TestParseCSVRejectsNUL(t *testing.T) {
	const reason = "contains a NUL byte, which linkbolt does not store"
	_, _, err := ParseURLsCSV(strings.NewReader(urlsHeader+
		"1,,abc,https://example.com/a,ok,True,2025-01-01 00:00:00,\n"+
		"2,,abd,https://example.com/b,a\x00b,True,2025-01-01 00:00:00,\n"), nil)
	wantRowErrors(t, err, []RowError{{Line: 3, Reason: "column title " + reason}})

	_, _, err = ParseEventsCSV(strings.NewReader(eventsHeader+"5,1,,cl\x00ick,2025-01-01 00:00:00,\n"), nil)
	wantRowErrors(t, err, []RowError{{Line: 2, Reason: "column event_type " + reason}})

	_, _, err = ParseUsersCSV(strings.NewReader(usersHeader+"7,ann,ann@exa\x00mple.com,2020-01-01 00:00:00\n"), nil)
	wantRowErrors(t, err, []RowError{{Line: 2, Reason: "column email " + reason}})

	// A column that is not read may hold anything.
	users, _, err := ParseUsersCSV(strings.NewReader("id,username,email,created_at,note\n"+
		"7,ann,ann@example.com,2020-01-01 00:00:00,a\x00b\n"), nil)
	if err != nil || len(users) != 1 {
		t.Errorf("NUL in an unused column: %d users, error %v; want 1 user", len(users), err)
	}
}

// wantRowErrors fails the test unless err is a *CSVError listing want.
func wantRowErrors(t *testing.T, err error, want []RowError) {
	t.Helper()
	csvErr, ok := errors.AsType[*CSVError](err)
	if !ok {
		t.Fatalf("error %v (%T), want a *CSVError", err, err)
	}
	if !slices.Equal(csvErr.Rows, want) {
		t.Errorf("row errors = %+v, want %+v", csvErr.Rows, want)
	}
}
