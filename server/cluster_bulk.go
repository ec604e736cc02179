package server

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
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

// noun is the plural of the record type, as in the API's paths.
func (k bulkKind) noun() string {
	return [...]string{"users", "urls", "events"}[k]
}

// parseBulkKind returns the bulkKind of a noun.
func parseBulkKind(noun string) (bulkKind, bool) {
	for _, k := range []bulkKind{bulkUsers, bulkURLs, bulkEvents} {
		if k.noun() == noun {
			return k, true
		}
	}
	return 0, false
}

// routeBulk returns the handler of a bulk import in a cluster. The whole
// file is checked here as a single server checks it. Each row then goes to
// the shard that owns it: users by username, links by short code, events
// with their link. A record whose id another shard already holds moves to
// the new shard, because a single server replaces a record by id. Every
// shard checks its part against its data before any shard writes, so a
// conflict leaves every shard as it was. Every shard then reserves the
// highest imported ids, so that no shard draws an id that an imported
// record took elsewhere.
func (s *Server) routeBulk(kind bulkKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		data, err := s.readBulkCSV(w, r)
		if err != nil {
			return err
		}
		checked, err := checkBulk(kind, data)
		if err != nil {
			return err
		}
		holders, err := s.idHolders(r, kind, checked.ids)
		if err != nil {
			return err
		}
		plan, err := s.splitBulk(r, kind, data, holders)
		if err != nil {
			return err
		}
		if err := s.checkBulkParts(r, kind, plan.parts); err != nil {
			return err
		}
		if err := s.commitBulk(r, kind, plan, checked); err != nil {
			return err
		}
		if err := s.reserveEverywhere(r, checked.seq); err != nil {
			return err
		}
		s.writeJSON(w, r, http.StatusCreated, bulkResult{Imported: checked.rows, Count: checked.rows})
		return nil
	}
}

// checkedBulk is a bulk file that passed the checks of a single server.
type checkedBulk struct {
	rows int
	seq  store.Sequences
	ids  []uint64

	// urls are the links of a urls file by id.
	urls map[uint64]store.URL
}

// checkBulk parses the file with the rules of a single server and returns
// its number of data rows, its ids and its highest ids.
func checkBulk(kind bulkKind, data []byte) (checkedBulk, error) {
	var c checkedBulk
	var err error
	switch kind {
	case bulkUsers:
		var users []store.User
		users, c.rows, err = store.ParseUsersCSV(bytes.NewReader(data), checkUserRow)
		for _, u := range users {
			c.seq.Users = max(c.seq.Users, u.ID)
			c.ids = append(c.ids, u.ID)
		}
	case bulkURLs:
		var urls []store.URL
		urls, c.rows, err = store.ParseURLsCSV(bytes.NewReader(data), checkURLRow)
		c.urls = make(map[uint64]store.URL, len(urls))
		for _, u := range urls {
			c.seq.URLs = max(c.seq.URLs, u.ID)
			c.ids = append(c.ids, u.ID)
			c.urls[u.ID] = u
		}
	default:
		var events []store.Event
		events, c.rows, err = store.ParseEventsCSV(bytes.NewReader(data), checkEventRow)
		for _, ev := range events {
			c.seq.Events = max(c.seq.Events, ev.ID)
			c.ids = append(c.ids, ev.ID)
		}
	}
	return c, err
}

// checkBulkPart parses one shard's part of a bulk file and returns the
// error that importing it would give, without writing.
func checkBulkPart(st *store.Store, kind bulkKind, r io.Reader) (int, error) {
	switch kind {
	case bulkUsers:
		users, rows, err := store.ParseUsersCSV(r, checkUserRow)
		if err != nil {
			return 0, err
		}
		return rows, st.CheckImportUsers(users)
	case bulkURLs:
		urls, rows, err := store.ParseURLsCSV(r, checkURLRow)
		if err != nil {
			return 0, err
		}
		return rows, st.CheckImportURLs(urls)
	default:
		events, rows, err := store.ParseEventsCSV(r, checkEventRow)
		if err != nil {
			return 0, err
		}
		return rows, st.CheckImportEvents(events)
	}
}

