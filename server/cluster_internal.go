package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/store"
)

// internalPrefix starts the paths that shards and "linkbolt rebalance"
// call on each other. They are served only on requests with
// cluster.HeaderHop and the cluster secret, and need the API key like the
// rest of the API. Any other request gets 404.
const internalPrefix = "/_cluster/"

// exportBatch is the largest number of links of one export response.
const exportBatch = 500

// serveInternal serves the internal routes of a shard.
func (s *Server) serveInternal(w http.ResponseWriter, r *http.Request) {
	routes := map[string]handlerFunc{
		"GET ids":                s.internalSequences,
		"POST ids":               s.internalReserveIDs,
		"GET users/unique":       s.internalUserUnique,
		"POST users/import":      s.internalImportUsers,
		"POST users/remove":      s.internalRemoveUsers,
		"POST disown":            s.internalDisown,
		"POST urls/has":          s.internalHas(s.store.HasURLs),
		"POST users/has":         s.internalHas(s.store.HasUsers),
		"POST events/has":        s.internalHas(s.store.HasEvents),
		"POST links/get":         s.internalGetLinks,
		"POST bulk/check":        s.internalCheckBulk,
		"GET links/export":       s.internalExportLinks,
		"POST links/import":      s.internalImportLinks,
		"POST links/remove":      s.internalRemoveLinks,
		"GET tombstones":         s.internalTombstones,
		"POST tombstones":        s.internalReserveCodes,
		"POST tombstones/remove": s.internalRemoveTombstones,
	}
	h, ok := routes[r.Method+" "+r.URL.Path[len(internalPrefix):]]
	if !ok {
		s.writeError(w, r, notFound("no internal route for %s %s", r.Method, truncate(r.URL.Path, maxEcho)))
		return
	}
	if err := s.authorize(h)(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// readInternal decodes a JSON body of an internal route into v.
func (s *Server) readInternal(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, s.opts.MaxBulkBytes)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

// checkInternalIDs rejects an id list with an id outside 1 to store.MaxID.
// readInternalIDs reads the JSON list of ids of an internal request and
// checks that each is a valid id.
func (s *Server) readInternalIDs(w http.ResponseWriter, r *http.Request) ([]uint64, error) {
	var ids []uint64
	if err := s.readInternal(w, r, &ids); err != nil {
		return nil, err
	}
	return ids, checkInternalIDs(ids)
}

func checkInternalIDs(ids []uint64) error {
	for _, id := range ids {
		if err := checkInternalID(id); err != nil {
			return err
		}
	}
	return nil
}

func checkInternalID(id uint64) error {
	if id == 0 || id > store.MaxID {
		return badRequest("invalid id %d: ids are integers from 1 to %d", id, uint64(store.MaxID))
	}
	return nil
}

// checkInternalCode rejects a short code that no link can have.
func checkInternalCode(code string) error {
	if !store.ValidCode(code) || reservedCode(code) {
		return badRequest("invalid short_code %q: use 1 to 64 characters of A-Z, a-z, 0-9, _ and - that are not a path of this API",
			truncate(code, maxEcho))
	}
	return nil
}

// checkInternalLink applies the rules of a bulk import to a link handed
// over by another shard: the URL, each event, and events that belong to
// that URL.
func checkInternalLink(l *store.Link) error {
	u := &l.URL
	if err := checkInternalID(u.ID); err != nil {
		return err
	}
	if err := checkInternalCode(u.ShortCode); err != nil {
		return err
	}
	if err := checkURLRow(u); err != nil {
		return badRequest("invalid url %d: %v", u.ID, err)
	}
	for i := range l.Events {
		ev := &l.Events[i]
		if err := checkInternalID(ev.ID); err != nil {
			return err
		}
		if ev.URLID != u.ID {
			return badRequest("invalid event %d: its url_id %d is not the id of its link %d", ev.ID, ev.URLID, u.ID)
		}
		if err := checkEventRow(ev); err != nil {
			return badRequest("invalid event %d: %v", ev.ID, err)
		}
	}
	return nil
}

// queryID parses an optional id parameter; a missing one is 0.
func queryID(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id > store.MaxID {
		return 0, badRequest("invalid %s %q: use an integer from 0 to %d", name, truncate(v, maxEcho), uint64(store.MaxID))
	}
	return id, nil
}

func (s *Server) internalSequences(w http.ResponseWriter, r *http.Request) error {
	seq, err := s.store.Sequences()
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, seq)
	return nil
}

func (s *Server) internalReserveIDs(w http.ResponseWriter, r *http.Request) error {
	var seq store.Sequences
	if err := s.readInternal(w, r, &seq); err != nil {
		return err
	}
	for _, id := range []uint64{seq.Users, seq.URLs, seq.Events} {
		if id > store.MaxID {
			return badRequest("invalid sequence %d: ids are integers from 0 to %d", id, uint64(store.MaxID))
		}
	}
	if err := s.store.ReserveIDs(seq); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, seq)
	return nil
}

func (s *Server) internalUserUnique(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	except, err := queryID(r, "except")
	if err != nil {
		return err
	}
	if q.Get("username") == "" && q.Get("email") == "" {
		return badRequest("missing username and email: give at least one to check")
	}
	if err := s.store.CheckUserUnique(q.Get("username"), q.Get("email"), except); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, map[string]bool{"unique": true})
	return nil
}

func (s *Server) internalImportUsers(w http.ResponseWriter, r *http.Request) error {
	var users []store.User
	if err := s.readInternal(w, r, &users); err != nil {
		return err
	}
	for i := range users {
		if err := checkInternalID(users[i].ID); err != nil {
			return err
		}
		if err := checkUserRow(&users[i]); err != nil {
			return badRequest("invalid user %d: %v", users[i].ID, err)
		}
	}
	if err := s.store.ImportUsers(users); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"users": len(users)})
	return nil
}

