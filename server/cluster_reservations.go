package server

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/linkbolt/linkbolt/store"
)

// reservationsBulkPath is the route that imports a reservations file.
const reservationsBulkPath = "/admin/reservations/bulk"

// fanOutReservations serves GET /admin/reservations from every shard.
// Each shard draws ids from its own range, so the id rows of every shard
// are kept. A shard that is down fails the whole list with 503.
func (s *Server) fanOutReservations(w http.ResponseWriter, r *http.Request) error {
	return s.fanOutPages(w, r, pageReservations)
}

// reservationRecord is one reservation of a shard's page and its JSON.
type reservationRecord struct {
	view reservationJSON
	raw  json.RawMessage
}

// kindOrder is the position of each kind among the id rows of a list.
var kindOrder = map[string]int{store.KindUser: 0, store.KindURL: 1, store.KindEvent: 2}

// compareReservations orders reservations as one shard lists them: the id
// rows first, by kind (user, url, event) and then by id, then the codes in
// byte order. Equal code rows on two shards compare equal.
func compareReservations(a, b reservationJSON) int {
	switch {
	case a.ShortCode == nil && b.ShortCode != nil:
		return -1
	case a.ShortCode != nil && b.ShortCode == nil:
		return 1
	case a.ShortCode != nil:
		if c := strings.Compare(*a.ShortCode, *b.ShortCode); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	}
	if c := cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// pageReservations merges the reservations of every shard in the order of
// compareReservations and returns page p and the number of repeated rows
// dropped. A code reserved on two shards with the same link id, as a
// rebalance leaves it until it finishes, is listed once.
func pageReservations(pages [][]json.RawMessage, p store.Page) ([]json.RawMessage, uint64, error) {
	var records []reservationRecord
	for _, page := range pages {
		for _, raw := range page {
			var view reservationJSON
			if err := json.Unmarshal(raw, &view); err != nil {
				return nil, 0, err
			}
			records = append(records, reservationRecord{view, raw})
		}
	}
	slices.SortStableFunc(records, func(a, b reservationRecord) int {
		return compareReservations(a.view, b.view)
	})
	n := len(records)
	records = slices.CompactFunc(records, func(a, b reservationRecord) bool {
		return a.view.Kind == b.view.Kind && compareReservations(a.view, b.view) == 0
	})
	copies := uint64(n - len(records))
	return pageOf(records, p, func(r reservationRecord) json.RawMessage { return r.raw }), copies, nil
}

// fanOutReservationsImport serves POST /admin/reservations/bulk on a
// cluster. It checks the whole file as a single server does, then every
// shard imports every row at once and keeps the ids in its range. A short
// code goes only to its owner, because creates of that code land there.
// Importing reservations again changes nothing, so a failure after some
// shards wrote is a *partialImportError, whose message requests the same
// file again.
func (s *Server) fanOutReservationsImport(w http.ResponseWriter, r *http.Request) error {
	data, err := s.readBulkCSV(w, r)
	if err != nil {
		return err
	}
	list, rows, err := store.ParseReservationsCSV(bytes.NewReader(data), checkReservationRow)
	if err != nil {
		return err
	}
	parts, err := s.splitReservations(list)
	if err != nil {
		return err
	}

	if _, err := s.importParts(r, parts, reservationsBulkPath, nil); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, bulkResult{Imported: rows, Count: rows})
	return nil
}

// splitReservations writes one reservations CSV file per shard. Every
// file has every row, but a row's short code only in the file of the
// code's owner.
func (s *Server) splitReservations(list []store.Reservation) (map[string]*bytes.Buffer, error) {
	parts := make(map[string]*bytes.Buffer)
	writers := make(map[string]*csv.Writer)
	for _, peer := range s.cluster.ring.Peers() {
		parts[peer] = &bytes.Buffer{}
		writers[peer] = csv.NewWriter(parts[peer])
		writers[peer].Write([]string{"kind", "id", "short_code"})
	}
	for _, res := range list {
		owner := ""
		if res.ShortCode != "" {
			owner = s.cluster.ring.OwnerName(res.ShortCode)
		}
		id := strconv.FormatUint(res.ID, 10)
		for peer, cw := range writers {
			code := ""
			if peer == owner {
				code = res.ShortCode
			}
			cw.Write([]string{res.Kind, id, code})
		}
	}
	for _, cw := range writers {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return nil, err
		}
	}
	return parts, nil
}
