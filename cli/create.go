package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/store"
)

// createOptions are the flags and argument of the create command.
type createOptions struct {
	client       clientOptions
	target       string
	code         string
	title        string
	userID       uint64
	expiresAt    string
	maxClicks    uint64
	redirectType int
	inactive     bool

	// changed holds the flags given on the command line: only those are
	// sent.
	changed map[string]bool
}

func newCreateCommand(g *globalOptions) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create URL",
		Short: "Create a short link on the server",
		Long: "Create a short link to URL on a running server and print it with its short URL.\n" +
			"The server picks a code unless --code names one. Times are UTC, such as\n" +
			"2026-01-31T23:59:59, or carry an offset.\n\n" + clientHelp,
		Example: "  linkbolt create https://example.com/docs --code docs --title Docs\n" +
			"  linkbolt create https://example.com/sale --expires-at 2026-12-31T23:59:59 --max-clicks 100",
		Args:        exactArgs("URL"),
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.target = args[0]
			o.changed = changedFlags(cmd)
			return runCreate(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.code, "code", "", "custom short code: 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
	f.StringVar(&o.title, "title", "", "title of the link")
	f.Uint64Var(&o.userID, "user-id", 0, "id of the user who owns the link")
	f.StringVar(&o.expiresAt, "expires-at", "", "time after which the link answers 410 Gone")
	f.Uint64Var(&o.maxClicks, "max-clicks", 0, "clicks after which the link answers 410 Gone")
	f.IntVar(&o.redirectType, "redirect-type", 0, "HTTP status of the redirect: 301, 302, 307 or 308 (default: the server's)")
	f.BoolVar(&o.inactive, "inactive", false, "create the link inactive, so that it does not redirect yet")
	addClientFlags(f, &o.client)
	describeRanges(f, map[string]string{
		"user-id":       userIDRange,
		"max-clicks":    maxClicksRange,
		"redirect-type": redirectTypes,
	})
	return cmd
}

// maxClicksRange is the range of --max-clicks, the same as that of the
// max_clicks field of the API and of a urls CSV.
var maxClicksRange = fmt.Sprintf("an integer from 1 to %d", uint64(store.MaxClickLimit))

// redirectTypes is the range of --redirect-type.
const redirectTypes = "301, 302, 307 or 308"

// checkLinkFlags checks the --user-id, --max-clicks and --redirect-type
// of create and update, when given, so that a value that the server
// rejects is a usage error.
func checkLinkFlags(changed map[string]bool, userID, maxClicks uint64, redirectType int) error {
	if err := checkUserIDFlag(changed, userID); err != nil {
		return err
	}
	if changed["max-clicks"] && (maxClicks == 0 || maxClicks > store.MaxClickLimit) {
		return outOfRange("max-clicks", maxClicks, maxClicksRange)
	}
	if changed["redirect-type"] && !store.ValidRedirectStatus(redirectType) {
		return outOfRange("redirect-type", redirectType, redirectTypes)
	}
	return nil
}

// body returns the JSON body of POST /urls with the fields given.
func (o *createOptions) body() map[string]any {
	body := map[string]any{"original_url": o.target}
	if o.changed["code"] {
		body["short_code"] = o.code
	}
	if o.changed["title"] {
		body["title"] = o.title
	}
	if o.changed["user-id"] {
		body["user_id"] = o.userID
	}
	if o.changed["expires-at"] {
		body["expires_at"] = o.expiresAt
	}
	if o.changed["max-clicks"] {
		body["max_clicks"] = o.maxClicks
	}
	if o.changed["redirect-type"] {
		body["redirect_type"] = o.redirectType
	}
	if o.inactive {
		body["is_active"] = false
	}
	return body
}

// runCreate creates the link and prints its id, code, short URL and target.
func runCreate(ctx context.Context, out io.Writer, o *createOptions) error {
	if err := checkLinkFlags(o.changed, o.userID, o.maxClicks, o.redirectType); err != nil {
		return err
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	var u apiURL
	raw, _, err := c.callJSON(ctx, http.MethodPost, "/urls", nil, o.body(), &u)
	if err != nil {
		return err
	}
	if o.client.output == outputJSON {
		return writeJSON(out, json.RawMessage(raw))
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tCODE\tSHORT_URL\tTARGET")
	writeRow(tw, strconv.FormatUint(u.ID, 10), u.ShortCode, c.shortURL(u.ShortCode), u.OriginalURL)
	return tw.Flush()
}