// idHolders returns, for each id of a bulk file that some shard already
// holds, the shards that hold it.
func (s *Server) idHolders(r *http.Request, kind bulkKind, ids []uint64) (map[uint64][]string, error) {
	body, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	uri := internalPrefix + kind.noun() + "/has"
	holders := make(map[uint64][]string)
	for _, peer := range s.cluster.ring.Peers() {
		resp, err := s.call(r.Context(), peer, http.MethodPost, uri, authHeader(r), body)
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
			holders[id] = append(holders[id], peer)
		}
	}
	return holders, nil
}

// bulkPlan is the placement of the rows of a checked bulk file on the shards.
type bulkPlan struct {
	// parts is the CSV file of each shard, with the header and the rows
	// that shard gets.
	parts map[string]*bytes.Buffer

	// moves are, per shard, the ids of users or links that shard holds
	// and that the file places on another shard, and target names that
	// shard by id.
	moves  map[string][]uint64
	target map[uint64]string
}

// splitBulk splits a checked CSV file into one file per shard. Of rows
// that repeat an id, only the last is kept, as a single server keeps it.
// A user or link goes to the owner of its username or code, and moves
// there from any other shard that holds its id. An event goes to the
// shard that holds its id, or else to the shard of its link.
func (s *Server) splitBulk(r *http.Request, kind bulkKind, data []byte, holders map[uint64][]string) (*bulkPlan, error) {
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
	idCol := col("id")
	recordID := func(rec []string) uint64 {
		id, _ := strconv.ParseUint(cell(rec, idCol), 10, 64)
		return id
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
		links, err := s.urlHolders(r, records[1:], col("url_id"))
		if err != nil {
			return nil, err
		}
		urlCol, typeCol, detailsCol := col("url_id"), col("event_type"), col("details")
		ownerOf = func(rec []string) string {
			if shards := holders[recordID(rec)]; len(shards) > 0 {
				return shards[0]
			}
			id, _ := strconv.ParseUint(cell(rec, urlCol), 10, 64)
			if peer, ok := links[id]; ok {
				return peer
			}
			return s.homeOfMissingURL(id, cell(rec, typeCol), cell(rec, detailsCol))
		}
	}

	// The last row of an id replaces the earlier ones.
	last := make(map[uint64]int, len(records))
	for i, rec := range records[1:] {
		last[recordID(rec)] = i
	}

	plan := &bulkPlan{
		parts:  make(map[string]*bytes.Buffer),
		moves:  make(map[string][]uint64),
		target: make(map[uint64]string),
	}
	writers := make(map[string]*csv.Writer)
	for i, rec := range records[1:] {
		id := recordID(rec)
		if last[id] != i {
			continue
		}
		peer := ownerOf(rec)
		if kind != bulkEvents {
			for _, holder := range holders[id] {
				if holder != peer {
					plan.moves[holder] = append(plan.moves[holder], id)
					plan.target[id] = peer
				}
			}
		}
		cw, ok := writers[peer]
		if !ok {
			plan.parts[peer] = &bytes.Buffer{}
			cw = csv.NewWriter(plan.parts[peer])
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
	return plan, nil
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

// checkBulkParts has every shard check its part against its data at
// once, writing nothing. It returns the first failure, except when
// several shards find rows that conflict with their records: it then
// returns the rows of all of them, as one server would.
func (s *Server) checkBulkParts(r *http.Request, kind bulkKind, parts map[string]*bytes.Buffer) error {
	header := authHeader(r)
	header.Set("Content-Type", "text/csv")
	uri := internalPrefix + "bulk/check?kind=" + kind.noun()
	var failures []error
	for _, res := range s.callEach(r, parts, http.MethodPost, uri, header, http.StatusOK) {
		if res.err != nil {
			failures = append(failures, res.err)
		}
	}
	if len(failures) == 0 {
		return nil
	}
	if merged := mergeConflicts(failures); merged != nil {
		return merged
	}
	return failures[0]
}

// mergeConflicts returns the conflicting rows of two or more shards as one
// *store.ConflictsError, sorted by id, or nil unless every failure is a
// shard's 422 that names rows by id.
func mergeConflicts(failures []error) error {
	if len(failures) < 2 {
		return nil
	}
	var rows []*store.ImportError
	total := 0
	for _, failure := range failures {
		statusErr, ok := errors.AsType[*peerStatusError](failure)
		if !ok || statusErr.resp.Status != http.StatusUnprocessableEntity {
			return nil
		}
		var body errorBody
		if err := json.Unmarshal(statusErr.resp.Body, &body); err != nil || len(body.Rows) == 0 {
			return nil
		}
		for _, row := range body.Rows {
			if row.ID == 0 || row.Line != 0 {
				return nil
			}
			rows = append(rows, &store.ImportError{ID: row.ID, Err: fmt.Errorf("%w: %s", store.ErrConflict, row.Reason)})
		}
		// The rows list at most the first 50; the message has the count.
		n := len(body.Rows)
		if _, err := fmt.Sscanf(body.Error, conflictsMessage, &n); err != nil {
			n = len(body.Rows)
		}
		total += n
	}
	slices.SortFunc(rows, func(a, b *store.ImportError) int { return cmp.Compare(a.ID, b.ID) })
	return &store.ConflictsError{Rows: rows[:min(len(rows), store.MaxListedConflicts)], Total: total}
}

// importParts posts each shard its part of a CSV file at once, and
// returns wrote with the shards that imported theirs appended. A failure
// of any shard is a *partialImportError naming all shards that wrote.
func (s *Server) importParts(r *http.Request, parts map[string]*bytes.Buffer, path string, wrote []string) ([]string, error) {
	header := authHeader(r)
	header.Set("Content-Type", "text/csv")
	var failure error
	for _, res := range s.callEach(r, parts, http.MethodPost, path, header, http.StatusCreated) {
		if res.err != nil {
			failure = cmp.Or(failure, res.err)
			continue
		}
		wrote = append(wrote, res.peer)
	}
	if failure != nil {
		return wrote, newPartialImport(wrote, failure)
	}
	return wrote, nil
}

// commitBulk writes a checked plan: moved links first bring their events
// and click counts to their new shard, then every shard imports its part,
// then the shards that held moved records remove them. A failure after a
// shard wrote is a *partialImportError naming the shards that wrote.
func (s *Server) commitBulk(r *http.Request, kind bulkKind, plan *bulkPlan, checked checkedBulk) error {
	var wrote []string
	if kind == bulkURLs {
		for holder, ids := range plan.moves {
			peers, err := s.carryLinks(r, holder, ids, plan.target, checked.urls)
			wrote = append(wrote, peers...)
			if err != nil {
				return newPartialImport(wrote, err)
			}
		}
	}

	wrote, err := s.importParts(r, plan.parts, kind.path(), wrote)
	if err != nil {
		return err
	}

	remove := internalPrefix + kind.noun() + "/remove"
	if kind == bulkURLs {
		remove = internalPrefix + "links/remove"
	}
	for holder, ids := range plan.moves {
		if _, err := s.callJSON(r, holder, remove, ids); err != nil {
			return newPartialImport(wrote, err)
		}
	}
	return nil
}

// carryLinks copies the links of ids from holder to the shards of target,
// with the fields of the file's rows in urls and their events and click
// counts from holder. It returns the shards that it wrote to.
func (s *Server) carryLinks(r *http.Request, holder string, ids []uint64, target map[uint64]string, urls map[uint64]store.URL) ([]string, error) {
	resp, err := s.callJSON(r, holder, internalPrefix+"links/get", ids)
	if err != nil {
		return nil, err
	}
	var links []store.Link
	if err := json.Unmarshal(resp.Body, &links); err != nil {
		return nil, err
	}
	byShard := make(map[string][]store.Link)
	for _, l := range links {
		u := urls[l.URL.ID]
		u.ClickCount = l.URL.ClickCount
		l.URL = u
		byShard[target[u.ID]] = append(byShard[target[u.ID]], l)
	}
	var wrote []string
	for peer, batch := range byShard {
		if _, err := s.callJSON(r, peer, internalPrefix+"links/import", batch); err != nil {
			return wrote, err
		}
		wrote = append(wrote, peer)
	}
	return wrote, nil
}

// callJSON posts v as JSON to an internal route of peer and returns the
// response, which must be 200.
func (s *Server) callJSON(r *http.Request, peer, uri string, v any) (*cluster.Response, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	header := authHeader(r)
	header.Set("Content-Type", "application/json")
	resp, err := s.call(r.Context(), peer, http.MethodPost, uri, header, body)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, &peerStatusError{resp: resp}
	}
	return resp, nil
}

// callEach sends each shard of parts its body at once and returns one
// result per shard; a status other than want is a *peerStatusError.
func (s *Server) callEach(r *http.Request, parts map[string]*bytes.Buffer, method, uri string, header http.Header, want int) []peerResult {
	results := make(chan peerResult, len(parts))
	var wg sync.WaitGroup
	for peer, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.call(r.Context(), peer, method, uri, header, part.Bytes())
			if err == nil && resp.Status != want {
				err = &peerStatusError{resp: resp}
			}
			results <- peerResult{peer: peer, resp: resp, err: err}
		}()
	}
	wg.Wait()
	close(results)
	var out []peerResult
	for res := range results {
		out = append(out, res)
	}
	return out
}

