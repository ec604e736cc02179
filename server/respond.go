package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/linkbolt/linkbolt/store"
)

// writeJSON sends v as a JSON body with the status. A value that does not
// encode becomes a 500, logged with the route of r.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	// URLs are sent as they are, without encoding/json's \u0026 for "&".
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		s.log.Error("encoding the response failed", "error", err, "route", r.Pattern,
			"method", r.Method, "path", r.URL.Path, "status", status)
		buf.Reset()
		buf.WriteString(`{"error":"internal server error; the server log has the details"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeError sends the JSON error of err and logs errors that are the
// server's own fault, once, with the request that met them.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errorResponse(err)
	if errors.Is(err, store.ErrUnavailable) {
		w.Header().Set("Retry-After", strconv.Itoa(s.retryAfter(err)))
	}
	if status == http.StatusInternalServerError || errors.Is(err, store.ErrIDsExhausted) || errors.Is(err, store.ErrCorrupt) {
		s.log.Error("request failed", "error", err, "route", r.Pattern, "method", r.Method, "path", r.URL.Path, "status", status)
	}
	s.writeJSON(w, r, status, body)
}

// unavailableRetryAfter is the Retry-After, in seconds, of a 503 from a
// store that a restart or a shutdown made unavailable.
const unavailableRetryAfter = 30

// retryAfter returns the seconds a client should wait before it retries a
// write that the store refused: the next probe for space on a full disk,
// otherwise unavailableRetryAfter.
func (s *Server) retryAfter(err error) int {
	if errors.Is(err, store.ErrNoSpace) {
		return max(1, int(math.Ceil(s.store.SpaceProbeInterval().Seconds())))
	}
	return unavailableRetryAfter
}
