package server

import (
	"encoding/json"
	"net/http"
)

// writeJSON sends v as a JSON body with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal server error; the server log has the details"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// writeError sends the JSON error of err and logs errors that are the
// server's own fault, once, with the request that met them.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errorResponse(err)
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "error", err, "method", r.Method, "path", r.URL.Path, "status", status)
	}
	writeJSON(w, status, body)
}
