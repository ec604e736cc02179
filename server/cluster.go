package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/store"
)

// ClusterOptions makes a server one shard of a cluster. The store must be
// opened with the options that ShardStoreOptions returns.
type ClusterOptions struct {
	// Peers are the host:port strings of every shard, exactly as in the
	// NGINX upstream; Self is this server's entry.
	Peers []string
	Self  string

	// Secret is the cluster secret that every shard shares. Requests
	// between shards carry it, and a shard serves the internal routes and
	// honours cluster.HeaderHop only on requests that carry it.
	Secret string

	// Timeout bounds one request to a peer; zero means
	// cluster.DefaultTimeout.
	Timeout time.Duration
}

// retryAfterSeconds is the Retry-After of a 503 for a shard that is down:
// NGINX's default fail_timeout is 10 s, and a restart takes about as long.
const retryAfterSeconds = "10"

// ShardStoreOptions returns the store options of the shard Self: its id
// range, generated codes limited to those it owns, and user ids checked by
// the cluster instead of the store.
func ShardStoreOptions(c ClusterOptions) (*store.Options, error) {
	ring, err := cluster.NewRing(c.Peers)
	if err != nil {
		return nil, err
	}
	index := ring.Index(c.Self)
	if index < 0 {
		return nil, fmt.Errorf("self %q is not one of the peers %s", c.Self, strings.Join(c.Peers, ","))
	}
	first, last := cluster.IDRange(index)
	return &store.Options{
		IDs:         store.IDRange{First: first, Last: last},
		CodeFilter:  func(code string) bool { return ring.Owner(code) == index },
		RemoteUsers: true,
	}, nil
}

// clusterState is the cluster part of a server.
type clusterState struct {
	ring   *cluster.Ring
	self   string
	index  int
	secret string
	client *cluster.Client
	mux    *http.ServeMux
}

// joinCluster sets up the server as one shard: every request then passes
// through serveCluster, which forwards, fans out or serves it here.
func (s *Server) joinCluster(c *ClusterOptions) error {
	ring, err := cluster.NewRing(c.Peers)
	if err != nil {
		return err
	}
	index := ring.Index(c.Self)
	if index < 0 {
		return fmt.Errorf("self %q is not one of the peers %s", c.Self, strings.Join(c.Peers, ","))
	}
	if err := cluster.CheckSecret(c.Secret); err != nil {
		return err
	}
	s.cluster = &clusterState{
		ring:   ring,
		self:   c.Self,
		index:  index,
		secret: c.Secret,
		client: cluster.NewClient(c.Self, c.Secret, c.Timeout),
		mux:    http.NewServeMux(),
	}
	s.clusterRoutes()
	s.http.Handler = http.HandlerFunc(s.serveCluster)
	return nil
}

// clusterRoutes registers the routes whose response depends on other shards.
// Every other request is served by this shard alone.
func (s *Server) clusterRoutes() {
	routes := []route{
		{"GET /{code}", s.routeCode, true},
		{"GET /{code}/{$}", s.routeCode, true},
		{"GET /urls/{code}/redirect", s.routeCode, true},

		{"POST /urls", s.routeCreateURL, false},
		{"POST /users", s.routeCreateUser, false},
		{"POST /events", s.routeCreateEvent, false},

		{"GET /users", s.fanOutList, false},
		{"GET /urls", s.fanOutList, false},
		{"GET /events", s.fanOutList, false},

		{"GET /users/{id}", s.routeByID("users"), false},
		{"PUT /users/{id}", s.routeUpdateUser, false},
		{"DELETE /users/{id}", s.routeDeleteUser, false},
		{"GET /urls/{id}", s.routeByID("urls"), false},
		{"PUT /urls/{id}", s.routeUpdateURL, false},
		{"DELETE /urls/{id}", s.routeByID("urls"), false},
		{"GET /urls/{id}/stats", s.routeByID("urls"), false},
		{"GET /events/{id}", s.routeByID("events"), false},

		{"POST /users/bulk", s.routeBulk(bulkUsers), false},
		{"POST /urls/bulk", s.routeBulk(bulkURLs), false},
		{"POST /events/bulk", s.routeBulk(bulkEvents), false},
		{"POST /admin/purge", s.fanOutPurge, false},
		{"GET /admin/reservations", s.fanOutReservations, false},
		{"POST " + reservationsBulkPath, s.fanOutReservationsImport, false},
	}
	for _, rt := range routes {
		h := rt.handle
		if !rt.public {
			h = s.authorize(h)
		}
		s.cluster.mux.Handle(rt.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				s.writeClusterError(w, r, err)
			}
		}))
	}
	s.cluster.mux.Handle("/", s)
}

