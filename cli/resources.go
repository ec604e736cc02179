package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// apiUser is a user as the API sends it.
type apiUser struct {
	ID        uint64 `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
}

// apiURL is a link as the API sends it.
type apiURL struct {
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

	// RedirectTypeDefault is nil from servers that do not send the field.
	RedirectTypeDefault *bool `json:"redirect_type_default"`
}

// apiEvent is an event as the API sends it. Details is a JSON object.
type apiEvent struct {
	ID        uint64          `json:"id"`
	URLID     uint64          `json:"url_id"`
	UserID    *uint64         `json:"user_id"`
	EventType string          `json:"event_type"`
	Timestamp string          `json:"timestamp"`
	Details   json.RawMessage `json:"details"`
}

// apiStats is the click statistics of a link.
type apiStats struct {
	URLID       uint64  `json:"url_id"`
	ShortCode   string  `json:"short_code"`
	Clicks      uint64  `json:"clicks"`
	LastClickAt *string `json:"last_click_at"`
	Days        int     `json:"days"`
	ClicksByDay []struct {
		Date  string `json:"date"`
		Count uint64 `json:"count"`
	} `json:"clicks_by_day"`
	TopReferrers []struct {
		Referrer string `json:"referrer"`
		Count    uint64 `json:"count"`
	} `json:"top_referrers"`
}

// apiPurge is the result of a purge.
type apiPurge struct {
	DryRun bool   `json:"dry_run"`
	Links  uint64 `json:"links"`
	Events uint64 `json:"events"`
}

// apiBulkResult is the result of a bulk upload.
type apiBulkResult struct {
	Imported int `json:"imported"`
	Count    int `json:"count"`
}

// decodeItems decodes the raw items of a list.
func decodeItems[T any](items []json.RawMessage) ([]T, error) {
	out := make([]T, len(items))
	for i, raw := range items {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("invalid list item from the server: %w", err)
		}
	}
	return out, nil
}

// writeURLTable writes links as rows of id, code, active, clicks, target
// and creation time.
func writeURLTable(out io.Writer, urls []apiURL) error {
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tCODE\tACTIVE\tCLICKS\tTARGET\tCREATED")
	for _, u := range urls {
		writeRow(tw, strconv.FormatUint(u.ID, 10), u.ShortCode, strconv.FormatBool(u.IsActive),
			strconv.FormatUint(u.ClickCount, 10), truncateText(u.OriginalURL, maxTargetWidth), u.CreatedAt)
	}
	return tw.Flush()
}

// writeURLDetails writes every field of one link, one per line.
func writeURLDetails(out io.Writer, u apiURL, shortURL string) error {
	tw := newTable(out)
	rows := [][2]string{
		{"id", strconv.FormatUint(u.ID, 10)},
		{"short_code", u.ShortCode},
		{"short_url", shortURL},
		{"original_url", u.OriginalURL},
		{"title", cell(u.Title)},
		{"user_id", idCell(u.UserID)},
		{"is_active", strconv.FormatBool(u.IsActive)},
		{"click_count", strconv.FormatUint(u.ClickCount, 10)},
		{"max_clicks", idCell(u.MaxClicks)},
		{"expires_at", cell(u.ExpiresAt)},
		{"redirect_type", strconv.Itoa(u.RedirectType)},
		{"created_at", u.CreatedAt},
		{"updated_at", u.UpdatedAt},
	}
	for _, row := range rows {
		writeRow(tw, row[0], row[1])
	}
	return tw.Flush()
}

// writeUserTable writes users as rows of id, username, email and creation
// time.
func writeUserTable(out io.Writer, users []apiUser) error {
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tCREATED")
	for _, u := range users {
		writeRow(tw, strconv.FormatUint(u.ID, 10), u.Username, u.Email, u.CreatedAt)
	}
	return tw.Flush()
}

// writeStats writes the click totals of a link, then its clicks by day and
// its top referrers as tables.
func writeStats(out io.Writer, st apiStats) error {
	tw := newTable(out)
	writeRow(tw, "url_id", strconv.FormatUint(st.URLID, 10))
	writeRow(tw, "short_code", st.ShortCode)
	writeRow(tw, "clicks", fmt.Sprintf("%d (last %d days)", st.Clicks, st.Days))
	writeRow(tw, "last_click_at", cell(st.LastClickAt))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	tw = newTable(out)
	fmt.Fprintln(tw, "DATE\tCLICKS")
	for _, d := range st.ClicksByDay {
		writeRow(tw, d.Date, strconv.FormatUint(d.Count, 10))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	tw = newTable(out)
	fmt.Fprintln(tw, "REFERRER\tCLICKS")
	for _, r := range st.TopReferrers {
		ref := r.Referrer
		if ref == "" {
			ref = "(none)"
		}
		writeRow(tw, truncateText(ref, maxTargetWidth), strconv.FormatUint(r.Count, 10))
	}
	return tw.Flush()
}

// writePageNote prints, under one page of a list, how many more pages exist.
func writePageNote(out io.Writer, pr pageRequest, shown int, total int64, noun string) {
	perPage := int64(pr.perPage)
	if perPage == 0 {
		perPage = defaultListPerPage
	}
	pages := (total + perPage - 1) / perPage
	if pr.all || total < 0 || pages <= 1 {
		return
	}
	fmt.Fprintf(out, "\npage %d of %d, %d %s shown of %d; use --page N or --all for the rest\n",
		pr.page, pages, shown, noun, total)
}
