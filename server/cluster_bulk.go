package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/store"
)

// bulkKind is the record type of a bulk import.
type bulkKind int

const (
	bulkUsers bulkKind = iota
	bulkURLs
	bulkEvents
)

func (k bulkKind) path() string {
	return [...]string{"/users/bulk", "/urls/bulk", "/events/bulk"}[k]
}

// routeBulk returns the handler of a bulk import in a cluster. The whole
// file is checked here as a single server checks it. Then each shard gets
// the rows it owns, which are users by username, links by short code and
// events with their link. Every shard then reserves the highest imported
// ids, so that no shard draws an id that an imported record took
// elsewhere.
func (s *Server) routeBulk(kind bulkKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBulkBytes)
		file, err := csvFile(r)
		if err != nil {
			return err
		}
		body := &bodyReader{r: file}
		data, err := io.ReadAll(body)
		if err != nil {
			return body.explain(err)
		}
		rows, seq, err := checkBulk(kind, data)
		if err != nil {
			return err
		}
		parts, err := s.splitBulk(r, kind, data)
		if err != nil {
			return err
		}
		if err := s.sendBulkParts(r, kind, parts); err != nil {
			return err
		}
		if err := s.reserveEverywhere(r, seq); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, bulkResult{Imported: rows, Count: rows})
		return nil
	}
}

// checkBulk parses the file with the rules of a single server and returns
// its number of data rows and its highest id.
func checkBulk(kind bulkKind, data []byte) (int, store.Sequences, error) {
	var seq store.Sequences
	switch kind {
	case bulkUsers:
		users, rows, err := store.ParseUsersCSV(bytes.NewReader(data), checkUserRow)
		for _, u := range users {
			seq.Users = max(seq.Users, u.ID)
		}
		return rows, seq, err
	case bulkURLs:
		urls, rows, err := store.ParseURLsCSV(bytes.NewReader(data), checkURLRow)
		for _, u := range urls {
			seq.URLs = max(seq.URLs, u.ID)
		}
		return rows, seq, err
	default:
		events, rows, err := store.ParseEventsCSV(bytes.NewReader(data), checkEventRow)
		for _, ev := range events {
			seq.Events = max(seq.Events, ev.ID)
		}
		return rows, seq, err
	}
}

// splitBulk splits a checked CSV file into one file per shard, each with
// the header and the rows that shard owns.
func (s *Server) splitBulk(r *http.Request, kind bulkKind, data []byte) (map[string]*bytes.Buffer, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	reader := csv.NewReader(bytes.NewReader(data))
	reader.FieldsPerRecord = -1
	records, err := reader.ReadAll()
	if err != nil || len(records) == 0 {
		return nil, fmt.Errorf("read checked csv again: %w", err)
	}
	header := records[0]
	col := func(name string) int {
		for i, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), name) {
				return i
			}
		}
		return -1
	}
	cell := func(rec []string, i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return rec[i]
	}

	var ownerOf func(rec []string) string
	switch kind {
	case bulkUsers:
		name := col("username")
		ownerOf = func(rec []string) string { return s.cluster.ring.OwnerName(userKey(cell(rec, name))) }
	case bulkURLs:
		code := col("short_code")
		ownerOf = func(rec []string) string { return s.cluster.ring.OwnerName(cell(rec, code)) }
	default:
		holders, err := s.urlHolders(r, records[1:], col("url_id"))
		if err != nil {
			return nil, err
		}
		urlCol, typeCol, detailsCol := col("url_id"), col("event_type"), col("details")
		ownerOf = func(rec []string) string {
			id, _ := strconv.ParseUint(cell(rec, urlCol), 10, 64)
			if peer, ok := holders[id]; ok {
				return peer
			}
			return s.homeOfMissingURL(id, cell(rec, typeCol), cell(rec, detailsCol))
		}
	}

	parts := make(map[string]*bytes.Buffer)
	writers := make(map[string]*csv.Writer)
	for _, rec := range records[1:] {
		peer := ownerOf(rec)
		cw, ok := writers[peer]
		if !ok {
			parts[peer] = &bytes.Buffer{}
			cw = csv.NewWriter(parts[peer])
			cw.Write(header)
			writers[peer] = cw
		}
		cw.Write(rec)
	}
	for _, cw := range writers {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// urlHolders returns the shard of every link that the events name and
// some shard holds.
func (s *Server) urlHolders(r *http.Request, records [][]string, urlCol int) (map[uint64]string, error) {
	seen := make(map[uint64]bool)
	var ids []uint64
	for _, rec := range records {
		if urlCol >= len(rec) {
			continue
		}
		id, err := strconv.ParseUint(rec[urlCol], 10, 64)
		if err == nil && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	body, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	holders := make(map[uint64]string, len(ids))
	for _, peer := range s.cluster.ring.Peers() {
		resp, err := s.call(r.Context(), peer, http.MethodPost, internalPrefix+"urls/has", authHeader(r), body)
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, &peerStatusError{resp: resp}
		}
		var found []uint64
		if err := json.Unmarshal(resp.Body, &found); err != nil {
			return nil, err
		}
		for _, id := range found {
			holders[id] = peer
		}
	}
	return holders, nil
}

// homeOfMissingURL picks the shard of an event whose link no shard holds.
// A created event goes to the owner of the code it names, which keeps that
// code reserved where it would be drawn. Any other event goes to the shard
// whose id range holds the link's id.
func (s *Server) homeOfMissingURL(urlID uint64, eventType, details string) string {
	if eventType == store.EventCreated {
		var d struct {
			ShortCode string `json:"short_code"`
		}
		if json.Unmarshal([]byte(details), &d) == nil && store.ValidCode(d.ShortCode) {
			return s.cluster.ring.OwnerName(d.ShortCode)
		}
	}
	peers := s.cluster.ring.Peers()
	if i := cluster.RangeShard(urlID); i < len(peers) {
		return peers[i]
	}
	return peers[0]
}

// sendBulkParts imports each shard's part of a file at once.
func (s *Server) sendBulkParts(r *http.Request, kind bulkKind, parts map[string]*bytes.Buffer) error {
	header := authHeader(r)
	header.Set("Content-Type", "text/csv")
	errs := make(chan error, len(parts))
	var wg sync.WaitGroup
	for peer, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.call(r.Context(), peer, http.MethodPost, kind.path(), header, part.Bytes())
			switch {
			case err != nil:
				errs <- err
			case resp.Status != http.StatusCreated:
				errs <- &peerStatusError{resp: resp}
			}
		}()
	}
	wg.Wait()
	close(errs)
	// NOTE: the file is checked as a whole first, but a shard can still
	// fail its part, because it is down or a link it has holds a code of
	// the file. The other shards' parts stay written, and importing the
	// file again completes the import.
	return <-errs
}

// reserveEverywhere makes every shard draw new ids above seq where seq
// lies in its range.
func (s *Server) reserveEverywhere(r *http.Request, seq store.Sequences) error {
	body, err := json.Marshal(seq)
	if err != nil {
		return err
	}
	for _, peer := range s.cluster.ring.Peers() {
		resp, err := s.call(r.Context(), peer, http.MethodPost, internalPrefix+"ids", authHeader(r), body)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK {
			return &peerStatusError{resp: resp}
		}
	}
	return nil
}
