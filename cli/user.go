package cli

import "github.com/spf13/cobra"

func newUserCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and delete the users of the server",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		newUserCreateCommand(g),
		newUserListCommand(g),
		newUserDeleteCommand(g),
	)
	return cmd
}
