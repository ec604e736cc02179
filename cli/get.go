package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

// maxStatsDays is the largest --days that the server accepts.
const maxStatsDays = 3660

// statsDaysRange is the range of --days.
var statsDaysRange = fmt.Sprintf("an integer from 1 to %d", maxStatsDays)

// getOptions are the flags and argument of the get command.
type getOptions struct {
	client  clientOptions
	ref     string // id or short code
	stats   bool
	days    int
	changed map[string]bool
}

func newGetCommand(g *globalOptions) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get ID|CODE",
		Short: "Show one link, or its click statistics",
		Long: "Show every field of one link, named by its id or its short code. An argument of\n" +
			"digits only is looked up as an id first, then as a short code. --stats shows the\n" +
			"link's clicks by day and top referrers instead.\n\n" + clientHelp,
		Example: "  linkbolt get 42\n" +
			"  linkbolt get docs --stats --days 7",
		Args:        exactArgs("ID or CODE"),
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ref = args[0]
			o.changed = changedFlags(cmd)
			return runGet(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.stats, "stats", false, "show the click statistics of the link")
	f.IntVar(&o.days, "days", 30, "days of statistics, counted back from today; needs --stats")
	addClientFlags(f, &o.client)
	describeRanges(f, map[string]string{"days": statsDaysRange})
	return cmd
}

// runGet prints the link, or its statistics with --stats.
func runGet(ctx context.Context, out io.Writer, o *getOptions) error {
	if o.changed["days"] && !o.stats {
		return usageError{errors.New("--days needs --stats")}
	}
	if o.changed["days"] && (o.days < 1 || o.days > maxStatsDays) {
		return outOfRange("days", o.days, statsDaysRange)
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	raw, u, err := findURL(ctx, c, o.ref)
	if err != nil {
		return err
	}
	if !o.stats {
		if o.client.output == outputJSON {
			return writeJSON(out, raw)
		}
		return writeURLDetails(out, u, c.shortURL(u.ShortCode))
	}

	q := url.Values{}
	if o.changed["days"] {
		q.Set("days", strconv.Itoa(o.days))
	}
	var st apiStats
	raw, _, err = c.callJSON(ctx, http.MethodGet, fmt.Sprintf("/urls/%d/stats", u.ID), q, nil, &st)
	if err != nil {
		return err
	}
	if o.client.output == outputJSON {
		return writeJSON(out, json.RawMessage(raw))
	}
	return writeStats(out, st)
}

// findURL returns the link named by an id or a short code. Digits only are
// tried as an id first, because a custom code may also be all digits.
func findURL(ctx context.Context, c *apiClient, ref string) (json.RawMessage, apiURL, error) {
	var u apiURL
	if _, err := strconv.ParseUint(ref, 10, 64); err == nil {
		raw, _, err := c.callJSON(ctx, http.MethodGet, "/urls/"+ref, nil, nil, &u)
		if notFound := isStatus(err, http.StatusNotFound); !notFound {
			return raw, u, err
		}
	}

	q := url.Values{"short_code": {ref}}
	items, _, err := c.collect(ctx, "/urls", q, pageRequest{page: 1, perPage: 1})
	if err != nil {
		return nil, u, err
	}
	if len(items) == 0 {
		return nil, u, &serverError{
			op:      "GET /urls?short_code=" + url.QueryEscape(ref),
			status:  http.StatusNotFound,
			message: fmt.Sprintf("no link with the id or short code %q", ref),
		}
	}
	if err := json.Unmarshal(items[0], &u); err != nil {
		return nil, u, fmt.Errorf("invalid link from the server: %w", err)
	}
	return items[0], u, nil
}

// isStatus reports whether err is a response of the server with status.
func isStatus(err error, status int) bool {
	se, ok := errors.AsType[*serverError](err)
	return ok && se.status == status
}
