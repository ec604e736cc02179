package store

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseReservationsCSV(t *testing.T) {
	list, n, err := ParseReservationsCSV(strings.NewReader("kind,id,short_code\n"+
		"user,4,\nurl,9,\nevent,12,\nurl,9,gone\nurl,3,old\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Reservation{
		{Kind: KindUser, ID: 4}, {Kind: KindURL, ID: 9}, {Kind: KindEvent, ID: 12},
		{Kind: KindURL, ID: 9, ShortCode: "gone"}, {Kind: KindURL, ID: 3, ShortCode: "old"},
	}
	if n != len(want) || !slices.Equal(list, want) {
		t.Errorf("got %d %+v, want %+v", n, list, want)
	}

	_, _, err = ParseReservationsCSV(strings.NewReader("kind,id,short_code\n"+
		"link,1,\n,2,\nuser,0,\nuser,5,abc\nurl,6,a b\n"), nil)
	wantRowErrors(t, err, []RowError{
		{Line: 2, Reason: `kind "link" is not user, url or event`},
		{Line: 3, Reason: "kind is empty"},
		{Line: 4, Reason: `id "0" is not a positive integer`},
		{Line: 5, Reason: `short_code "abc" is set on kind user; only kind url takes a code`},
		{Line: 6, Reason: `short_code "a b" is not 1 to 64 characters of A-Z, a-z, 0-9, _ and -`},
	})

	// The caller's check runs on rows that pass the parser's rules.
	noCodes := func(r *Reservation) error {
		if r.ShortCode != "" {
			return errors.New("no codes here")
		}
		return nil
	}
	_, _, err = ParseReservationsCSV(strings.NewReader("kind,id,short_code\n"+
		"url,1,\nurl,2,x\nuser,3,y\n"), noCodes)
	wantRowErrors(t, err, []RowError{
		{Line: 3, Reason: "no codes here"},
		{Line: 4, Reason: `short_code "y" is set on kind user; only kind url takes a code`},
	})
}

func TestImportReservations(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	live, err := st.CreateURL(URL{ShortCode: "live", OriginalURL: "https://example.com/", IsActive: true})
	if err != nil {
		t.Fatal(err)
	}

	// A code that a link holds stays that link's.
	err = st.ImportReservations([]Reservation{
		{Kind: KindURL, ID: 7}, {Kind: KindUser, ID: 3},
		{Kind: KindURL, ID: 5, ShortCode: "gone"}, {Kind: KindURL, ID: 6, ShortCode: "live"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateURL(URL{ShortCode: "gone", OriginalURL: "https://example.com/"}); !errors.Is(err, ErrConflict) {
		t.Errorf("create with the reserved code: error %v, want a conflict", err)
	}
	next, err := st.CreateURL(URL{OriginalURL: "https://example.com/n"})
	if err != nil {
		t.Fatal(err)
	}
	if next.ID != 8 {
		t.Errorf("next link id %d, want 8", next.ID)
	}
	if got, err := st.GetURLByCode("live"); err != nil || got.ID != live.ID {
		t.Errorf("link of code live = %d (%v), want %d", got.ID, err, live.ID)
	}

	err = st.ImportReservations([]Reservation{{Kind: KindUser, ID: 2, ShortCode: "x"}})
	if err == nil {
		t.Error("a user reservation with a code was accepted")
	}
}
