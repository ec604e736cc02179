package server

import (
	"errors"
	"net/http"

	"github.com/linkbolt/linkbolt/store"
)

// health responds 200 while the store can be read.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Ping(); err != nil {
		s.log.Error("health check failed", "error", err)
		s.writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "the store cannot be read"})
		return nil
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok", "version": s.opts.Version})
	return nil
}

// ready responds 200 while the store accepts writes and the server is not
// stopping, so that a load balancer sends traffic elsewhere otherwise.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	reason := ""
	switch {
	case s.stopping.Load():
		reason = "server is shutting down"
	case errors.Is(s.store.Err(), store.ErrNoSpace):
		reason = "the disk is full; writes resume by themselves once space is freed"
	case s.store.Err() != nil:
		reason = "store is not accepting writes; restart the server"
	}
	if reason != "" {
		s.writeJSON(w, r, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
		return nil
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// readObject reads a request body that must be one JSON object, sent with
// a Content-Type that checkJSONType accepts.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (object, error) {
	_, obj, err := s.readRawObject(w, r)
	return obj, err
}

// readRawObject reads a body as readObject does and also returns its
// bytes, for a cluster shard that sends the body on.
func (s *Server) readRawObject(w http.ResponseWriter, r *http.Request) ([]byte, object, error) {
	if err := checkIdentityEncoding(r); err != nil {
		return nil, nil, err
	}
	body, err := readBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return nil, nil, err
	}
	obj, err := decodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	return body, obj, checkJSONType(r)
}

// logStoreState logs when a failed commit stops writes and when a probe
// finds space and writes resume. The store calls it on its writer
// goroutine, once per change, so a long outage logs two lines.
func (s *Server) logStoreState(err error) {
	switch {
	case err == nil:
		s.log.Info("store accepts writes again", "db", s.store.Path())
	case errors.Is(err, store.ErrNoSpace):
		s.log.Error("store stopped writes: the disk is full; probing for space",
			"error", err, "db", s.store.Path(), "probe_interval", s.store.SpaceProbeInterval().String())
	default:
		s.log.Error("store stopped writes until a restart", "error", err, "db", s.store.Path())
	}
}
