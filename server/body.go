package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkbolt/linkbolt/store"
)

// object is a JSON object whose fields are read one by one, so that every
// wrong type gets its own message instead of encoding/json's.
type object map[string]json.RawMessage

// readBody reads the whole body up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, message: "request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
	}
	if err != nil {
		return nil, badRequest("reading the request body failed: %v", err)
	}
	return body, nil
}

// decodeObject parses body as one JSON object. Anything else, including
// an empty body, a JSON array or a form, is a 400.
func decodeObject(body []byte) (object, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, badRequest("request body is empty; send a JSON object")
	}
	if bytes.HasPrefix(trimmed, []byte("\uFEFF")) {
		return nil, badRequest("request body starts with a UTF-8 byte order mark; send the JSON object without it")
	}
	if trimmed[0] != '{' {
		return nil, badRequest("request body must be a JSON object")
	}
	if !utf8.Valid(trimmed) {
		return nil, badRequest("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var obj object
	if err := dec.Decode(&obj); err != nil {
		return nil, badRequest("request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("request body has data after the JSON object")
	}
	if name, ok := repeatedName(trimmed); ok {
		return nil, badRequest("request body has the field %q more than once; send each field once", truncate(name, maxEcho))
	}
	return obj, nil
}

// repeatedName returns the first name that the JSON object in body, known
// to be valid, has twice. encoding/json keeps the last value of such a
// name, while other readers of the same body may keep the first.
func repeatedName(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return "", false
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := tok.(string)
		if seen[name] {
			return name, true
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return "", false
		}
	}
	return "", false
}

// checkJSONType rejects a request whose Content-Type names a media type
// other than application/json, a +json type or a form, with 415. A
// request without a Content-Type is read as JSON, because many clients
// send none, and so is a form, because `curl -d` sends a JSON object as
// one. Callers check the body first, so that a body that is not a JSON
// object gets its 400 whatever its type.
func checkJSONType(r *http.Request) error {
	value := r.Header.Get("Content-Type")
	if strings.TrimSpace(value) == "" {
		return nil
	}
	mediaType, params, err := mime.ParseMediaType(value)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		mediaType = ""
	}
	if mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") || mediaType == "application/x-www-form-urlencoded" {
		return checkCharset(params)
	}
	return &apiError{
		status:  http.StatusUnsupportedMediaType,
		message: fmt.Sprintf("Content-Type %q is not JSON; send the body with Content-Type: application/json", truncate(value, maxEcho)),
	}
}

// checkCharset rejects, with 415, a charset parameter other than UTF-8 or
// its subset US-ASCII, because the server reads every body as UTF-8.
func checkCharset(params map[string]string) error {
	charset, ok := params["charset"]
	if !ok {
		return nil
	}
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii":
		return nil
	}
	return &apiError{
		status:  http.StatusUnsupportedMediaType,
		message: fmt.Sprintf("charset %q is not supported; send the body as UTF-8", truncate(charset, maxEcho)),
	}
}

// only rejects fields other than allowed.
func (o object) only(allowed ...string) error {
	var unknown []string
	for name := range o {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return invalidField(unknown[0], "unknown field %q; allowed fields are %s", truncate(unknown[0], maxEcho), strings.Join(allowed, ", "))
}

// hasReplacementChar reports whether raw itself contains U+FFFD, as
// opposed to a lone surrogate escape that encoding/json decodes to it.
func hasReplacementChar(raw []byte) bool {
	return bytes.ContainsRune(raw, utf8.RuneError) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
}

func isNull(raw json.RawMessage) bool {
	return string(raw) == "null"
}

// string reads a string field. ok is false when the field is absent.
func (o object) string(name string) (value string, ok bool, err error) {
	raw, ok := o[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, invalidField(name, "%s must be a string", name)
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return "", true, invalidField(name, "%s must be a string", name)
	}
	if strings.ContainsRune(value, utf8.RuneError) && !hasReplacementChar(raw) {
		return "", true, invalidField(name, "%s contains an escape of a lone UTF-16 surrogate", name)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return "", true, errNULField(name)
	}
	return value, true, nil
}

// errNULField rejects a string with a NUL character. No text field stores
// one, because CSV exports would carry it raw and many tools end the text
// there.
func errNULField(name string) error {
	return invalidField(name, "%s contains a NUL character (\\u0000), which linkbolt does not store", name)
}

// nullableString reads a field that is a string or null.
func (o object) nullableString(name string) (value *string, ok bool, err error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return nil, ok, nil
	}
	if raw[0] != '"' {
		return nil, true, invalidField(name, "%s must be a string or null", name)
	}
	s, _, err := o.string(name)
	if err != nil {
		return nil, true, err
	}
	return &s, true, nil
}

