package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

// importOptions are the flags of the import command.
type importOptions struct {
	db     string
	users  string
	urls   string
	events string
}

func newImportCommand(g *globalOptions) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import --db FILE [--users users.csv] [--urls urls.csv] [--events events.csv]",
		Short: "Load seed CSV files into a database file while no server runs",
		Long: "Load users, urls and events CSV files (the seed format: a header row, then one record\n" +
			"per row) into a database file, in that order. Each file is loaded in one transaction:\n" +
			"an invalid row loads nothing of its file. Rows are upserted by id. The server must not\n" +
			"be running on the file; use the bulk API endpoints to load into a running server.",
		Example: "  linkbolt import --db linkbolt.db --users users.csv --urls urls.csv --events events.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImport(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "database file, created when missing (env LINKBOLT_DB)")
	f.StringVar(&o.users, "users", "", "users CSV file")
	f.StringVar(&o.urls, "urls", "", "urls CSV file")
	f.StringVar(&o.events, "events", "", "events CSV file")
	bindEnv(f, map[string]string{"db": "LINKBOLT_DB"})
	return cmd
}

// runImport loads the named files into the database.
func runImport(out io.Writer, o *importOptions) error {
	if o.users == "" && o.urls == "" && o.events == "" {
		return usageError{errors.New("nothing to import: give --users, --urls or --events")}
	}
	st, err := store.Open(o.db, nil)
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("%w; stop the server first, or load through its bulk endpoints", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()

	steps := []struct {
		name, path string
		load       func(*store.Store, io.Reader) (int, error)
	}{
		{"users", o.users, server.LoadUsersCSV},
		{"urls", o.urls, server.LoadURLsCSV},
		{"events", o.events, server.LoadEventsCSV},
	}
	for _, step := range steps {
		if step.path == "" {
			continue
		}
		n, err := importFile(st, step.path, step.load)
		if err != nil {
			return fmt.Errorf("import %s from %s: %w", step.name, step.path, err)
		}
		fmt.Fprintf(out, "imported %d %s from %s\n", n, step.name, step.path)
	}
	return nil
}

func importFile(st *store.Store, path string, load func(*store.Store, io.Reader) (int, error)) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return load(st, f)
}
