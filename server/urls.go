package server

import (
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/linkbolt/linkbolt/store"
)

// maxTitleLength is the longest title, in characters.
const maxTitleLength = 512

// urlJSON is a URL as the API sends it.
type urlJSON struct {
	ID           uint64  `json:"id"`
	UserID       *uint64 `json:"user_id"`
	ShortCode    string  `json:"short_code"`
	OriginalURL  string  `json:"original_url"`
	Title        *string `json:"title"`
	IsActive     bool    `json:"is_active"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	ExpiresAt    *string `json:"expires_at"`
	MaxClicks    *uint64 `json:"max_clicks"`
	RedirectType int     `json:"redirect_type"`
	ClickCount   uint64  `json:"click_count"`

	// RedirectTypeDefault is true when the link sets no redirect status
	// and RedirectType is the server's --redirect-status, so that an
	// export can leave the status to the server that imports it.
	RedirectTypeDefault bool `json:"redirect_type_default"`
}

func (s *Server) urlView(u store.URL) urlJSON {
	v := urlJSON{
		ID:           u.ID,
		UserID:       optionalID(u.UserID),
		ShortCode:    u.ShortCode,
		OriginalURL:  u.OriginalURL,
		Title:        u.Title,
		IsActive:     u.IsActive,
		CreatedAt:    formatTime(u.CreatedAt),
		UpdatedAt:    formatTime(u.UpdatedAt),
		MaxClicks:    optionalID(u.MaxClicks),
		RedirectType: u.RedirectType,
		ClickCount:   u.ClickCount,
	}
	if !u.ExpiresAt.IsZero() {
		t := formatTime(u.ExpiresAt)
		v.ExpiresAt = &t
	}
	if v.RedirectType == 0 {
		v.RedirectType = s.opts.RedirectStatus
		v.RedirectTypeDefault = true
	}
	return v
}

// optionalID returns nil for zero, which the API sends as null.
func optionalID(v uint64) *uint64 {
	if v == 0 {
		return nil
	}
	return &v
}

// Fields of the JSON body of a link: an update may send
// urlUpdateFields, and a create may also send short_code.
var (
	urlUpdateFields = []string{"original_url", "title", "user_id", "is_active", "expires_at", "max_clicks", "redirect_type"}
	urlCreateFields = append(slices.Clone(urlUpdateFields), "short_code")
)

// readURLUpdate reads the fields shared by create and update. allowed is
// urlCreateFields or urlUpdateFields.
func readURLUpdate(obj object, allowed []string) (store.URLUpdate, error) {
	var up store.URLUpdate
	if err := obj.only(allowed...); err != nil {
		return up, err
	}
	if v, ok, err := obj.string("original_url"); err != nil {
		return up, err
	} else if ok {
		if err := checkTargetURL(v); err != nil {
			return up, invalidField("original_url", "%v", err)
		}
		up.OriginalURL = store.Some(v)
	}
	if v, ok, err := obj.nullableString("title"); err != nil {
		return up, err
	} else if ok {
		if v != nil && utf8.RuneCountInString(*v) > maxTitleLength {
			return up, invalidField("title", "title is longer than %d characters", maxTitleLength)
		}
		up.Title = store.Some(v)
	}
	if v, ok, err := obj.boolean("is_active"); err != nil {
		return up, err
	} else if ok {
		up.IsActive = store.Some(v)
	}
	if v, ok, err := obj.reference("user_id", "user"); err != nil {
		return up, err
	} else if ok {
		up.UserID = store.Some(v)
	}
	if err := readLinkOptions(obj, &up); err != nil {
		return up, err
	}
	return up, nil
}

// readLinkOptions reads expires_at, max_clicks and redirect_type.
func readLinkOptions(obj object, up *store.URLUpdate) error {
	if v, ok, err := obj.timestamp("expires_at"); err != nil {
		return err
	} else if ok {
		up.ExpiresAt = store.Some(v)
	}
	if raw, ok := obj["max_clicks"]; ok && !isNull(raw) {
		v, _, err := obj.integer("max_clicks")
		if err != nil || v <= 0 || v > store.MaxClickLimit {
			return invalidField("max_clicks", "max_clicks must be an integer from 1 to %d, or null for no limit", int64(store.MaxClickLimit))
		}
		up.MaxClicks = store.Some(uint64(v))
	} else if ok {
		up.MaxClicks = store.Some(uint64(0))
	}
	if raw, ok := obj["redirect_type"]; ok && isNull(raw) {
		// null puts the link back on the server's --redirect-status.
		up.RedirectType = store.Some(0)
	} else if v, ok, err := obj.integer("redirect_type"); err != nil {
		return err
	} else if ok {
		if !store.ValidRedirectStatus(int(v)) {
			return invalidField("redirect_type", "redirect_type must be 301, 302, 307, 308 or null for the server's default")
		}
		up.RedirectType = store.Some(int(v))
	}
	return nil
}

// readNewURL reads the body of POST /urls: the fields of the link and its
// custom code, where custom reports whether the body gives one.
func readNewURL(obj object) (up store.URLUpdate, code string, custom bool, err error) {
	up, err = readURLUpdate(obj, urlCreateFields)
	if err != nil {
		return up, "", false, err
	}
	if !up.OriginalURL.Set {
		return up, "", false, invalidField("original_url", "original_url is required")
	}
	// A link created already expired could never redirect, so its expiry
	// is a mistake such as a wrong year or zone. An update may still set
	// a past expiry, to end a link at once with 410.
	if expiry := up.ExpiresAt.Value; !expiry.IsZero() && !expiry.After(now()) {
		return up, "", false, invalidField("expires_at", "expires_at %s is not in the future; send a later time in UTC, or null for no expiry", formatTime(expiry))
	}
	code, custom, err = obj.string("short_code")
	if err != nil {
		return up, "", false, err
	}
	if custom && !store.ValidCode(code) {
		return up, "", false, invalidField("short_code", "short_code must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
	}
	if custom && reservedCode(code) {
		return up, "", false, invalidField("short_code", "short_code %q is a path of this API; choose another", code)
	}
	return up, code, custom, nil
}

func (s *Server) createURL(w http.ResponseWriter, r *http.Request) error {
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	up, code, _, err := readNewURL(obj)
	if err != nil {
		return err
	}

	u := store.URL{
		UserID:       up.UserID.Value,
		ShortCode:    code,
		OriginalURL:  up.OriginalURL.Value,
		Title:        up.Title.Value,
		IsActive:     !up.IsActive.Set || up.IsActive.Value,
		CreatedAt:    now(),
		ExpiresAt:    up.ExpiresAt.Value,
		MaxClicks:    up.MaxClicks.Value,
		RedirectType: up.RedirectType.Value,
	}
	u, err = s.store.CreateURL(u)
	if err != nil {
		return err
	}

	// A scan may have remembered the new code as unknown.
	s.cache.Remove(u.ShortCode)
	s.writeJSON(w, r, http.StatusCreated, s.urlView(u))
	return nil
}

func (s *Server) listURLs(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	p, err := parsePage(q)
	if err != nil {
		return err
	}
	var f store.URLFilter
	if f.UserID, err = idParam(q, "user_id"); err != nil {
		return err
	}
	if f.IsActive, err = boolParam(q, "is_active"); err != nil {
		return err
	}
	if f.ShortCode, err = stringParam(q, "short_code", 64); err != nil {
		return err
	}

	s.clicks.flush(r.Context())
	urls, total, err := s.store.ListURLs(f, p)
	if err != nil {
		return err
	}
	views := make([]urlJSON, 0, len(urls))
	for _, u := range urls {
		views = append(views, s.urlView(u))
	}
	s.writeList(w, r, p, total, views)
	return nil
}

func (s *Server) getURL(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "url")
	if err != nil {
		return err
	}
	s.clicks.flush(r.Context())
	u, err := s.store.GetURL(id)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.urlView(u))
	return nil
}

func (s *Server) updateURL(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "url")
	if err != nil {
		return err
	}
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	if _, ok := obj["short_code"]; ok {
		return invalidField("short_code", "short_code cannot change; create a new URL instead")
	}
	up, err := readURLUpdate(obj, urlUpdateFields)
	if err != nil {
		return err
	}

	s.clicks.flush(r.Context())
	u, err := s.store.UpdateURL(id, up)
	if err != nil {
		return err
	}
	s.cache.Remove(u.ShortCode)
	s.limits.forget(u.ID)
	s.writeJSON(w, r, http.StatusOK, s.urlView(u))
	return nil
}

func (s *Server) deleteURL(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "url")
	if err != nil {
		return err
	}
	// Clicks queued before the delete get event ids before its deleted
	// event.
	s.clicks.flush(r.Context())
	u, err := s.store.DeleteURL(id)
	if err != nil {
		return err
	}
	s.cache.Remove(u.ShortCode)
	s.limits.forget(u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// now returns the current time as records keep it: UTC, whole seconds.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Second)
}
