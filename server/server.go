// Package server is linkbolt's HTTP server: routes, handlers, the redirect
// path, the click recorder and the metrics.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/linkbolt/linkbolt/cache"
	"github.com/linkbolt/linkbolt/store"
)

// Defaults of Options.
const (
	// DefaultMaxBodyBytes limits JSON request bodies.
	DefaultMaxBodyBytes = 1 << 20

	// DefaultMaxBulkBytes limits CSV uploads to the bulk endpoints.
	DefaultMaxBulkBytes = 256 << 20

	// DefaultRedirectStatus is the status of a redirect whose link does not
	// set one.
	DefaultRedirectStatus = http.StatusFound
)

// HTTP server timeouts. Bulk uploads of large CSV files are the slowest
// requests, so the read timeout allows for them.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 5 * time.Minute
	writeTimeout      = 5 * time.Minute
	idleTimeout       = 2 * time.Minute
)

// Options configures a Server. Store is required; zero values of the other
// fields mean their defaults.
type Options struct {
	Store *store.Store
	Cache *cache.Cache
	Log   *slog.Logger

	// Version is reported by /health and the startup log.
	Version string

	MaxBodyBytes   int64
	MaxBulkBytes   int64
	RedirectStatus int

	// Clicks configures the click recorder.
	Clicks RecorderOptions

	// APIKeys, when not empty, are required as a Bearer token on every
	// route but the redirects, /health, /ready, /metrics and
	// /openapi.json.
	APIKeys []string

	// RateLimit limits write requests per client; off when zero.
	RateLimit RateLimit

	// Listener, if set, is where Serve accepts connections, so that the
	// caller can bind the address before it opens the store. Without it,
	// call Listen before Serve.
	Listener net.Listener

	// AccessLog logs every request: API requests at Info, redirects at
	// Debug so that they stay off at the default level.
	AccessLog bool

	// Cluster, when not nil, makes the server one shard of a cluster.
	Cluster *ClusterOptions
}

// Server serves the API of one store. Create it with New, then Listen and
// Serve; Shutdown stops it.
type Server struct {
	opts    Options
	store   *store.Store
	cache   *cache.Cache
	log     *slog.Logger
	clicks  *recorder
	limits  *clickLimits
	keys    apiKeys
	rates   *rateLimiter
	metrics *serverMetrics
	mux     *http.ServeMux
	// codeMetrics and literalPaths serve ServeHTTP's short link path.
	codeMetrics  *routeMetrics
	literalPaths map[string]bool

	// wrongMethods contains the mux patterns that only respond with 405,
	// so the Allow header leaves them out.
	wrongMethods map[string]bool

	http     *http.Server
	listener net.Listener
	stopping atomic.Bool
	cluster  *clusterState
}

// New checks the options and builds a server. It does not listen yet.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server needs a store")
	}
	if opts.Cache == nil {
		c, err := cache.New(0, 0)
		if err != nil {
			return nil, err
		}
		opts.Cache = c
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxBulkBytes == 0 {
		opts.MaxBulkBytes = DefaultMaxBulkBytes
	}
	if opts.RedirectStatus == 0 {
		opts.RedirectStatus = DefaultRedirectStatus
	}
	if !store.ValidRedirectStatus(opts.RedirectStatus) {
		return nil, fmt.Errorf("redirect status %d is not one of 301, 302, 307, 308", opts.RedirectStatus)
	}

	s := &Server{
		opts:   opts,
		store:  opts.Store,
		cache:  opts.Cache,
		log:    opts.Log,
		limits: newClickLimits(),
		keys:   newAPIKeys(opts.APIKeys),
		mux:    http.NewServeMux(),
	}
	rates, err := newRateLimiter(opts.RateLimit)
	if err != nil {
		return nil, err
	}
	s.rates = rates
	s.listener = opts.Listener
	s.metrics = newServerMetrics(s)
	s.store.SetStateHook(s.logStoreState)
	clicks, err := newRecorder(opts.Store, opts.Clicks, s.metrics, opts.Log)
	if err != nil {
		return nil, err
	}
	s.clicks = clicks
	s.routes()
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn),
	}
	if opts.Cluster != nil {
		if err := s.joinCluster(opts.Cluster); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Listen binds the address, so that a port clash is an error before the
// server starts. Port 0 picks a free port; Addr returns it.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.listener = ln
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Serve serves requests on the listener until Shutdown. It returns nil
// after a clean shutdown.
func (s *Server) Serve() error {
	if s.listener == nil {
		return errors.New("serve called before listen")
	}
	err := s.http.Serve(s.listener)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server in steps: it fails /ready, stops accepting
// connections and waits for requests in flight until ctx ends, then closes
// the rest and writes the clicks still queued. It leaves the store open for
// its owner to close, and returns an error only when clicks were lost.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)

	s.log.Info("stopping http server")
	if err := s.http.Shutdown(ctx); err != nil {
		// Requests still open lose their connection, but every write
		// that was acknowledged is committed, so the stop stays clean.
		s.log.Warn("http server did not stop in time; closing connections", "error", err)
		s.http.Close()
	}

	s.log.Info("flushing clicks", "queued", s.clicks.queued())
	return s.clicks.close()
}

// ServeHTTP responds with a 404 to paths that are not in canonical form, where
// ServeMux would redirect them, and hands the rest to the routes. A GET or
// HEAD of /{code} goes straight to the redirect, where the mux would send
// it, because the mux's matching allocates for the path value.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if code, ok := s.shortLinkPath(r); ok {
		// The pattern that the mux would set names the route in logs.
		r.Pattern = codeRoute
		start := time.Now()
		sw := newStatusWriter(w)
		defer s.finishRequest(sw, r, s.codeMetrics, start, true)
		if err := s.redirect(sw, r, code); err != nil {
			s.writeError(sw, r, err)
		}
		return
	}
	if !cleanPath(r.URL.Path) {
		s.writeError(w, r, notFound("no route for path %q", truncate(r.URL.Path, maxEcho)))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// shortLinkPath returns the code of a GET or HEAD request whose path is one
// plain segment that no literal route takes, which the mux would route to
// the codeRoute pattern. Escaped paths are left to the mux.
func (s *Server) shortLinkPath(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	p := r.URL.Path
	if len(p) < 2 || p[0] != '/' || r.URL.RawPath != "" {
		return "", false
	}
	code := p[1:]
	if strings.IndexByte(code, '/') >= 0 || code == "." || code == ".." || s.literalPaths[code] {
		return "", false
	}
	return code, true
}

// cleanPath reports whether p is absolute and has no empty, "." or ".."
// segment, apart from one trailing slash.
func cleanPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	rest := strings.TrimSuffix(p[1:], "/")
	if rest == "" {
		return true
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
