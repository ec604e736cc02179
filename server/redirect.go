package server

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linkbolt/linkbolt/cache"
	"github.com/linkbolt/linkbolt/store"
)

// maxEcho bounds the part of a request that an error message repeats.
const maxEcho = 100

// maxClickField bounds the referrer and user agent stored with a click.
const maxClickField = 512

// redirectRoute serves the redirect routes that the mux matched.
func (s *Server) redirectRoute(w http.ResponseWriter, r *http.Request) error {
	return s.redirect(w, r, r.PathValue("code"))
}

// redirect responds to GET and HEAD on a short code. A GET of an active
// link hands a click to the recorder without waiting, and nothing on this
// path writes to the store or logs at Info.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, code string) error {
	e, found, cached, err := s.lookup(code)
	if err != nil {
		s.metrics.redirectError.Inc()
		return err
	}
	if !found {
		s.metrics.redirectNotFound.Inc()
		if reservedCode(code) {
			return notFound("no route for %s %s", r.Method, truncate(r.URL.Path, maxEcho))
		}
		return notFound("no link with short code %q", truncate(code, maxEcho))
	}
	if !e.Active {
		s.metrics.redirectInactive.Inc()
		return notFound("the link with short code %q is not active", code)
	}

	now := time.Now()
	if e.ExpiresAt != 0 && now.Unix() >= e.ExpiresAt {
		s.metrics.redirectExpired.Inc()
		return errGone("the link with short code %q expired", code)
	}

	// Only a GET records a click. Telling bots apart runs here only for a
	// GET of a link with a click limit, which needs the verdict before it
	// redirects. The recorder's writer classifies the other clicks.
	get := r.Method == http.MethodGet
	var userAgent string
	if get {
		userAgent = truncate(r.Header.Get("User-Agent"), maxClickField)
	}
	bot := get && e.MaxClicks != 0 && s.clicks.bots.isBot(userAgent)
	if e.MaxClicks != 0 && !s.underLimit(r, e, bot) {
		s.metrics.redirectExpired.Inc()
		return errGone("the link with short code %q reached its click limit", code)
	}
	if cached {
		s.metrics.redirectHit.Inc()
	} else {
		s.metrics.redirectMiss.Inc()
	}

	if get {
		s.clicks.record(store.Click{
			URLID:     e.URLID,
			UserID:    e.UserID,
			Time:      now,
			Referrer:  truncate(r.Header.Get("Referer"), maxClickField),
			UserAgent: userAgent,
			Bot:       bot,
		})
	}
	status := e.Status
	if status == 0 {
		status = s.opts.RedirectStatus
	}

	// The header is set directly, because http.Redirect would rewrite a
	// relative target and add an HTML body.
	w.Header()["Location"] = e.Location
	w.WriteHeader(status)
	return nil
}

// underLimit counts a GET against the link's click limit and reports
// whether it may redirect. A HEAD or a bot only checks.
func (s *Server) underLimit(r *http.Request, e cache.Entry, bot bool) bool {
	load := s.storedClicks(r, e.URLID)
	if r.Method == http.MethodGet && !bot {
		return s.limits.take(e.URLID, e.MaxClicks, load)
	}
	return s.limits.allows(e.URLID, e.MaxClicks, load)
}

// storedClicks returns a loader of the committed click count of a link,
// after writing the clicks still queued.
func (s *Server) storedClicks(r *http.Request, id uint64) func() uint64 {
	return func() uint64 {
		s.clicks.flush(r.Context())
		u, err := s.store.GetURL(id)
		if err != nil {
			return 0
		}
		return u.ClickCount
	}
}

// lookup finds the redirect entry of a code in the cache, or in the store
// on a miss, filling the cache either way. cached reports a cache hit.
func (s *Server) lookup(code string) (e cache.Entry, found, cached bool, err error) {
	if !store.ValidCode(code) {
		return e, false, false, nil
	}
	switch e, res := s.cache.Get(code); res {
	case cache.Hit:
		return e, true, true, nil
	case cache.Missing:
		return e, false, true, nil
	}

	gen := s.cache.Generation()
	u, err := s.store.LookupCode(code)
	if errors.Is(err, store.ErrNotFound) {
		s.cache.AddMissing(code, gen)
		return e, false, false, nil
	}
	if err != nil {
		return e, false, false, err
	}
	e = cache.Entry{
		URLID:     u.ID,
		UserID:    u.UserID,
		Location:  []string{locationFor(u.OriginalURL)},
		Active:    u.IsActive,
		MaxClicks: u.MaxClicks,
		Status:    u.RedirectType,
	}
	if !u.ExpiresAt.IsZero() {
		e.ExpiresAt = u.ExpiresAt.Unix()
	}
	s.cache.Add(code, e, gen)
	return e, true, false, nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// reservedWords are the first segments of the routes of this server and
// the paths kept for later routes, in lower case. The route table is built
// on a zero Server only to read its patterns.
var (
	reservedOnce  sync.Once
	reservedWords []string
)

func loadReservedWords() {
	// The internal routes of a cluster are served before any code route.
	reservedWords = append(slices.Clone(reservedPaths), strings.Trim(internalPrefix, "/"))
	for _, rt := range (&Server{}).routeTable() {
		_, path, _ := strings.Cut(rt.pattern, " ")
		first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if first != "" && !strings.HasPrefix(first, "{") {
			reservedWords = append(reservedWords, strings.ToLower(first))
		}
	}
}

// reservedCode reports whether code is, in any case, the first segment of a
// route of this server, so that a custom code can never shadow a route,
// present or added later to the table.
func reservedCode(code string) bool {
	reservedOnce.Do(loadReservedWords)
	return slices.Contains(reservedWords, strings.ToLower(code))
}
