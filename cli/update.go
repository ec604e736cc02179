package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/store"
)

// updateOptions are the flags and argument of the update command.
type updateOptions struct {
	client       clientOptions
	id           string
	title        string
	noTitle      bool
	target       string
	active       bool
	inactive     bool
	userID       uint64
	noUser       bool
	expiresAt    string
	noExpiry     bool
	maxClicks    uint64
	noMaxClicks  bool
	redirectType int
	noRedirect   bool

	// changed holds the flags given on the command line: only those are
	// sent.
	changed map[string]bool
}

func newUpdateCommand(g *globalOptions) *cobra.Command {
	o := &updateOptions{}
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change fields of a link",
		Long: "Change the given fields of the link with id ID and print the link. Fields without\n" +
			"a flag keep their value; the --no-* flags clear a field. The short code cannot\n" +
			"change.\n\n" + clientHelp,
		Example: "  linkbolt update 42 --title 'Spring sale' --max-clicks 500\n" +
			"  linkbolt update 42 --inactive --no-expiry",
		Args:        exactArgs("ID"),
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.id = args[0]
			o.changed = changedFlags(cmd)
			return runUpdate(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.title, "title", "", "new title")
	f.BoolVar(&o.noTitle, "no-title", false, "remove the title")
	f.StringVar(&o.target, "url", "", "new target URL")
	f.BoolVar(&o.active, "active", false, "make the link redirect")
	f.BoolVar(&o.inactive, "inactive", false, "stop the link from redirecting")
	f.Uint64Var(&o.userID, "user-id", 0, "id of the new owner")
	f.BoolVar(&o.noUser, "no-user", false, "remove the owner")
	f.StringVar(&o.expiresAt, "expires-at", "", "time after which the link answers 410 Gone")
	f.BoolVar(&o.noExpiry, "no-expiry", false, "remove the expiry time")
	f.Uint64Var(&o.maxClicks, "max-clicks", 0, "clicks after which the link answers 410 Gone")
	f.BoolVar(&o.noMaxClicks, "no-max-clicks", false, "remove the click limit")
	f.IntVar(&o.redirectType, "redirect-type", 0, "HTTP status of the redirect: 301, 302, 307 or 308")
	f.BoolVar(&o.noRedirect, "no-redirect-type", false, "remove the link's own redirect status, so that the server's --redirect-status applies")
	addClientFlags(f, &o.client)
	describeRanges(f, map[string]string{
		"user-id":       userIDRange,
		"max-clicks":    maxClicksRange,
		"redirect-type": redirectTypes,
	})
	return cmd
}

// updateField is one field of PUT /urls/{id}: the flag that sets it and
// its value, and the flag that clears it, if any, and the value it sends.
type updateField struct {
	name      string
	flag      string
	value     any
	clearFlag string
	clear     *bool
	cleared   any
}

// body returns the JSON body of PUT /urls/{id} with the fields given. A
// field set and cleared at once, or no field at all, is a usage error.
func (o *updateOptions) body() (map[string]any, error) {
	fields := []updateField{
		{"title", "title", o.title, "no-title", &o.noTitle, nil},
		{"original_url", "url", o.target, "", nil, nil},
		{"is_active", "active", o.active, "inactive", &o.inactive, false},
		{"user_id", "user-id", o.userID, "no-user", &o.noUser, nil},
		{"expires_at", "expires-at", o.expiresAt, "no-expiry", &o.noExpiry, nil},
		{"max_clicks", "max-clicks", o.maxClicks, "no-max-clicks", &o.noMaxClicks, nil},
		{"redirect_type", "redirect-type", o.redirectType, "no-redirect-type", &o.noRedirect, nil},
	}
	body := make(map[string]any)
	for _, f := range fields {
		set := o.changed[f.flag]
		clear := f.clear != nil && *f.clear
		switch {
		case set && clear:
			return nil, usageError{fmt.Errorf("--%s and --%s cannot be used together", f.flag, f.clearFlag)}
		case set:
			body[f.name] = f.value
		case clear:
			body[f.name] = f.cleared
		}
	}
	if len(body) == 0 {
		return nil, usageError{errors.New("nothing to update: give at least one field flag, such as --title or --inactive")}
	}
	return body, nil
}

// runUpdate sends the given fields and prints the updated link.
func runUpdate(ctx context.Context, out io.Writer, o *updateOptions) error {
	id, err := parseID(o.id)
	if err != nil {
		return err
	}
	body, err := o.body()
	if err != nil {
		return err
	}
	if err := checkLinkFlags(o.changed, o.userID, o.maxClicks, o.redirectType); err != nil {
		return err
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	var u apiURL
	raw, _, err := c.callJSON(ctx, http.MethodPut, "/urls/"+strconv.FormatUint(id, 10), nil, body, &u)
	if err != nil {
		return err
	}
	if o.client.output == outputJSON {
		return writeJSON(out, json.RawMessage(raw))
	}
	return writeURLDetails(out, u, c.shortURL(u.ShortCode))
}

// parseID parses an id argument: an integer from 1 to store.MaxID, the
// ids of the API.
func parseID(arg string) (uint64, error) {
	id, err := strconv.ParseUint(arg, 10, 64)
	if err != nil || id == 0 || id > store.MaxID {
		return 0, usageError{fmt.Errorf("invalid id %q: ids are integers from 1 to %d", arg, uint64(store.MaxID))}
	}
	return id, nil
}
