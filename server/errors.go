package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/linkbolt/linkbolt/store"
)

// apiError is an error with the HTTP status and message sent to the client.
type apiError struct {
	status  int
	message string
	field   string
}

func (e *apiError) Error() string {
	return e.message
}

// badRequest is a body that is not a JSON object.
func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// invalidField is a JSON object whose field is wrong.
func invalidField(field, format string, args ...any) error {
	return &apiError{status: http.StatusUnprocessableEntity, message: fmt.Sprintf(format, args...), field: truncate(field, maxEcho)}
}

func notFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, message: fmt.Sprintf(format, args...)}
}

// errGone is a link that expired or reached its click limit.
func errGone(format string, args ...any) error {
	return &apiError{status: http.StatusGone, message: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string     `json:"error"`
	Field string     `json:"field,omitempty"`
	Rows  []rowError `json:"rows,omitempty"`
}

type rowError struct {
	Line   int    `json:"line,omitempty"`
	ID     uint64 `json:"id,omitempty"`
	Reason string `json:"reason"`
}

// errorResponse maps an error to its status and body. It is the one place
// where store errors become HTTP statuses. A status of 500 means the error
// is internal: its message is not sent and the caller logs it.
func errorResponse(err error) (int, errorBody) {
	var apiErr *apiError
	var csvErr *store.CSVError
	var importErr *store.ImportError
	var conflicts *store.ConflictsError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.status, errorBody{Error: apiErr.message, Field: apiErr.field}
	case errors.Is(err, store.ErrCorrupt):
		// Damage comes first, because an import error may wrap it.
		return http.StatusServiceUnavailable, errorBody{Error: "the database file is damaged; the operator must restore it from a backup"}
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("request body is larger than %d bytes", tooLarge.Limit)}
	case errors.As(err, &csvErr):
		return http.StatusUnprocessableEntity, csvErrorBody(csvErr)
	case errors.As(err, &conflicts):
		return http.StatusUnprocessableEntity, conflictsBody(conflicts)
	case errors.As(err, &importErr):
		body := errorBody{
			Error: "no rows were imported: " + importErr.Error(),
			Rows:  []rowError{{ID: importErr.ID, Reason: clientMessage(importErr.Err)}},
		}
		return http.StatusUnprocessableEntity, body
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, errorBody{Error: clientMessage(err)}
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, errorBody{Error: clientMessage(err)}
	case errors.Is(err, store.ErrNoSpace):
		return http.StatusServiceUnavailable, errorBody{Error: "the server's disk is full, so it accepts no writes; retry after the seconds in Retry-After, and ask the operator to free disk space if it persists"}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrIDsExhausted):
		return http.StatusServiceUnavailable, errorBody{Error: "the database is not available; retry later, and ask the operator to check the server log if it persists"}
	}
	return http.StatusInternalServerError, errorBody{Error: "internal server error; the server log has the details"}
}

func csvErrorBody(e *store.CSVError) errorBody {
	noun := "rows"
	if e.Total == 1 {
		noun = "row"
	}
	body := errorBody{Error: fmt.Sprintf("no rows were imported: %d invalid %s", e.Total, noun)}
	for _, r := range e.Rows {
		body.Rows = append(body.Rows, rowError{Line: r.Line, Reason: r.Reason})
	}
	return body
}

// conflictsMessage is the error of a *store.ConflictsError, with the
// number of its rows. A cluster shard reads the number back from it.
const conflictsMessage = "no rows were imported: %d rows conflict with stored records"

func conflictsBody(e *store.ConflictsError) errorBody {
	msg := fmt.Sprintf(conflictsMessage, e.Total)
	if len(e.Rows) < e.Total {
		msg += fmt.Sprintf("; the first %d are listed", len(e.Rows))
	}
	body := errorBody{Error: msg}
	for _, r := range e.Rows {
		body.Rows = append(body.Rows, rowError{ID: r.ID, Reason: clientMessage(r.Err)})
	}
	return body
}

// clientMessage removes the sentinel's own text from a wrapped store error,
// leaving the part that names the value at fault.
func clientMessage(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{store.ErrNotFound, store.ErrConflict} {
		msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
	}
	return msg
}
