package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"
)

// purgeOptions are the flags of the purge command.
type purgeOptions struct {
	client        clientOptions
	inactive      bool
	expired       bool
	deleted       bool
	createdBefore string
	userID        uint64
	dryRun        bool
	changed       map[string]bool
}

func newPurgeCommand(g *globalOptions) *cobra.Command {
	o := &purgeOptions{}
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Remove old links and their events from the server",
		Long: "Remove links with their events. A link is removed when it is inactive or expired\n" +
			"(either, when both flags are given) and matches --created-before and --user-id\n" +
			"when they are given. --deleted also removes the events that deleted links left.\n" +
			"Purged codes are never issued again. --dry-run counts what would be removed and\n" +
			"removes nothing.\n\n" + clientHelp,
		Example: "  linkbolt purge --expired --inactive --dry-run\n" +
			"  linkbolt purge --created-before 2025-01-01T00:00:00",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.changed = changedFlags(cmd)
			return runPurge(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.inactive, "inactive", false, "links that are not active")
	f.BoolVar(&o.expired, "expired", false, "links past their expiry time or click limit")
	f.BoolVar(&o.deleted, "deleted", false, "the events of deleted links")
	f.StringVar(&o.createdBefore, "created-before", "", "only links created before this time, such as 2025-01-01T00:00:00")
	f.Uint64Var(&o.userID, "user-id", 0, "only links of this user")
	f.BoolVar(&o.dryRun, "dry-run", false, "count what would be removed, and remove nothing")
	addClientFlags(f, &o.client)
	describeRanges(f, map[string]string{"user-id": userIDRange})
	return cmd
}

// body returns the JSON body of POST /admin/purge. A purge without any
// filter is a usage error, so that a typo never empties the database.
func (o *purgeOptions) body() (map[string]any, error) {
	body := make(map[string]any)
	for name, set := range map[string]bool{"inactive": o.inactive, "expired": o.expired, "deleted": o.deleted} {
		if set {
			body[name] = true
		}
	}
	if o.changed["created-before"] {
		body["created_before"] = o.createdBefore
	}
	if err := checkUserIDFlag(o.changed, o.userID); err != nil {
		return nil, err
	}
	if o.changed["user-id"] {
		body["user_id"] = o.userID
	}
	if len(body) == 0 {
		return nil, usageError{errors.New("nothing to purge: give at least one of --inactive, --expired, --deleted, --created-before or --user-id")}
	}
	if o.dryRun {
		body["dry_run"] = true
	}
	return body, nil
}

// runPurge purges, or counts with --dry-run, and prints the counts.
func runPurge(ctx context.Context, out io.Writer, o *purgeOptions) error {
	body, err := o.body()
	if err != nil {
		return err
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	var res apiPurge
	raw, _, err := c.callJSON(ctx, http.MethodPost, "/admin/purge", nil, body, &res)
	if interrupted, ok := errors.AsType[*interruptedError](err); ok && o.dryRun {
		// A dry run changes nothing, so there is nothing to check.
		return interrupted
	}
	if err != nil {
		return err
	}
	if o.client.output == outputJSON {
		return writeJSON(out, json.RawMessage(raw))
	}
	links := countNoun(int64(res.Links), "link", "links")
	events := countNoun(int64(res.Events), "event", "events")
	if res.DryRun {
		_, err = fmt.Fprintf(out, "would remove %s and %s (dry run, nothing removed)\n", links, events)
		return err
	}
	_, err = fmt.Fprintf(out, "removed %s and %s\n", links, events)
	return err
}