// serveCluster names this instance on every response, serves requests of
// peers here, and routes client requests.
func (s *Server) serveCluster(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(cluster.HeaderInstance, s.cluster.self)
	h.Set(cluster.HeaderForwarded, "false")

	// Only a request with the cluster secret comes from a peer. Without
	// it, the hop header is dropped and the request is routed as any
	// client's, so that it cannot skip the checks of the owner shard.
	fromPeer := cluster.SecretMatches(r.Header.Get(cluster.HeaderSecret), s.cluster.secret)
	r.Header.Del(cluster.HeaderSecret)
	if !fromPeer {
		r.Header.Del(cluster.HeaderHop)
	}
	if fromPeer && r.Header.Get(cluster.HeaderHop) != "" {
		if strings.HasPrefix(r.URL.Path, internalPrefix) {
			s.serveInternal(w, r)
			return
		}
		s.ServeHTTP(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, internalPrefix) {
		s.writeError(w, r, notFound("%s is served only to the shards of the cluster", truncate(r.URL.Path, maxEcho)))
		return
	}
	// ServeMux would redirect a path that is not clean, which ServeHTTP
	// responds to with a 404 instead.
	if !cleanPath(r.URL.Path) {
		s.ServeHTTP(w, r)
		return
	}
	s.cluster.mux.ServeHTTP(w, r)
}

// serveLocal serves r on this shard alone.
func (s *Server) serveLocal(w http.ResponseWriter, r *http.Request) error {
	s.ServeHTTP(w, r)
	return nil
}

// shardDownBody is the body of a 503 for a shard that is not reachable.
type shardDownBody struct {
	Error string `json:"error"`
	Shard string `json:"shard"`
}

// writeClusterError sends err, with a 503 naming the shard and a
// Retry-After header when a peer is down.
func (s *Server) writeClusterError(w http.ResponseWriter, r *http.Request, err error) {
	var partial *partialImportError
	if errors.As(err, &partial) {
		s.writePartialImport(w, r, partial)
		return
	}
	var statusErr *peerStatusError
	if errors.As(err, &statusErr) {
		cluster.CopyResponse(w, statusErr.resp, s.cluster.self)
		return
	}
	var peerErr *cluster.PeerError
	if errors.As(err, &peerErr) {
		s.log.Warn("shard not reachable", "shard", peerErr.Peer, "error", peerErr.Err,
			"method", r.Method, "path", r.URL.Path)
		w.Header().Set("Retry-After", retryAfterSeconds)
		s.writeJSON(w, r, http.StatusServiceUnavailable, shardDownBody{
			Error: fmt.Sprintf("shard %s is not reachable, so this request failed; retry later", peerErr.Peer),
			Shard: peerErr.Peer,
		})
		return
	}
	s.writeError(w, r, err)
}

// routeCode serves a redirect on the shard that owns the code, forwarding
// it there in one hop when that is another shard.
func (s *Server) routeCode(w http.ResponseWriter, r *http.Request) error {
	code := r.PathValue("code")
	if !store.ValidCode(code) || reservedCode(code) {
		return s.serveLocal(w, r)
	}
	owner := s.cluster.ring.OwnerName(code)
	if owner == s.cluster.self {
		return s.serveLocal(w, r)
	}
	return s.forward(w, r, owner, nil)
}

// forward sends r with body to peer and copies the response to w.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, peer string, body []byte) error {
	resp, err := s.cluster.client.Do(r.Context(), peer, r.Method, r.URL.RequestURI(), r.Header, body)
	if err != nil {
		return err
	}
	cluster.CopyResponse(w, resp, s.cluster.self)
	return nil
}

// call sends a request to a shard and returns the buffered response. The
// request to this shard runs in-process, so that a shard needs no route
// to its own address.
func (s *Server) call(ctx context.Context, peer, method, uri string, header http.Header, body []byte) (*cluster.Response, error) {
	if peer != s.cluster.self {
		return s.cluster.client.Do(ctx, peer, method, uri, header, body)
	}
	req, err := http.NewRequestWithContext(ctx, method, uri, bytesReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.RequestURI = uri
	rec := newBufferWriter()
	if strings.HasPrefix(req.URL.Path, internalPrefix) {
		s.serveInternal(rec, req)
	} else {
		s.ServeHTTP(rec, req)
	}
	return &cluster.Response{Status: rec.code(), Header: rec.header, Body: rec.body.Bytes()}, nil
}

// replaceBody gives r a body that reads body again, so that a handler can
// read what a routing step already read.
func replaceBody(r *http.Request, body []byte) {
	r.Body = readCloser{bytesReader(body)}
	r.ContentLength = int64(len(body))
}

// RouteWords returns the first path segments of the routes of the server,
// in lower case, sorted and without repeats. They are never short codes.
func RouteWords() []string {
	reservedOnce.Do(loadReservedWords)
	words := slices.Clone(reservedWords)
	slices.Sort(words)
	return slices.Compact(words)
}
