package server

import (
	"net/http"
)

// health responds 200 while the store can be read.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Ping(); err != nil {
		s.log.Error("health check failed", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "the store cannot be read"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.opts.Version})
	return nil
}

// ready responds 200 while the store accepts writes and the server is not
// stopping, so that a load balancer sends traffic elsewhere otherwise.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	reason := ""
	switch {
	case s.stopping.Load():
		reason = "server is shutting down"
	case s.store.Err() != nil:
		reason = "store is not accepting writes"
	}
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// readObject reads a request body that must be one JSON object.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (object, error) {
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}
