package store

import (
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// User is a person who owns links.
type User struct {
	ID        uint64
	Username  string
	Email     string
	CreatedAt time.Time
}

// URL is a short link. A zero UserID means the link has no owner, and a nil
// Title means the link has no title.
type URL struct {
	ID          uint64
	UserID      uint64
	ShortCode   string
	OriginalURL string
	Title       *string
	IsActive    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time

	// ExpiresAt is the time after which the link stops redirecting; zero
	// means never.
	ExpiresAt time.Time

	// MaxClicks is the number of clicks after which the link stops
	// redirecting; zero means no limit. It is at most MaxClickLimit.
	MaxClicks uint64

	// RedirectType is the HTTP status of the redirect; zero means the
	// server's default.
	RedirectType int

	// ClickCount is the number of clicks recorded for the link. It is kept
	// apart from the record and filled in by reads.
	ClickCount uint64
}

// ValidRedirectStatus reports whether code is a status that a link may
// redirect with: 301, 302, 307 or 308.
func ValidRedirectStatus(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// MaxClickLimit is the largest URL.MaxClicks, 2^63 − 1, because the API
// reads integers as int64. Writes reject a larger limit, so that every
// stored limit survives an export and an import, and reads report one as
// ErrCorrupt.
const MaxClickLimit = math.MaxInt64

// Event is something that happened to a link. A zero UserID means no user.
// Details is always a JSON object.
type Event struct {
	ID        uint64
	URLID     uint64
	UserID    uint64
	Type      string
	Timestamp time.Time
	Details   json.RawMessage
}

// Event types written by the store itself.
const (
	EventCreated = "created"
	EventUpdated = "updated"
	EventDeleted = "deleted"
	EventClick   = "click"
)

// Page selects one page of a list. Page counts from 1.
type Page struct {
	Page    int
	PerPage int
}

// offset returns the number of matches to skip before the page starts.
func (p Page) offset() int {
	return (p.Page - 1) * p.PerPage
}

// URLFilter narrows a list of URLs. Nil fields match everything.
type URLFilter struct {
	UserID    *uint64
	IsActive  *bool
	ShortCode *string
}

// EventFilter narrows a list of events. Nil fields match everything.
type EventFilter struct {
	URLID  *uint64
	UserID *uint64
	Type   *string
}

// Click is one redirect to be recorded as a click event. A click from a
// crawler or link-preview fetcher has Bot set: it is recorded, but counts
// neither in the click count nor in stats.
type Click struct {
	URLID     uint64
	UserID    uint64
	Time      time.Time
	Referrer  string
	UserAgent string
	Bot       bool
}

// Counts holds the number of records of each kind.
type Counts struct {
	Users  uint64
	URLs   uint64
	Events uint64
}
