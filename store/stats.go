package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxTopReferrers is the length of the referrer ranking in Stats.
const maxTopReferrers = 10

// Stats summarises the clicks of one URL over a window of days.
type Stats struct {
	URLID     uint64
	ShortCode string

	// Clicks counts the clicks in the window.
	Clicks uint64

	// LastClickAt is the time of the newest click in the window; zero when
	// there is none.
	LastClickAt time.Time

	// ByDay has one entry per UTC day of the window, oldest first, days
	// without clicks included.
	ByDay []DayCount

	// TopReferrers lists the most frequent referrers, most clicks first,
	// ties by referrer. An empty referrer means a direct visit.
	TopReferrers []ReferrerCount
}

// DayCount is the number of clicks on one UTC day, at midnight.
type DayCount struct {
	Day   time.Time
	Count uint64
}

// ReferrerCount is the number of clicks from one referrer.
type ReferrerCount struct {
	Referrer string
	Count    uint64
}

// StatsOptions selects the window of URLStats.
type StatsOptions struct {
	// Days is the number of UTC days up to and including today.
	Days int

	// Now is the end of the window; zero means the current time.
	Now time.Time

	// Bots includes clicks from crawlers and link-preview fetchers.
	Bots bool
}

// countsAsClick reports whether an event is a click by a person.
func countsAsClick(ev *Event) bool {
	if ev.Type != EventClick {
		return false
	}
	var d clickDetails
	_ = json.Unmarshal(ev.Details, &d)
	return !d.Bot
}

// URLStats returns the click statistics of a URL. It walks the URL's
// events, so its cost grows with the number of events of that URL.
func (s *Store) URLStats(id uint64, opts StatsOptions) (Stats, error) {
	if opts.Days < 1 {
		return Stats{}, fmt.Errorf("stats window of %d days is not positive", opts.Days)
	}
	end := opts.Now
	if end.IsZero() {
		end = time.Now()
	}
	end = end.UTC()
	today := end.Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -(opts.Days - 1))

	st := Stats{URLID: id, ByDay: make([]DayCount, opts.Days)}
	for i := range st.ByDay {
		st.ByDay[i].Day = start.AddDate(0, 0, i)
	}
	referrers := map[string]uint64{}

	err := s.viewIndexed(func(tx *bolt.Tx) error {
		u, err := getURL(tx, id)
		if err != nil {
			return err
		}
		st.ShortCode = u.ShortCode

		events := tx.Bucket(bucketEvents)
		var walkErr error
		scanPrefix(tx.Bucket(bucketEventURLs), itob(id), func(evID uint64) bool {
			ev, err := decodeEvent(evID, events.Get(itob(evID)))
			if err != nil {
				walkErr = err
				return false
			}
			if ev.Type != EventClick || ev.Timestamp.Before(start) || ev.Timestamp.After(end) {
				return true
			}
			var d clickDetails
			_ = json.Unmarshal(ev.Details, &d)
			if d.Bot && !opts.Bots {
				return true
			}
			st.Clicks++
			if ev.Timestamp.After(st.LastClickAt) {
				st.LastClickAt = ev.Timestamp
			}
			st.ByDay[int(ev.Timestamp.Sub(start)/(24*time.Hour))].Count++
			referrers[d.Referrer]++
			return true
		})
		return walkErr
	})
	st.TopReferrers = topReferrers(referrers)
	return st, err
}

func topReferrers(counts map[string]uint64) []ReferrerCount {
	top := make([]ReferrerCount, 0, len(counts))
	for r, n := range counts {
		top = append(top, ReferrerCount{Referrer: r, Count: n})
	}
	slices.SortFunc(top, func(a, b ReferrerCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Referrer, b.Referrer)
	})
	return top[:min(len(top), maxTopReferrers)]
}
