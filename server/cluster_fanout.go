package server

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/store"
)

// fanOutList serves a list request from every shard. Each shard returns
// its first page*per_page matches in id order, and the merge keeps the
// requested page of all of them. X-Total-Count is the sum of the shards'
// counts. A shard that is down fails the whole list with 503.
func (s *Server) fanOutList(w http.ResponseWriter, r *http.Request) error {
	return s.fanOutPages(w, r, s.pageByID)
}

// mergePages is the merge step of fanOutPages. It returns page p of the
// records of every shard (pages, indexed like the ring's peers) and the
// number of repeated records it dropped. Each shard's records come in the
// order that the merge keeps.
type mergePages func(pages [][]json.RawMessage, p store.Page) ([]json.RawMessage, uint64, error)

// fanOutPages serves a list request from the first page*per_page records
// of every shard, which merge turns into the requested page. X-Total-Count
// is the sum of the shards' counts less the copies that merge dropped. A
// shard that is down fails the whole list with 503.
func (s *Server) fanOutPages(w http.ResponseWriter, r *http.Request, merge mergePages) error {
	// This shard serves the request as it came first, so that a bad page
	// or filter gets exactly the error of a single server.
	local, err := s.call(r.Context(), s.cluster.self, r.Method, r.URL.RequestURI(), authHeader(r), nil)
	if err != nil {
		return err
	}
	if local.Status != http.StatusOK {
		return &peerStatusError{resp: local}
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}

	need := p.Page * p.PerPage
	peers := s.cluster.ring.Peers()
	pages := make([][]json.RawMessage, len(peers))
	totals := make([]uint64, len(peers))
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, peer := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pages[i], totals[i], errs[i] = s.fetchFirst(r, peer, need)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	var total uint64
	for i := range peers {
		total += totals[i]
	}
	items, copies, err := merge(pages, p)
	if err != nil {
		return err
	}
	// NOTE: copies counts only the repeated records among those fetched.
	// X-Total-Count can still count a copy twice when it lies beyond
	// page × per_page on both shards, as docs/cluster.md states.
	s.writeList(w, r, p, total-min(copies, total), items)
	return nil
}

// fetchFirst returns the first need matches of a list on one shard, in
// pages of at most maxPerPage, and the shard's total.
func (s *Server) fetchFirst(r *http.Request, peer string, need int) ([]json.RawMessage, uint64, error) {
	q := r.URL.Query()
	perPage := min(need, maxPerPage)
	var items []json.RawMessage
	var total uint64
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", strconv.Itoa(perPage))
		resp, err := s.call(r.Context(), peer, http.MethodGet, r.URL.Path+"?"+q.Encode(), authHeader(r), nil)
		if err != nil {
			return nil, 0, err
		}
		if resp.Status != http.StatusOK {
			return nil, 0, &peerStatusError{resp: resp}
		}
		var batch []json.RawMessage
		if err := json.Unmarshal(resp.Body, &batch); err != nil {
			return nil, 0, err
		}
		total, _ = strconv.ParseUint(resp.Header.Get("X-Total-Count"), 10, 64)
		items = append(items, batch...)
		if len(batch) < perPage || len(items) >= need || uint64(len(items)) >= total {
			return items, total, nil
		}
	}
}

// listRecord is one record of a shard's list page, with the fields that
// decide which shard owns it.
type listRecord struct {
	id    uint64
	owned bool
	raw   json.RawMessage
}

// pageByID merges the records of every shard (pages, indexed like the
// ring's peers) by id and returns page p and the number of repeated ids
// dropped. An id on two shards, a record copied by a rebalance that has
// not finished, is listed once: the copy on the ring owner of its code or
// username wins.
func (s *Server) pageByID(pages [][]json.RawMessage, p store.Page) ([]json.RawMessage, uint64, error) {
	var records []listRecord
	for shard, page := range pages {
		for _, raw := range page {
			var head struct {
				ID        uint64  `json:"id"`
				ShortCode *string `json:"short_code"`
				Username  *string `json:"username"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				return nil, 0, err
			}
			owned := false
			switch {
			case head.ShortCode != nil:
				owned = s.cluster.ring.Owner(*head.ShortCode) == shard
			case head.Username != nil:
				owned = s.cluster.ring.Owner(userKey(*head.Username)) == shard
			}
			records = append(records, listRecord{head.ID, owned, raw})
		}
	}
	// Sorting the owner's copy first makes the compaction keep it.
	slices.SortStableFunc(records, func(a, b listRecord) int {
		if c := cmp.Compare(a.id, b.id); c != 0 {
			return c
		}
		switch {
		case a.owned && !b.owned:
			return -1
		case b.owned && !a.owned:
			return 1
		}
		return 0
	})
	n := len(records)
	records = slices.CompactFunc(records, func(a, b listRecord) bool { return a.id == b.id })
	copies := uint64(n - len(records))
	return pageOf(records, p, func(r listRecord) json.RawMessage { return r.raw }), copies, nil
}

// pageOf returns the JSON of the records on page p of the merged list.
func pageOf[T any](records []T, p store.Page, raw func(T) json.RawMessage) []json.RawMessage {
	out := make([]json.RawMessage, 0, p.PerPage)
	start := (p.Page - 1) * p.PerPage
	for i := start; i < len(records) && len(out) < p.PerPage; i++ {
		out = append(out, raw(records[i]))
	}
	return out
}

// fanOutPurge runs a purge on every shard and adds up the counts. This
// shard runs it first, so that a bad filter gets the error of a single
// server before any other shard purges.
func (s *Server) fanOutPurge(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	header := authHeader(r)
	header.Set("Content-Type", "application/json")

	sum := purgeJSON{}
	add := func(resp *cluster.Response) error {
		if resp.Status != http.StatusOK {
			return &peerStatusError{resp: resp}
		}
		var part purgeJSON
		if err := json.Unmarshal(resp.Body, &part); err != nil {
			return err
		}
		sum.DryRun = part.DryRun
		sum.Links += part.Links
		sum.Events += part.Events
		return nil
	}
	local, err := s.call(r.Context(), s.cluster.self, http.MethodPost, r.URL.RequestURI(), header, body)
	if err != nil {
		return err
	}
	if err := add(local); err != nil {
		return err
	}
	// NOTE: a shard that is down fails the request after the others have
	// purged; running the purge again once it is back completes it.
	for _, resp := range s.callOthers(r, http.MethodPost, r.URL.RequestURI(), header, body) {
		if resp.err != nil {
			return resp.err
		}
		if err := add(resp.resp); err != nil {
			return err
		}
	}
	s.writeJSON(w, r, http.StatusOK, sum)
	return nil
}

// peerResult is the outcome of one request of a fan-out.
type peerResult struct {
	peer string
	resp *cluster.Response
	err  error
}

// callOthers sends the same request to every shard but this one at once.
func (s *Server) callOthers(r *http.Request, method, uri string, header http.Header, body []byte) []peerResult {
	var results []peerResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, peer := range s.cluster.ring.Peers() {
		if peer == s.cluster.self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.call(r.Context(), peer, method, uri, header, body)
			mu.Lock()
			results = append(results, peerResult{peer, resp, err})
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// bufferWriter is an http.ResponseWriter that keeps the response in
// memory, for requests a shard sends to itself.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferWriter() *bufferWriter {
	return &bufferWriter{header: http.Header{}}
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferWriter) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// readCloser gives a reader a no-op Close.
type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func bytesReader(b []byte) *bytes.Reader {
	return bytes.NewReader(b)
}
