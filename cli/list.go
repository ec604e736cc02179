package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// defaultListPerPage is the page size the server uses when none is given.
const defaultListPerPage = 100

// listOptions are the flags of the list command.
type listOptions struct {
	client   clientOptions
	userID   uint64
	active   bool
	inactive bool
	code     string
	pages    pageFlags
	changed  map[string]bool
}

// pageFlags are the paging flags of the list commands.
type pageFlags struct {
	page    int
	perPage int
	all     bool
}

func newListCommand(g *globalOptions) *cobra.Command {
	o := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the links of the server",
		Long: "List links in id order, one page at a time unless --all follows every page.\n\n" +
			clientHelp,
		Example: "  linkbolt list --user-id 3 --active\n" +
			"  linkbolt list --all --output json",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.changed = changedFlags(cmd)
			return runList(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.userID, "user-id", 0, "only links of this user")
	f.BoolVar(&o.active, "active", false, "only active links")
	f.BoolVar(&o.inactive, "inactive", false, "only inactive links")
	f.StringVar(&o.code, "code", "", "only the link with this short code")
	addPageFlags(f, &o.pages)
	addClientFlags(f, &o.client)
	describeRanges(f, map[string]string{"user-id": userIDRange})
	return cmd
}

// addPageFlags binds the paging flags to f.
func addPageFlags(f *pflag.FlagSet, o *pageFlags) {
	f.IntVar(&o.page, "page", 1, "page to show, from 1")
	f.IntVar(&o.perPage, "per-page", 0, fmt.Sprintf("entries per page, 1 to %d (default %d, or %d with --all)", maxPerPage, defaultListPerPage, maxPerPage))
	f.BoolVar(&o.all, "all", false, "follow every page to the end of the list")
	describeRanges(f, map[string]string{
		"page":     fmt.Sprintf("an integer from 1 to %d", math.MaxInt),
		"per-page": fmt.Sprintf("an integer from 1 to %d", maxPerPage),
	})
}

// request checks the paging flags and returns the pages to fetch.
func (o pageFlags) request(changed map[string]bool) (pageRequest, error) {
	switch {
	case o.all && changed["page"]:
		return pageRequest{}, usageError{errors.New("--all and --page cannot be used together")}
	case o.page < 1:
		return pageRequest{}, usageError{fmt.Errorf("invalid --page %d: must be 1 or more", o.page)}
	case changed["per-page"] && (o.perPage < 1 || o.perPage > maxPerPage):
		return pageRequest{}, usageError{fmt.Errorf("invalid --per-page %d: must be 1 to %d", o.perPage, maxPerPage)}
	}
	pr := pageRequest{page: o.page, perPage: o.perPage, all: o.all}
	if o.all && pr.perPage == 0 {
		pr.perPage = maxPerPage
	}
	return pr, nil
}

// query returns the filters of GET /urls.
func (o *listOptions) query() (url.Values, error) {
	q := url.Values{}
	if o.active && o.inactive {
		return nil, usageError{errors.New("--active and --inactive cannot be used together")}
	}
	if o.active || o.inactive {
		q.Set("is_active", strconv.FormatBool(o.active))
	}
	if err := checkUserIDFlag(o.changed, o.userID); err != nil {
		return nil, err
	}
	if o.changed["user-id"] {
		q.Set("user_id", strconv.FormatUint(o.userID, 10))
	}
	if o.changed["code"] {
		q.Set("short_code", o.code)
	}
	return q, nil
}

// runList prints one page of links, or every page with --all.
func runList(ctx context.Context, out io.Writer, o *listOptions) error {
	q, err := o.query()
	if err != nil {
		return err
	}
	pr, err := o.pages.request(o.changed)
	if err != nil {
		return err
	}
	return printList(ctx, out, &o.client, "/urls", q, pr, "links", writeURLTable)
}

// printList fetches the requested pages of a list route and prints them as
// the API's JSON or as a table, with a note on the pages left.
func printList[T any](ctx context.Context, out io.Writer, co *clientOptions, path string, q url.Values, pr pageRequest, noun string, table func(io.Writer, []T) error) error {
	c, err := newAPIClient(co)
	if err != nil {
		return err
	}
	defer c.close()

	items, total, err := c.collect(ctx, path, q, pr)
	if err != nil {
		return err
	}
	if co.output == outputJSON {
		return writeJSON(out, items)
	}
	rows, err := decodeItems[T](items)
	if err != nil {
		return err
	}
	if err := table(out, rows); err != nil {
		return err
	}
	writePageNote(out, pr, len(rows), total, noun)
	return nil
}
