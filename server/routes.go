package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// handlerFunc is a handler that returns its error instead of writing it, so
// that every error reaches the client through writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the route table. A public route is open without
// an API key.
type route struct {
	pattern string
	handle  handlerFunc
	public  bool
}

// reservedPaths are top-level paths kept for routes that are planned but
// not served, so that no custom code takes them first.
var reservedPaths = []string{"ui"}

// codeRoute is the pattern of a short link, which ServeHTTP also serves
// without the mux.
const codeRoute = "GET /{code}"

// routeTable lists every route the server serves. ServeMux prefers the
// literal paths over the redirect routes at the end.
func (s *Server) routeTable() []route {
	return []route{
		{"GET /health", s.health, true},
		{"GET /ready", s.ready, true},
		{"GET /metrics", s.serveMetrics, true},
		{"GET /openapi.json", s.openAPI, true},

		{"GET /users", s.listUsers, false},
		{"POST /users", s.createUser, false},
		{"POST /users/bulk", s.importUsers, false},
		{"GET /users/{id}", s.getUser, false},
		{"PUT /users/{id}", s.updateUser, false},
		{"DELETE /users/{id}", s.deleteUser, false},

		{"GET /urls", s.listURLs, false},
		{"POST /urls", s.createURL, false},
		{"POST /urls/bulk", s.importURLs, false},
		{"GET /urls/{id}", s.getURL, false},
		{"PUT /urls/{id}", s.updateURL, false},
		{"DELETE /urls/{id}", s.deleteURL, false},
		{"GET /urls/{id}/stats", s.urlStats, false},

		{"GET /events", s.listEvents, false},
		{"POST /events", s.createEvent, false},
		{"POST /events/bulk", s.importEvents, false},
		{"GET /events/{id}", s.getEvent, false},

		{"POST /admin/purge", s.purge, false},
		{"GET /admin/backup", s.backup, false},
		{"GET /admin/reservations", s.listReservations, false},
		{"POST /admin/reservations/bulk", s.importReservations, false},

		{"GET /urls/{code}/redirect", s.redirectRoute, true},
		{codeRoute, s.redirectRoute, true},
		{"GET /{code}/{$}", s.redirectRoute, true},
	}
}

// bulkPaths are the paths that take only POST but that the {id} routes of
// their collection would otherwise match for GET, PUT and DELETE.
var bulkPaths = []string{"/users/bulk", "/urls/bulk", "/events/bulk"}

// wrongBulkMethods are the methods that the {id} routes serve and the bulk
// paths do not.
var wrongBulkMethods = []string{http.MethodGet, http.MethodPut, http.MethodDelete}

// routes registers the route table and a fallback that responds to
// unknown paths with a JSON 404 and to known paths with a wrong method
// with a JSON 405.
func (s *Server) routes() {
	s.literalPaths = make(map[string]bool)
	for _, rt := range s.routeTable() {
		s.mux.Handle(rt.pattern, s.instrument(rt))
		if path, ok := strings.CutPrefix(rt.pattern, "GET /"); ok && !strings.ContainsAny(path, "/{") {
			s.literalPaths[path] = true
		}
	}
	fallback := s.instrument(route{pattern: "/", handle: s.noRoute, public: true})
	s.mux.Handle("/", fallback)

	// Without these patterns GET /users/bulk would reach GET /users/{id}
	// and return 404 for the id "bulk", where the path exists for POST.
	s.wrongMethods = make(map[string]bool)
	for _, pattern := range wrongBulkPatterns() {
		s.mux.Handle(pattern, fallback)
		s.wrongMethods[pattern] = true
	}
}

// wrongBulkPatterns returns a pattern for each bulk path and each method
// in wrongBulkMethods.
func wrongBulkPatterns() []string {
	var patterns []string
	for _, path := range bulkPaths {
		for _, method := range wrongBulkMethods {
			patterns = append(patterns, method+" "+path)
		}
	}
	return patterns
}

// noRoute responds to requests that no route matched.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	allowed := s.allowedMethods(r)
	if len(allowed) == 0 {
		return notFound("no route for %s %s", r.Method, truncate(r.URL.Path, maxEcho))
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return &apiError{
		status:  http.StatusMethodNotAllowed,
		message: "method " + truncate(r.Method, maxEcho) + " is not allowed on " + truncate(r.URL.Path, maxEcho) + "; allowed: " + strings.Join(allowed, ", "),
	}
}

// probeMethods are the methods tried when building an Allow header.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}

// allowedMethods returns the methods that some route accepts for the path
// of r, found by asking the mux for each method in turn.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allowed []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		_, pattern := s.mux.Handler(probe)
		if pattern != "/" && pattern != "" && !s.wrongMethods[pattern] {
			allowed = append(allowed, m)
		}
	}
	return slices.Clip(allowed)
}

// instrument wraps a route's handler with the request metrics, the access
// log, the API key check, the rate limit, the error response and panic
// recovery.
func (s *Server) instrument(rt route) http.Handler {
	m := s.metrics.forRoute(rt.pattern)
	redirect := strings.Contains(rt.pattern, "{code}")
	if rt.pattern == codeRoute {
		s.codeMetrics = m
	}
	h := rt.handle

	// The API key is checked before the rate limit, so that requests
	// without a valid key cannot use up the writes of a client with a key
	// at the same address.
	if strings.HasPrefix(rt.pattern, "POST ") || strings.HasPrefix(rt.pattern, "PUT ") || strings.HasPrefix(rt.pattern, "DELETE ") {
		h = s.limitRate(h)
	}
	if !rt.public {
		h = s.authorize(h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := newStatusWriter(w)
		defer s.finishRequest(sw, r, m, start, redirect)
		if err := h(sw, r); err != nil {
			s.writeError(sw, r, err)
		}
	})
}

// finishRequest ends every request, deferred by its handler. It turns a
// panic into a 500, counts the request, writes the access log and returns
// sw to its pool.
func (s *Server) finishRequest(sw *statusWriter, r *http.Request, m *routeMetrics, start time.Time, redirect bool) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p)
		}
		s.log.Error("handler panicked", "panic", p, "method", r.Method, "path", r.URL.Path)
		if sw.status == 0 {
			s.writeJSON(sw, r, http.StatusInternalServerError, errorBody{Error: "internal server error; the server log has the details"})
		}
	}
	m.observe(r.Method, sw.code(), start)
	if s.opts.AccessLog {
		s.logAccess(r, sw.code(), start, redirect)
	}
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
}

func (s *Server) logAccess(r *http.Request, status int, start time.Time, redirect bool) {
	level := slog.LevelInfo
	if redirect {
		level = slog.LevelDebug
	}
	s.log.Log(r.Context(), level, "request",
		"method", r.Method, "path", r.URL.Path, "status", status,
		"duration_ms", float64(time.Since(start).Microseconds())/1000)
}

// statusWriters reuses the status writers of finished requests, so that
// the redirect path allocates less per request.
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func newStatusWriter(w http.ResponseWriter) *statusWriter {
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.status = w, 0
	return sw
}

// statusWriter records the status a handler wrote. It goes back to
// statusWriters when its request ends, so no handler may keep it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
