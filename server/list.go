package server

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/linkbolt/linkbolt/store"
)

// Paging defaults and limits.
const (
	defaultPerPage = 100
	maxPerPage     = 1000

	// maxPage keeps page*per_page far from overflow; any page above it is
	// past the end of every list.
	maxPage = 1 << 40
)

// parsePage reads page and per_page from the query.
func parsePage(q url.Values) (store.Page, error) {
	p := store.Page{Page: 1, PerPage: defaultPerPage}
	var err error
	if v, ok := queryValue(q, "page"); ok {
		if p.Page, err = positiveParam("page", v, maxPage); err != nil {
			return p, err
		}
	}
	if v, ok := queryValue(q, "per_page"); ok {
		if p.PerPage, err = positiveParam("per_page", v, maxPerPage); err != nil {
			return p, err
		}
	}
	return p, nil
}

// parseQuery parses the query string of r. r.URL.Query drops a pair that
// is not valid URL encoding, such as page=%zz or a pair cut by a
// semicolon, so a list would be served as if the parameter were absent.
// parseQuery rejects the whole query with a 422 instead, and names the
// parameter when its name can be read.
func parseQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err == nil {
		return q, nil
	}
	field := malformedParam(r.URL.RawQuery)
	return nil, invalidField(field, "malformed query string: %v; percent-encode the characters %%, & and ; in parameter values", err)
}

// malformedParam returns the name of the first parameter of a raw query
// whose pair url.ParseQuery rejects, or "" when that name is itself
// malformed.
func malformedParam(rawQuery string) string {
	for pair := range strings.SplitSeq(rawQuery, "&") {
		key, value, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(key)
		if err != nil || strings.Contains(key, ";") {
			return ""
		}
		if _, err := url.QueryUnescape(value); err != nil || strings.Contains(value, ";") {
			return name
		}
	}
	return ""
}

// queryValue returns the first value of a query parameter.
func queryValue(q url.Values, name string) (string, bool) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// positiveParam parses a positive integer parameter and caps it at limit.
func positiveParam(name, v string, limit int) (int, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case isRangeError(err):
		return limit, nil
	case err != nil || n == 0:
		return 0, invalidField(name, "%s must be a positive integer, got %q", name, truncate(v, maxEcho))
	case n > uint64(limit):
		return limit, nil
	}
	return int(n), nil
}

func isRangeError(err error) bool {
	numErr, ok := err.(*strconv.NumError)
	return ok && numErr.Err == strconv.ErrRange
}

// idParam parses an id filter: a positive integer below 2^53.
func idParam(q url.Values, name string) (*uint64, error) {
	v, ok := queryValue(q, name)
	if !ok {
		return nil, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 || id > store.MaxID {
		return nil, invalidField(name, "%s must be a positive integer id below 2^53, got %q", name, truncate(v, maxEcho))
	}
	return &id, nil
}

// boolParam parses a true or false filter.
func boolParam(q url.Values, name string) (*bool, error) {
	v, ok := queryValue(q, name)
	if !ok {
		return nil, nil
	}
	switch strings.ToLower(v) {
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, invalidField(name, "%s must be true or false, got %q", name, truncate(v, maxEcho))
}

// stringParam reads a text filter of at most limit bytes.
func stringParam(q url.Values, name string, limit int) (*string, error) {
	v, ok := queryValue(q, name)
	if !ok {
		return nil, nil
	}
	if v == "" || utf8.RuneCountInString(v) > limit {
		return nil, invalidField(name, "%s must be 1 to %d characters", name, limit)
	}
	return &v, nil
}

// writeList sends one page of a list with its X-Total-Count and RFC 8288
// Link headers.
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, p store.Page, total uint64, items any) {
	h := w.Header()
	h.Set("X-Total-Count", strconv.FormatUint(total, 10))
	h.Set("Link", linkHeader(r, p, total))
	s.writeJSON(w, r, http.StatusOK, items)
}

// listFilters are the query parameters that each list route filters by,
// by path. A filter added to a list route must be added here, or the
// links of its pages lose it.
var listFilters = map[string][]string{
	"/urls":   {"user_id", "is_active", "short_code"},
	"/events": {"url_id", "user_id", "event_type"},
}

// linkHeader builds the first, prev, next and last links of a page. Each
// keeps the first value of each filter of the list, which is the value
// the list used. Other parameters are left out: the list ignored them,
// and they could make the header many times as long as the request line.
func linkHeader(r *http.Request, p store.Page, total uint64) string {
	last := max(1, (total+uint64(p.PerPage)-1)/uint64(p.PerPage))
	page := uint64(p.Page)
	query := r.URL.Query()
	filters := url.Values{}
	for _, name := range listFilters[r.URL.Path] {
		if query.Has(name) {
			filters.Set(name, query.Get(name))
		}
	}
	link := func(n uint64, rel string) string {
		q := maps.Clone(filters)
		q.Set("page", strconv.FormatUint(n, 10))
		q.Set("per_page", strconv.Itoa(p.PerPage))
		return fmt.Sprintf(`<%s?%s>; rel="%s"`, r.URL.Path, q.Encode(), rel)
	}
	links := []string{link(1, "first")}
	if page > 1 {
		links = append(links, link(min(page-1, last), "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"))
	}
	links = append(links, link(last, "last"))
	return strings.Join(links, ", ")
}

// pathID parses the {id} of a path. Anything but a positive integer below
// 2^53 names no record, so it is a 404.
func pathID(r *http.Request, kind string) (uint64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 || id > store.MaxID {
		return 0, notFound("no %s with id %q; ids are positive integers", kind, truncate(v, maxEcho))
	}
	return id, nil
}
