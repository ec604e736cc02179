package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// handlerFunc is a handler that returns its error instead of writing it, so
// that every error reaches the client through writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the route table.
type route struct {
	pattern string
	handle  handlerFunc
}

// routeTable lists every route the server answers. Redirect routes come
// last: ServeMux prefers the literal paths above them anyway.
func (s *Server) routeTable() []route {
	return []route{
		{"GET /health", s.health},
		{"GET /ready", s.ready},
		{"GET /metrics", s.serveMetrics},

		{"GET /users", s.listUsers},
		{"POST /users", s.createUser},
		{"POST /users/bulk", s.importUsers},
		{"GET /users/{id}", s.getUser},
		{"PUT /users/{id}", s.updateUser},
		{"DELETE /users/{id}", s.deleteUser},

		{"GET /urls", s.listURLs},
		{"POST /urls", s.createURL},
		{"POST /urls/bulk", s.importURLs},
		{"GET /urls/{id}", s.getURL},
		{"PUT /urls/{id}", s.updateURL},
		{"DELETE /urls/{id}", s.deleteURL},

		{"GET /events", s.listEvents},
		{"POST /events", s.createEvent},
		{"POST /events/bulk", s.importEvents},
		{"GET /events/{id}", s.getEvent},

		{"GET /urls/{code}/redirect", s.redirect},
		{"GET /{code}", s.redirect},
		{"GET /{code}/{$}", s.redirect},
	}
}

// routes registers the route table and a fallback that answers unknown
// paths with a JSON 404 and known paths with a wrong method with a JSON 405.
func (s *Server) routes() {
	for _, rt := range s.routeTable() {
		s.mux.Handle(rt.pattern, s.instrument(rt.pattern, rt.handle))
	}
	s.mux.Handle("/", s.instrument("/", s.noRoute))
}

// noRoute answers requests that no route matched.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	allowed := s.allowedMethods(r)
	if len(allowed) == 0 {
		return notFound("no route for %s %s", r.Method, r.URL.Path)
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return &apiError{
		status:  http.StatusMethodNotAllowed,
		message: "method " + r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + strings.Join(allowed, ", "),
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
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	return slices.Clip(allowed)
}

// instrument wraps a handler with the request metrics, the access log, the
// error response and panic recovery.
func (s *Server) instrument(pattern string, h handlerFunc) http.Handler {
	m := s.metrics.forRoute(pattern)
	redirect := strings.Contains(pattern, "{code}")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panicked", "panic", p, "method", r.Method, "path", r.URL.Path)
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, errorBody{Error: "internal server error; the server log has the details"})
				}
			}
			m.observe(r.Method, sw.code(), start)
			if s.opts.AccessLog {
				s.logAccess(r, sw.code(), start, redirect)
			}
		}()

		if err := h(sw, r); err != nil {
			s.writeError(sw, r, err)
		}
	})
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

// statusWriter records the status a handler wrote.
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
