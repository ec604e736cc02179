package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// userListOptions are the flags of the user list command.
type userListOptions struct {
	client  clientOptions
	pages   pageFlags
	changed map[string]bool
}

func newUserListCommand(g *globalOptions) *cobra.Command {
	o := &userListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the users",
		Long: "List users in id order, one page at a time unless --all follows every page.\n\n" +
			clientHelp,
		Example:     "  linkbolt user list --all",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.changed = changedFlags(cmd)
			return runUserList(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	addPageFlags(f, &o.pages)
	addClientFlags(f, &o.client)
	return cmd
}

// runUserList prints one page of users, or every page with --all.
func runUserList(ctx context.Context, out io.Writer, o *userListOptions) error {
	pr, err := o.pages.request(o.changed)
	if err != nil {
		return err
	}
	return printList(ctx, out, &o.client, "/users", nil, pr, "users", writeUserTable)
}
