package store

import (
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Kinds of record that a Reservation names.
const (
	KindUser  = "user"
	KindURL   = "url"
	KindEvent = "event"
)

// Reservation is an id, and for a link maybe a short code, that new
// records must not take. Each kind of record has one for the highest id it
// has issued, and each removed link has one with its code. A database file
// keeps both on its own; an export carries them as reservations, because
// the removed records are not in it.
type Reservation struct {
	Kind string // KindUser, KindURL or KindEvent

	// ID is an id of Kind. New records of that kind get ids above it.
	ID uint64

	// ShortCode, for KindURL only, is the code of a removed link, which
	// stays reserved; empty reserves only the id.
	ShortCode string
}

// reservationBuckets maps each kind to the bucket whose sequence holds its
// highest issued id.
var reservationBuckets = map[string][]byte{
	KindUser:  bucketUsers,
	KindURL:   bucketURLs,
	KindEvent: bucketEvents,
}

// ListReservations returns one page of the reservations and the number of
// all of them. The list starts with the highest issued id of users, links
// and events, each when above zero, and goes on with the codes of deleted
// and purged links in byte order.
//
// NOTE: each page counts and skips the codes before it with a cursor, so
// reading every page costs time quadratic in the number of codes.
func (s *Store) ListReservations(p Page) ([]Reservation, uint64, error) {
	var page []Reservation
	var total uint64
	err := s.view(func(tx *bolt.Tx) error {
		page, total = nil, 0
		skip := p.offset()
		keep := func(r Reservation) {
			total++
			switch {
			case skip > 0:
				skip--
			case len(page) < p.PerPage:
				page = append(page, r)
			}
		}
		for _, kind := range []string{KindUser, KindURL, KindEvent} {
			if seq := tx.Bucket(reservationBuckets[kind]).Sequence(); seq > 0 {
				keep(Reservation{Kind: kind, ID: seq})
			}
		}
		c := tx.Bucket(bucketTombstones).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			keep(Reservation{Kind: KindURL, ID: btoi(v), ShortCode: string(k)})
		}
		return nil
	})
	return page, total, err
}

// ImportReservations applies reservations in one transaction: all or
// none. Each id is used as an imported id would be, so new ids of its kind
// are drawn above it when it lies in the store's range. Each code becomes
// a tombstone of its link's id unless a link or a tombstone holds it
// already, which then stays as it is. An id above MaxImportID, an unknown
// kind or a code on a kind other than KindURL gives an *ImportError.
func (s *Store) ImportReservations(rs []Reservation) error {
	return s.update(func(tx *bolt.Tx) error {
		tombstones := tx.Bucket(bucketTombstones)
		for _, r := range rs {
			name, ok := reservationBuckets[r.Kind]
			if !ok {
				return &ImportError{ID: r.ID, Err: fmt.Errorf("kind %q is not user, url or event", r.Kind)}
			}
			if r.ShortCode != "" && r.Kind != KindURL {
				return &ImportError{ID: r.ID, Err: fmt.Errorf("a %s reservation has a short code", r.Kind)}
			}
			if err := s.useID(tx.Bucket(name), r.ID); err != nil {
				return &ImportError{ID: r.ID, Err: err}
			}
			if r.ShortCode == "" || codeTaken(tx, r.ShortCode) {
				continue
			}
			if err := tombstones.Put([]byte(r.ShortCode), itob(r.ID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Columns of reservations.csv, indexed by the reservationCol* constants.
var reservationColumns = []csvColumn{
	{name: "kind"},
	{name: "id"},
	{name: "short_code", optional: true},
}

const (
	reservationColKind = iota
	reservationColID
	reservationColShortCode
)

// ParseReservationsCSV reads a whole reservations CSV file with the
// columns kind, id and short_code, found by header name as in
// ParseUsersCSV. kind is user, url or event, and id follows the rules of
// ids. short_code may be absent or empty; when set, kind must be url and
// the code must pass ValidCode. check, if not nil, applies the caller's
// rules to each row that passes these. Rows are returned in file order,
// with their number. If any row is invalid, or the file is not valid CSV,
// the error is a *CSVError and no rows are returned. An error of r is
// returned wrapped.
func ParseReservationsCSV(r io.Reader, check func(*Reservation) error) ([]Reservation, int, error) {
	rows, err := newCSVRows(r, reservationColumns)
	if err != nil {
		return nil, 0, err
	}
	var list []Reservation
	for rows.next() {
		res, err := parseReservationRow(rows.values)
		if err == nil && check != nil {
			err = check(&res)
		}
		if err != nil {
			rows.reject(err.Error())
			continue
		}
		if rows.valid() {
			list = append(list, res)
		}
	}
	if err := rows.close(); err != nil {
		return nil, 0, err
	}
	return list, len(list), nil
}

func parseReservationRow(values []string) (Reservation, error) {
	var r Reservation
	switch kind := values[reservationColKind]; kind {
	case KindUser, KindURL, KindEvent:
		r.Kind = kind
	case "":
		return r, errors.New("kind is empty")
	default:
		return r, fmt.Errorf("kind %s is not user, url or event", quoteCell(kind))
	}
	var err error
	if r.ID, err = parseCSVID("id", values[reservationColID]); err != nil {
		return r, err
	}
	cell := values[reservationColShortCode]
	if cell == "" {
		return r, nil
	}
	if r.Kind != KindURL {
		return r, fmt.Errorf("short_code %s is set on kind %s; only kind url takes a code", quoteCell(cell), r.Kind)
	}
	r.ShortCode, err = parseCSVShortCode(cell)
	return r, err
}