func (s *Server) internalRemoveUsers(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.readInternalIDs(w, r)
	if err != nil {
		return err
	}
	if err := s.store.RemoveUsers(ids); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"users": len(ids)})
	return nil
}

func (s *Server) internalDisown(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseUint(r.URL.Query().Get("user_id"), 10, 64)
	if err != nil || id == 0 || id > store.MaxID {
		return badRequest("invalid user_id %q: use an integer from 1 to %d", truncate(r.URL.Query().Get("user_id"), maxEcho), uint64(store.MaxID))
	}
	codes, err := s.store.DisownURLs(id)
	if err != nil {
		return err
	}
	for _, code := range codes {
		s.cache.Remove(code)
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"urls": len(codes)})
	return nil
}

// internalHas returns a handler that returns the ids of a list that has
// reports as held here.
func (s *Server) internalHas(has func([]uint64) ([]uint64, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ids, err := s.readInternalIDs(w, r)
		if err != nil {
			return err
		}
		found, err := has(ids)
		if err != nil {
			return err
		}
		s.writeJSON(w, r, http.StatusOK, found)
		return nil
	}
}

// internalGetLinks returns the links of a list of ids with their events
// and click counts, after writing queued clicks.
func (s *Server) internalGetLinks(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.readInternalIDs(w, r)
	if err != nil {
		return err
	}
	s.clicks.flush(r.Context())
	links, err := s.store.GetLinks(ids)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, links)
	return nil
}

// internalCheckBulk checks a CSV part of a bulk import, of the kind named by
// the kind parameter, against this shard's data, and writes nothing. It
// responds with 200 and the number of rows, or the error the import would
// give.
func (s *Server) internalCheckBulk(w http.ResponseWriter, r *http.Request) error {
	kind, ok := parseBulkKind(r.URL.Query().Get("kind"))
	if !ok {
		return badRequest("invalid kind %q: use users, urls or events", truncate(r.URL.Query().Get("kind"), maxEcho))
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBulkBytes)
	body := &bodyReader{r: r.Body}
	rows, err := checkBulkPart(s.store, kind, body)
	if err != nil {
		return body.explain(err)
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"rows": rows})
	return nil
}

// exportJSON is one batch of links that belong elsewhere under a new peer
// list.
type exportJSON struct {
	Links []store.Link `json:"links"`
	Next  uint64       `json:"next"`
}

// internalExportLinks returns the links of this shard whose owner under
// the peer list of the peers parameter is another shard, in batches from
// the id after "after". Queued clicks are written first, so that the
// counts and events include every click redirected so far.
func (s *Server) internalExportLinks(w http.ResponseWriter, r *http.Request) error {
	ring, err := s.ringParam(r)
	if err != nil {
		return err
	}
	after, err := queryID(r, "after")
	if err != nil {
		return err
	}
	s.clicks.flush(r.Context())
	links, next, err := s.store.ExportLinks(after, exportBatch, func(code string) bool {
		return ring.OwnerName(code) != s.cluster.self
	})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, exportJSON{Links: links, Next: next})
	return nil
}

func (s *Server) internalImportLinks(w http.ResponseWriter, r *http.Request) error {
	var links []store.Link
	if err := s.readInternal(w, r, &links); err != nil {
		return err
	}
	for i := range links {
		if err := checkInternalLink(&links[i]); err != nil {
			return err
		}
	}
	if err := s.store.ImportLinks(links); err != nil {
		return err
	}
	for _, l := range links {
		s.cache.Remove(l.URL.ShortCode)
		s.limits.forget(l.URL.ID)
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"links": len(links)})
	return nil
}

func (s *Server) internalRemoveLinks(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.readInternalIDs(w, r)
	if err != nil {
		return err
	}
	s.clicks.flush(r.Context())
	codes, err := s.store.RemoveLinks(ids)
	if err != nil {
		return err
	}
	for _, code := range codes {
		s.cache.Remove(code)
	}
	for _, id := range ids {
		s.limits.forget(id)
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"links": len(codes)})
	return nil
}

func (s *Server) internalTombstones(w http.ResponseWriter, r *http.Request) error {
	ring, err := s.ringParam(r)
	if err != nil {
		return err
	}
	codes, err := s.store.Tombstones(func(code string) bool { return ring.OwnerName(code) != s.cluster.self })
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, codes)
	return nil
}

func (s *Server) internalReserveCodes(w http.ResponseWriter, r *http.Request) error {
	var codes map[string]uint64
	if err := s.readInternal(w, r, &codes); err != nil {
		return err
	}
	for code, id := range codes {
		if err := checkInternalCode(code); err != nil {
			return err
		}
		if err := checkInternalID(id); err != nil {
			return err
		}
	}
	if err := s.store.ReserveCodes(codes); err != nil {
		return err
	}
	for code := range codes {
		s.cache.Remove(code)
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"codes": len(codes)})
	return nil
}

func (s *Server) internalRemoveTombstones(w http.ResponseWriter, r *http.Request) error {
	var codes []string
	if err := s.readInternal(w, r, &codes); err != nil {
		return err
	}
	for _, code := range codes {
		if err := checkInternalCode(code); err != nil {
			return err
		}
	}
	if err := s.store.RemoveTombstones(codes); err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, map[string]int{"codes": len(codes)})
	return nil
}

// ringParam builds the ring of the comma-separated peers parameter.
func (s *Server) ringParam(r *http.Request) (*cluster.Ring, error) {
	peers, err := cluster.ParsePeers(r.URL.Query().Get("peers"))
	if err != nil {
		return nil, badRequest("invalid peers parameter: %v", err)
	}
	return cluster.NewRing(peers)
}
