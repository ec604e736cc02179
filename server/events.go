package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/linkbolt/linkbolt/store"
)

// maxEventType is the longest event type, in characters.
const maxEventType = 64

// eventJSON is an event as the API sends it.
type eventJSON struct {
	ID        uint64          `json:"id"`
	URLID     uint64          `json:"url_id"`
	UserID    *uint64         `json:"user_id"`
	EventType string          `json:"event_type"`
	Timestamp string          `json:"timestamp"`
	Details   json.RawMessage `json:"details"`
}

func eventView(ev store.Event) eventJSON {
	details := ev.Details
	if len(details) == 0 {
		details = json.RawMessage("{}")
	}
	return eventJSON{
		ID:        ev.ID,
		URLID:     ev.URLID,
		UserID:    optionalID(ev.UserID),
		EventType: ev.Type,
		Timestamp: formatTime(ev.Timestamp),
		Details:   details,
	}
}

// checkEventType validates an event type: 1 to 64 characters, no control
// characters.
func checkEventType(t string) error {
	if strings.TrimSpace(t) == "" || utf8.RuneCountInString(t) > maxEventType {
		return invalidField("event_type", "event_type must be 1 to %d characters", maxEventType)
	}
	for _, r := range t {
		if r < 0x20 || r == 0x7f {
			return invalidField("event_type", "event_type must not contain control characters")
		}
	}
	return nil
}

func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) error {
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	if err := obj.only("event_type", "url_id", "user_id", "details", "timestamp"); err != nil {
		return err
	}
	ev, err := readEvent(obj)
	if err != nil {
		return err
	}

	ev, err = s.store.CreateEvent(ev)
	if err != nil {
		return err
	}
	s.limits.forget(ev.URLID)
	s.writeJSON(w, r, http.StatusCreated, eventView(ev))
	return nil
}

// readEvent reads the fields of a new event.
func readEvent(obj object) (store.Event, error) {
	var ev store.Event
	typ, ok, err := obj.string("event_type")
	if err != nil {
		return ev, err
	}
	if !ok {
		return ev, invalidField("event_type", "event_type is required")
	}
	if err := checkEventType(typ); err != nil {
		return ev, err
	}
	ev.Type = typ

	urlID, ok, err := obj.reference("url_id", "url")
	if err != nil {
		return ev, err
	}
	if !ok || urlID == 0 {
		return ev, invalidField("url_id", "url_id is required and must be an integer id")
	}
	ev.URLID = urlID
	if ev.UserID, _, err = obj.reference("user_id", "user"); err != nil {
		return ev, err
	}
	if ev.Details, err = obj.details("details"); err != nil {
		return ev, err
	}
	ev.Timestamp, _, err = obj.timestamp("timestamp")
	return ev, err
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	p, err := parsePage(q)
	if err != nil {
		return err
	}
	var f store.EventFilter
	if f.URLID, err = idParam(q, "url_id"); err != nil {
		return err
	}
	if f.UserID, err = idParam(q, "user_id"); err != nil {
		return err
	}
	if f.Type, err = stringParam(q, "event_type", maxEventType); err != nil {
		return err
	}
	// A type that no event may have is a mistake, not an empty list.
	if f.Type != nil {
		if err := checkEventType(*f.Type); err != nil {
			return err
		}
	}

	// Clicks are written in batches; a client that has received its
	// redirect must already see its click here.
	s.clicks.flush(r.Context())
	events, total, err := s.store.ListEvents(f, p)
	if err != nil {
		return err
	}
	views := make([]eventJSON, 0, len(events))
	for _, ev := range events {
		views = append(views, eventView(ev))
	}
	s.writeList(w, r, p, total, views)
	return nil
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "event")
	if err != nil {
		return err
	}
	s.clicks.flush(r.Context())
	ev, err := s.store.GetEvent(id)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, eventView(ev))
	return nil
}
