package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/store"
)

// compactOptions are the flags of the compact command.
type compactOptions struct {
	db     string
	out    string
	output outputFormat

	// dbFlag names the source of --db in messages: the flag or its
	// environment variable.
	dbFlag string
}

func newCompactCommand() *cobra.Command {
	o := &compactOptions{output: outputTable}
	cmd := &cobra.Command{
		Use:   "compact --db FILE [--out NEWFILE]",
		Short: "Rewrite a database file without its free pages while no server runs on it",
		Long: "Copy a database file into a new file that leaves out the pages freed by deletes and\n" +
			"purges, and fsync it. Without --out the copy then replaces FILE by a rename in the same\n" +
			"directory, so FILE is always either the old or the new file; the directory needs room\n" +
			"for both while the command runs. With --out the copy is written to NEWFILE, which must\n" +
			"not exist, and FILE is left as it is. The server must not be running on the file.\n\n" +
			"The copy is written to .NAME.compact-DIGITS beside its target. SIGINT or SIGTERM\n" +
			"stops the copy and removes that file, and FILE stays as it was. A compact that was\n" +
			"killed (kill -9) leaves the file; the next compact into the same target removes every\n" +
			"such file that no process holds, and check --db reports them.\n\n" +
			"bbolt grows a file in steps rather than page by page, so a file with few free\n" +
			"pages can come out the same size or slightly larger.",
		Example: "  linkbolt compact --db linkbolt.db\n" +
			"  linkbolt compact --db linkbolt.db --out linkbolt-compact.db",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.dbFlag = flagName(cmd.Flags(), "db")
			return runCompact(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "database file to compact (env LINKBOLT_DB)")
	f.StringVar(&o.out, "out", "", "write the compacted copy to this new file instead of replacing --db")
	f.VarP(&o.output, "output", "o", "output format: table or json (env LINKBOLT_OUTPUT)")
	bindEnv(f, map[string]string{"db": "LINKBOLT_DB", "output": "LINKBOLT_OUTPUT"})
	return cmd
}

// compactJSON is the --output json form of a compaction.
type compactJSON struct {
	DB           string   `json:"db"`
	Path         string   `json:"path"`
	Before       int64    `json:"before_bytes"`
	After        int64    `json:"after_bytes"`
	RemovedTemps []string `json:"removed_temp_files"`
}

// runCompact compacts the file and prints the sizes before and after, and
// the temporary files of killed compactions that it removed.
func runCompact(ctx context.Context, out io.Writer, o *compactOptions) error {
	if o.db == "" {
		return usageError{errors.New("missing --db FILE: the database file to compact")}
	}
	if err := checkInputFile(o.dbFlag, o.db, "compact reads only regular database files"); err != nil {
		return err
	}
	res, err := store.Compact(ctx, o.db, o.out, nil)
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("%w; stop the server first", err)
	}
	if _, ok := errors.AsType[*interruptedError](err); ok {
		return fmt.Errorf("%w; the partial copy was removed and %s is unchanged", err, o.db)
	}
	if err != nil {
		return err
	}

	if o.output == outputJSON {
		removed := res.RemovedTemps
		if removed == nil {
			removed = []string{}
		}
		return writeJSON(out, compactJSON{DB: o.db, Path: res.Path, Before: res.Before, After: res.After, RemovedTemps: removed})
	}
	for _, tmp := range res.RemovedTemps {
		fmt.Fprintf(out, "removed %s, a temporary file that a killed compact left\n", tmp)
	}
	fmt.Fprintf(out, "compacted %s into %s: %d bytes before, %d after", o.db, res.Path, res.Before, res.After)
	if res.After < res.Before {
		fmt.Fprintf(out, " (%.0f%% smaller)", 100*float64(res.Before-res.After)/float64(res.Before))
	}
	_, err = fmt.Fprintln(out)
	return err
}
