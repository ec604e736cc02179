package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"
)

// deleteOptions are the flags and arguments of the delete command.
type deleteOptions struct {
	client clientOptions
	ids    []string
}

func newDeleteCommand(g *globalOptions) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete ID...",
		Short: "Delete links",
		Long: "Delete the links with the given ids, in order, stopping at the first failure. A\n" +
			"deleted link answers 404, its events stay, and its code is never issued again.\n\n" +
			clientHelp,
		Example:     "  linkbolt delete 42 43",
		Args:        minArgs("ID"),
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ids = args
			return runDelete(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	addClientFlags(cmd.Flags(), &o.client)
	return cmd
}

// runDelete deletes the links and prints each id deleted.
func runDelete(ctx context.Context, out io.Writer, o *deleteOptions) error {
	return deleteEach(ctx, out, &o.client, "/urls/", "link", o.ids)
}

// deletedJSON is the JSON output of the delete commands.
type deletedJSON struct {
	Deleted []uint64 `json:"deleted"`
}

// deleteEach sends DELETE prefix+id for each id in order and stops at the
// first failure. The output names the records deleted before it, as lines
// of text or as one JSON object.
func deleteEach(ctx context.Context, out io.Writer, co *clientOptions, prefix, noun string, args []string) error {
	ids := make([]uint64, len(args))
	for i, arg := range args {
		id, err := parseID(arg)
		if err != nil {
			return err
		}
		ids[i] = id
	}
	c, err := newAPIClient(co)
	if err != nil {
		return err
	}
	defer c.close()

	done := deletedJSON{Deleted: []uint64{}}
	for _, id := range ids {
		if _, _, err = c.call(ctx, http.MethodDelete, prefix+strconv.FormatUint(id, 10), nil, nil); err != nil {
			break
		}
		done.Deleted = append(done.Deleted, id)
		if co.output == outputTable {
			fmt.Fprintf(out, "deleted %s %d\n", noun, id)
		}
	}
	if co.output == outputJSON {
		if jsonErr := writeJSON(out, done); err == nil {
			err = jsonErr
		}
	}
	return err
}