// boolean reads a field that is true or false.
func (o object) boolean(name string) (value, ok bool, err error) {
	raw, ok := o[name]
	if !ok {
		return false, false, nil
	}
	switch string(raw) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, invalidField(name, "%s must be true or false", name)
}

// integer reads a field that is a JSON integer: no fraction, no exponent,
// no quotes.
func (o object) integer(name string) (value int64, ok bool, err error) {
	raw, ok := o[name]
	if !ok {
		return 0, false, nil
	}
	if !isIntegerLiteral(raw) {
		return 0, true, invalidField(name, "%s must be an integer", name)
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, true, invalidField(name, "%s is out of range", name)
	}
	return v, true, nil
}

func isIntegerLiteral(raw []byte) bool {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// reference reads a field that names a record by id, or null, which it
// returns as zero. An integer that cannot be an id names no record, so it
// is a 404 like any unknown id. A value that is not an integer is a 422.
func (o object) reference(name, kind string) (id uint64, ok bool, err error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return 0, ok, nil
	}
	if !isIntegerLiteral(raw) {
		return 0, true, invalidField(name, "%s must be an integer id or null", name)
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || v == 0 || v > store.MaxID {
		return 0, true, notFound("%s %s names no %s", name, truncate(string(raw), maxEcho), kind)
	}
	return v, true, nil
}

// details reads a field that must be a JSON object that passes
// store.CheckDetails, or null for {}.
func (o object) details(name string) (json.RawMessage, error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return nil, invalidField(name, "%s must be a JSON object", name)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalidField(name, "%s must be a JSON object", name)
	}
	if err := store.CheckDetails(buf.Bytes()); err != nil {
		return nil, invalidField(name, "%s %v", name, err)
	}
	return buf.Bytes(), nil
}

// timestamp reads a field that is a timestamp string or null. ok is false
// when the field is absent; a null gives the zero time.
func (o object) timestamp(name string) (value time.Time, ok bool, err error) {
	raw, ok := o[name]
	if !ok || isNull(raw) {
		return time.Time{}, ok, nil
	}
	s, _, err := o.string(name)
	if err == nil {
		value, err = parseTime(s)
	}
	var rangeErr *timeRangeError
	switch {
	case errors.As(err, &rangeErr):
		return time.Time{}, true, invalidField(name, "%s %s", name, rangeErr.reason)
	case err != nil:
		return time.Time{}, true, invalidField(name, "%s must be a timestamp such as 2025-09-19T22:25:05", name)
	}
	return value, true, nil
}

// timeLayouts are the timestamp forms accepted in requests. Times without
// a zone are UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// timeRangeError is a timestamp that parses but cannot be stored.
type timeRangeError struct {
	reason string
}

func (e *timeRangeError) Error() string {
	return "timestamp " + e.reason
}

// parseTime parses a timestamp and returns it in UTC, in whole seconds.
func parseTime(s string) (time.Time, error) {
	// RFC 3339 allows a lower-case t and z, which time.Parse rejects.
	if len(s) > 10 && s[10] == 't' {
		s = s[:10] + "T" + s[11:]
	}
	if strings.HasSuffix(s, "z") {
		s = strings.TrimSuffix(s, "z") + "Z"
	}
	var err error
	for _, layout := range timeLayouts {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			if !validOffset(s) {
				return time.Time{}, &timeRangeError{"has a zone offset outside -23:59 to +23:59"}
			}
			t = t.UTC().Truncate(time.Second)
			if t.Year() < 1 || t.Year() > 9999 {
				return time.Time{}, &timeRangeError{"is outside the years 1 to 9999 in UTC"}
			}
			if t.IsZero() {
				return time.Time{}, &timeRangeError{"is 0001-01-01T00:00:00, the zero time, which stands for no time; use a later one"}
			}
			return t, nil
		}
	}
	return time.Time{}, err
}

// validOffset reports whether a timestamp that ends in a ±HH:MM offset has
// an hour below 24 and a minute below 60, which RFC 3339 requires and
// time.Parse does not check.
func validOffset(s string) bool {
	n := len(s)
	if n < 6 || (s[n-6] != '+' && s[n-6] != '-') || s[n-3] != ':' {
		return true
	}
	hour, minute := s[n-5:n-3], s[n-2:]
	return hour < "24" && minute < "60"
}

// formatTime formats a timestamp for a response: UTC, seconds, no zone.
func formatTime(t time.Time) string {
	return t.UTC().Format(store.TimeLayout)
}