// partialImportError is a bulk import that failed after some shards wrote
// their parts. Importing the file again completes it, because imports
// replace records by id.
type partialImportError struct {
	wrote []string
	err   error
}

// newPartialImport returns err as it is when no shard wrote, because the
// import then changed nothing.
func newPartialImport(wrote []string, err error) error {
	if len(wrote) == 0 {
		return err
	}
	slices.Sort(wrote)
	return &partialImportError{wrote: slices.Compact(wrote), err: err}
}

func (e *partialImportError) Error() string {
	return fmt.Sprintf("the import failed after shards %s wrote their parts: %v", strings.Join(e.wrote, ", "), e.err)
}

func (e *partialImportError) Unwrap() error { return e.err }

// partialImportBody is the body of a bulk import that some shards wrote.
type partialImportBody struct {
	Error          string   `json:"error"`
	Shard          string   `json:"shard,omitempty"`
	ImportedShards []string `json:"imported_shards"`
}

// writePartialImport sends a bulk import that failed after some shards
// wrote, naming them. The status is that of the failure: 503 for a shard
// that is down, or the failing shard's own status.
func (s *Server) writePartialImport(w http.ResponseWriter, r *http.Request, e *partialImportError) {
	status := http.StatusBadGateway
	body := partialImportBody{ImportedShards: e.wrote}
	reason := "see the server log"
	var statusErr *peerStatusError
	var peerErr *cluster.PeerError
	switch {
	case errors.As(e.err, &peerErr):
		status, body.Shard, reason = http.StatusServiceUnavailable, peerErr.Peer, "it is not reachable"
		w.Header().Set("Retry-After", retryAfterSeconds)
	case errors.As(e.err, &statusErr):
		status = statusErr.resp.Status
		body.Shard = statusErr.resp.Header.Get(cluster.HeaderInstance)
		var msg errorBody
		if json.Unmarshal(statusErr.resp.Body, &msg) == nil && msg.Error != "" {
			reason = msg.Error
		}
	}
	s.log.Error("bulk import written in part", "error", e.err, "imported_shards", strings.Join(e.wrote, ","),
		"path", r.URL.Path)
	body.Error = fmt.Sprintf("the import is incomplete: shards %s imported their rows, then shard %s failed (%s); import the same file again to complete it",
		strings.Join(e.wrote, ", "), cmp.Or(body.Shard, "?"), reason)
	s.writeJSON(w, r, status, body)
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
