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
// cluster.HeaderHop, and need the API key like the rest of the API.
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
		"POST urls/has":          s.internalHasURLs,
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

func (s *Server) internalSequences(w http.ResponseWriter, r *http.Request) error {
	seq, err := s.store.Sequences()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, seq)
	return nil
}

func (s *Server) internalReserveIDs(w http.ResponseWriter, r *http.Request) error {
	var seq store.Sequences
	if err := s.readInternal(w, r, &seq); err != nil {
		return err
	}
	if err := s.store.ReserveIDs(seq); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, seq)
	return nil
}

func (s *Server) internalUserUnique(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	except, _ := strconv.ParseUint(q.Get("except"), 10, 64)
	if err := s.store.CheckUserUnique(q.Get("username"), q.Get("email"), except); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"unique": true})
	return nil
}

func (s *Server) internalImportUsers(w http.ResponseWriter, r *http.Request) error {
	var users []store.User
	if err := s.readInternal(w, r, &users); err != nil {
		return err
	}
	if err := s.store.ImportUsers(users); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"users": len(users)})
	return nil
}

func (s *Server) internalRemoveUsers(w http.ResponseWriter, r *http.Request) error {
	var ids []uint64
	if err := s.readInternal(w, r, &ids); err != nil {
		return err
	}
	if err := s.store.RemoveUsers(ids); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"users": len(ids)})
	return nil
}

func (s *Server) internalDisown(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseUint(r.URL.Query().Get("user_id"), 10, 64)
	if err != nil || id == 0 {
		return invalidField("user_id", "user_id must be a positive integer id")
	}
	codes, err := s.store.DisownURLs(id)
	if err != nil {
		return err
	}
	for _, code := range codes {
		s.cache.Remove(code)
	}
	writeJSON(w, http.StatusOK, map[string]int{"urls": len(codes)})
	return nil
}

func (s *Server) internalHasURLs(w http.ResponseWriter, r *http.Request) error {
	var ids []uint64
	if err := s.readInternal(w, r, &ids); err != nil {
		return err
	}
	found, err := s.store.HasURLs(ids)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, found)
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
// counts and events include every click answered so far.
func (s *Server) internalExportLinks(w http.ResponseWriter, r *http.Request) error {
	ring, err := s.ringParam(r)
	if err != nil {
		return err
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	s.clicks.flush(r.Context())
	links, next, err := s.store.ExportLinks(after, exportBatch, func(code string) bool {
		return ring.OwnerName(code) != s.cluster.self
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, exportJSON{Links: links, Next: next})
	return nil
}

func (s *Server) internalImportLinks(w http.ResponseWriter, r *http.Request) error {
	var links []store.Link
	if err := s.readInternal(w, r, &links); err != nil {
		return err
	}
	if err := s.store.ImportLinks(links); err != nil {
		return err
	}
	for _, l := range links {
		s.cache.Remove(l.URL.ShortCode)
		s.limits.forget(l.URL.ID)
	}
	writeJSON(w, http.StatusOK, map[string]int{"links": len(links)})
	return nil
}

func (s *Server) internalRemoveLinks(w http.ResponseWriter, r *http.Request) error {
	var ids []uint64
	if err := s.readInternal(w, r, &ids); err != nil {
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
	writeJSON(w, http.StatusOK, map[string]int{"links": len(codes)})
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
	writeJSON(w, http.StatusOK, codes)
	return nil
}

func (s *Server) internalReserveCodes(w http.ResponseWriter, r *http.Request) error {
	var codes map[string]uint64
	if err := s.readInternal(w, r, &codes); err != nil {
		return err
	}
	if err := s.store.ReserveCodes(codes); err != nil {
		return err
	}
	for code := range codes {
		s.cache.Remove(code)
	}
	writeJSON(w, http.StatusOK, map[string]int{"codes": len(codes)})
	return nil
}

func (s *Server) internalRemoveTombstones(w http.ResponseWriter, r *http.Request) error {
	var codes []string
	if err := s.readInternal(w, r, &codes); err != nil {
		return err
	}
	if err := s.store.RemoveTombstones(codes); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"codes": len(codes)})
	return nil
}

// ringParam builds the ring of the comma-separated peers parameter.
func (s *Server) ringParam(r *http.Request) (*cluster.Ring, error) {
	peers, err := cluster.ParsePeers(r.URL.Query().Get("peers"))
	if err != nil {
		return nil, invalidField("peers", "%s", err.Error())
	}
	return cluster.NewRing(peers)
}
