package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/spf13/cobra"
)

// userCreateOptions are the flags and arguments of the user create
// command.
type userCreateOptions struct {
	client   clientOptions
	username string
	email    string
}

func newUserCreateCommand(g *globalOptions) *cobra.Command {
	o := &userCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create USERNAME EMAIL",
		Short: "Create a user",
		Long: "Create a user. Usernames and emails are unique, compared without regard to case.\n\n" +
			clientHelp,
		Example:     "  linkbolt user create alice alice@example.com",
		Args:        exactArgs("USERNAME", "EMAIL"),
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.username, o.email = args[0], args[1]
			return runUserCreate(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	addClientFlags(cmd.Flags(), &o.client)
	return cmd
}

// runUserCreate creates the user and prints it.
func runUserCreate(ctx context.Context, out io.Writer, o *userCreateOptions) error {
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	var u apiUser
	body := map[string]string{"username": o.username, "email": o.email}
	raw, _, err := c.callJSON(ctx, http.MethodPost, "/users", nil, body, &u)
	if err != nil {
		return err
	}
	if o.client.output == outputJSON {
		return writeJSON(out, json.RawMessage(raw))
	}
	return writeUserTable(out, []apiUser{u})
}
