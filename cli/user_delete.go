package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// userDeleteOptions are the flags and arguments of the user delete
// command.
type userDeleteOptions struct {
	client clientOptions
	ids    []string
}

func newUserDeleteCommand(g *globalOptions) *cobra.Command {
	o := &userDeleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete users",
		Long: "Delete the users with the given ids, in order, stopping at the first failure. The\n" +
			"links of a deleted user keep redirecting and lose their owner.\n\n" + clientHelp,
		Example:     "  linkbolt user delete 7",
		Args:        minArgs("ID"),
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ids = args
			return runUserDelete(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	addClientFlags(cmd.Flags(), &o.client)
	return cmd
}

// runUserDelete deletes the users and prints each id deleted.
func runUserDelete(ctx context.Context, out io.Writer, o *userDeleteOptions) error {
	return deleteEach(ctx, out, &o.client, "/users/", "user", o.ids)
}
