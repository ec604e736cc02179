package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/linkbolt/linkbolt/store"
)

// bulkResult is the body of a successful bulk import.
type bulkResult struct {
	Imported int `json:"imported"`
	Count    int `json:"count"`
}

func (s *Server) importUsers(w http.ResponseWriter, r *http.Request) error {
	return s.importCSV(w, r, LoadUsersCSV)
}

func (s *Server) importURLs(w http.ResponseWriter, r *http.Request) error {
	return s.importCSV(w, r, LoadURLsCSV)
}

func (s *Server) importEvents(w http.ResponseWriter, r *http.Request) error {
	return s.importCSV(w, r, LoadEventsCSV)
}

// LoadUsersCSV parses a users CSV file with the API's rules and imports it
// in one transaction. It returns the number of records, which counts a
// repeated id once.
func LoadUsersCSV(st *store.Store, r io.Reader) (int, error) {
	users, rows, err := store.ParseUsersCSV(r, checkUserRow)
	if err != nil {
		return 0, err
	}
	return rows, st.ImportUsers(users)
}

// LoadURLsCSV parses a urls CSV file with the API's rules and imports it in
// one transaction. It returns the number of records, which counts a
// repeated id once.
func LoadURLsCSV(st *store.Store, r io.Reader) (int, error) {
	urls, rows, err := store.ParseURLsCSV(r, checkURLRow)
	if err != nil {
		return 0, err
	}
	return rows, st.ImportURLs(urls)
}

// LoadEventsCSV parses an events CSV file with the API's rules and imports
// it in one transaction. It returns the number of records, which counts a
// repeated id once.
func LoadEventsCSV(st *store.Store, r io.Reader) (int, error) {
	events, rows, err := store.ParseEventsCSV(r, checkEventRow)
	if err != nil {
		return 0, err
	}
	return rows, st.ImportEvents(events)
}

// importCSV finds the CSV file of a bulk request, loads it and responds
// 201 with the number of records.
func (s *Server) importCSV(w http.ResponseWriter, r *http.Request, load func(*store.Store, io.Reader) (int, error)) error {
	body, err := s.bulkBody(w, r)
	if err != nil {
		return err
	}
	n, err := load(s.store, body)
	if err != nil {
		return body.explain(err)
	}

	// Imported rows may replace links under their codes, and events may
	// change click counts.
	s.cache.Purge()
	s.limits.reset()
	s.writeJSON(w, r, http.StatusCreated, bulkResult{Imported: n, Count: n})
	return nil
}

// readBulkCSV reads the whole CSV file of a bulk request, for a cluster
// shard that checks the file before it sends parts of it on.
func (s *Server) readBulkCSV(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := s.bulkBody(w, r)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, body.explain(err)
	}
	return data, nil
}

// bulkBody returns the CSV file of a bulk request, limited to
// MaxBulkBytes, in a reader that keeps the first error of the body.
func (s *Server) bulkBody(w http.ResponseWriter, r *http.Request) (*bodyReader, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBulkBytes)
	file, err := csvFile(r)
	if err != nil {
		return nil, err
	}
	return &bodyReader{r: file}, nil
}

// bodyReader keeps the first error of the request body, so that a body
// cut short is distinguished from a store failure.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// explain turns a failed load into a client error when the body was the
// cause: too large is a 413 and unreadable (cut short, bad multipart or
// chunk framing) is a 400.
func (b *bodyReader) explain(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case b.err == nil:
		return err
	case errors.As(b.err, &tooLarge):
		return b.err
	}
	return badRequest("reading the CSV body failed: %v; send the whole file again", b.err)
}

// csvFile returns the CSV of a bulk request: the file field of a
// multipart/form-data body, or the whole body of any other type but JSON
// and URL-encoded forms.
func csvFile(r *http.Request) (io.Reader, error) {
	if err := checkIdentityEncoding(r); err != nil {
		return nil, err
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mediaType = ""
	}
	if err := checkCharset(params); err != nil {
		return nil, err
	}
	switch mediaType {
	case "multipart/form-data":
		return multipartFile(r)
	case "application/json", "application/x-www-form-urlencoded":
		return nil, badRequest("send the CSV as the file field of a multipart/form-data body or as a text/csv body, not %s", mediaType)
	}
	return r.Body, nil
}

// checkIdentityEncoding rejects a body with a Content-Encoding other than
// identity with 415, because the server does not decompress bodies and
// would otherwise parse the compressed bytes as CSV or JSON.
func checkIdentityEncoding(r *http.Request) error {
	for _, value := range r.Header.Values("Content-Encoding") {
		for coding := range strings.SplitSeq(value, ",") {
			coding = strings.TrimSpace(coding)
			if coding == "" || strings.EqualFold(coding, "identity") {
				continue
			}
			return &apiError{
				status: http.StatusUnsupportedMediaType,
				message: fmt.Sprintf("Content-Encoding %q is not supported; send the body uncompressed",
					truncate(coding, maxEcho)),
			}
		}
	}
	return nil
}

// multipartFile returns the part named "file", skipping other fields.
// A charset in the part's Content-Type must be UTF-8, as for a whole
// body. The reader decodes a quoted-printable part itself, and any other
// Content-Transfer-Encoding than 7bit, 8bit or binary gets 415, because
// base64 would be parsed as CSV.
func multipartFile(r *http.Request) (io.Reader, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("invalid multipart body: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, badRequest("multipart body has no file field; send the CSV as the field named file")
		}
		if err != nil {
			return nil, badRequest("invalid multipart body: %v", err)
		}
		if part.FormName() != "file" {
			continue
		}
		if value := part.Header.Get("Content-Type"); value != "" {
			if _, params, err := mime.ParseMediaType(value); err == nil {
				if err := checkCharset(params); err != nil {
					return nil, err
				}
			}
		}
		switch coding := strings.ToLower(strings.TrimSpace(part.Header.Get("Content-Transfer-Encoding"))); coding {
		case "", "7bit", "8bit", "binary":
		default:
			return nil, &apiError{
				status:  http.StatusUnsupportedMediaType,
				message: fmt.Sprintf("Content-Transfer-Encoding %q of the file field is not supported; send the CSV bytes as they are", truncate(coding, maxEcho)),
			}
		}
		return part, nil
	}
}

// checkUserRow applies the API's rules for users to an imported row.
func checkUserRow(u *store.User) error {
	if err := checkUsername(u.Username); err != nil {
		return err
	}
	return checkEmail(u.Email)
}

// checkURLRow applies the API's rules for URLs to an imported row.
func checkURLRow(u *store.URL) error {
	if err := checkTargetURL(u.OriginalURL); err != nil {
		return err
	}
	if reservedCode(u.ShortCode) {
		return fmt.Errorf("short_code %q is a path of this API", u.ShortCode)
	}
	if u.Title != nil && utf8.RuneCountInString(*u.Title) > maxTitleLength {
		return errors.New("title is longer than 512 characters")
	}
	return nil
}

// checkReservationRow applies the API's rules for short codes to an
// imported reservation. A code that POST /urls rejects is rejected here
// too, although reserving it would do no harm.
func checkReservationRow(r *store.Reservation) error {
	if reservedCode(r.ShortCode) {
		return fmt.Errorf("short_code %q is a path of this API", r.ShortCode)
	}
	return nil
}

// checkEventRow applies the API's rules for events to an imported row.
func checkEventRow(ev *store.Event) error {
	if strings.TrimSpace(ev.Type) == "" {
		return errors.New("event_type is empty")
	}
	return checkEventType(ev.Type)
}
