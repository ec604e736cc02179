package server

import (
	"io"
	"net/http"

	"github.com/linkbolt/linkbolt/store"
)

// reservationJSON is a reservation as the API sends it. ShortCode is null
// for a reservation of an id alone.
type reservationJSON struct {
	Kind      string  `json:"kind"`
	ID        uint64  `json:"id"`
	ShortCode *string `json:"short_code"`
}

// listReservations returns a page of the ids and codes that new records
// must not take, which export writes to reservations.csv. On a cluster,
// fanOutReservations merges the lists of every shard.
func (s *Server) listReservations(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	p, err := parsePage(q)
	if err != nil {
		return err
	}
	list, total, err := s.store.ListReservations(p)
	if err != nil {
		return err
	}
	views := make([]reservationJSON, 0, len(list))
	for _, res := range list {
		v := reservationJSON{Kind: res.Kind, ID: res.ID}
		if res.ShortCode != "" {
			v.ShortCode = &res.ShortCode
		}
		views = append(views, v)
	}
	s.writeList(w, r, p, total, views)
	return nil
}

func (s *Server) importReservations(w http.ResponseWriter, r *http.Request) error {
	return s.importCSV(w, r, LoadReservationsCSV)
}

// LoadReservationsCSV parses a reservations CSV file and applies it in one
// transaction. It returns the number of rows.
func LoadReservationsCSV(st *store.Store, r io.Reader) (int, error) {
	list, rows, err := store.ParseReservationsCSV(r, checkReservationRow)
	if err != nil {
		return 0, err
	}
	return rows, st.ImportReservations(list)
}
