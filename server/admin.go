package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// Stats window limits, in days.
const (
	defaultStatsDays = 30
	maxStatsDays     = 3660
)

type statsJSON struct {
	URLID        uint64         `json:"url_id"`
	ShortCode    string         `json:"short_code"`
	Clicks       uint64         `json:"clicks"`
	LastClickAt  *string        `json:"last_click_at"`
	Days         int            `json:"days"`
	ClicksByDay  []dayJSON      `json:"clicks_by_day"`
	TopReferrers []referrerJSON `json:"top_referrers"`
}

type dayJSON struct {
	Date  string `json:"date"`
	Count uint64 `json:"count"`
}

type referrerJSON struct {
	Referrer string `json:"referrer"`
	Count    uint64 `json:"count"`
}

// urlStats returns the click statistics of a URL over the last days.
func (s *Server) urlStats(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "url")
	if err != nil {
		return err
	}
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	days := defaultStatsDays
	if v, ok := queryValue(q, "days"); ok {
		if days, err = strconv.Atoi(v); err != nil || days < 1 || days > maxStatsDays {
			return invalidField("days", "days must be an integer from 1 to %d, got %q", maxStatsDays, truncate(v, maxEcho))
		}
	}
	bots, err := boolParam(q, "include_bots")
	if err != nil {
		return err
	}

	s.clicks.flush(r.Context())
	st, err := s.store.URLStats(id, store.StatsOptions{Days: days, Bots: bots != nil && *bots})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, statsView(st, days))
	return nil
}

func statsView(st store.Stats, days int) statsJSON {
	v := statsJSON{
		URLID:        st.URLID,
		ShortCode:    st.ShortCode,
		Clicks:       st.Clicks,
		Days:         days,
		ClicksByDay:  make([]dayJSON, 0, len(st.ByDay)),
		TopReferrers: make([]referrerJSON, 0, len(st.TopReferrers)),
	}
	if !st.LastClickAt.IsZero() {
		t := formatTime(st.LastClickAt)
		v.LastClickAt = &t
	}
	for _, d := range st.ByDay {
		v.ClicksByDay = append(v.ClicksByDay, dayJSON{Date: d.Day.Format(time.DateOnly), Count: d.Count})
	}
	for _, ref := range st.TopReferrers {
		v.TopReferrers = append(v.TopReferrers, referrerJSON{Referrer: ref.Referrer, Count: ref.Count})
	}
	return v
}

type purgeJSON struct {
	DryRun bool   `json:"dry_run"`
	Links  uint64 `json:"links"`
	Events uint64 `json:"events"`
}

// purge removes inactive, expired or old links and the events of deleted
// links, or counts them with dry_run.
func (s *Server) purge(w http.ResponseWriter, r *http.Request) error {
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	f, dryRun, err := readPurgeFilter(obj)
	if err != nil {
		return err
	}

	s.clicks.flush(r.Context())
	res, err := s.store.Purge(f, dryRun)
	if err != nil {
		return err
	}
	if !dryRun {
		for _, code := range res.Codes {
			s.cache.Remove(code)
		}
		s.log.Info("purged links", "links", res.Links, "events", res.Events)
	}
	s.writeJSON(w, r, http.StatusOK, purgeJSON{DryRun: dryRun, Links: res.Links, Events: res.Events})
	return nil
}

// readPurgeFilter reads the filters of a purge. At least one must select
// something, so that an empty body never empties the database.
func readPurgeFilter(obj object) (store.PurgeFilter, bool, error) {
	var f store.PurgeFilter
	if err := obj.only("inactive", "expired", "deleted", "created_before", "user_id", "dry_run"); err != nil {
		return f, false, err
	}
	flags := []struct {
		name string
		dst  *bool
	}{{"inactive", &f.Inactive}, {"expired", &f.Expired}, {"deleted", &f.Deleted}}
	for _, fl := range flags {
		v, _, err := obj.boolean(fl.name)
		if err != nil {
			return f, false, err
		}
		*fl.dst = v
	}
	var err error
	if f.CreatedBefore, _, err = obj.timestamp("created_before"); err != nil {
		return f, false, err
	}
	if f.UserID, _, err = obj.reference("user_id", "user"); err != nil {
		return f, false, err
	}
	dryRun, _, err := obj.boolean("dry_run")
	if err != nil {
		return f, false, err
	}
	if !f.Inactive && !f.Expired && !f.Deleted && f.CreatedBefore.IsZero() && f.UserID == 0 {
		return f, false, invalidField("", "purge needs at least one of inactive, expired, deleted, created_before or user_id")
	}
	return f, dryRun, nil
}

// backup streams a consistent copy of the database file while the server
// goes on serving.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	name := "linkbolt-" + time.Now().UTC().Format("20060102T150405Z") + ".db"
	started := false
	n, err := s.store.Backup(w, func(size int64) {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		started = true
	})
	if err != nil && started {
		// The status is sent, so the client sees a short body.
		s.log.Error("backup failed", "error", err, "bytes", n)
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("backup sent", "bytes", n)
	return nil
}
