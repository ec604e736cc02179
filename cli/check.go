package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/store"
)

// checkOptions are the flags of the check command.
type checkOptions struct {
	db     string
	output outputFormat

	// dbFlag names the source of --db in messages: the flag or its
	// environment variable.
	dbFlag string
}

func newCheckCommand() *cobra.Command {
	o := &checkOptions{output: outputTable}
	cmd := &cobra.Command{
		Use:   "check --db FILE",
		Short: "Verify a database file while no server runs on it",
		Long: "Open a database file read-only and verify bbolt's page structure and linkbolt's own\n" +
			"data: every record decodes, indexes and records agree both ways, no short code is both\n" +
			"live and deleted, click counts belong to existing links, the counts and id sequences\n" +
			"match the records, and the schema version is current. Every problem is printed, up\n" +
			fmt.Sprintf("to %d, with the total. The file is never changed. A running server holds the\n", store.MaxCheckProblems) +
			"file, so check a backup from `linkbolt backup` instead, or stop the server.\n" +
			"Temporary files of a killed compact of FILE (.NAME.compact-DIGITS) that no process\n" +
			"holds are listed too; they are no problem of FILE, and compact removes them.\n\n" +
			"Exit codes:\n" +
			"  0  no problems found\n" +
			"  1  problems found, or reading the file failed\n" +
			"  2  invalid command line, or --db names no regular file that can be read\n" +
			"  3  the database file is in use by another process\n" +
			"  130  stopped by SIGINT\n" +
			"  143  stopped by SIGTERM",
		Example: "  linkbolt check --db linkbolt.db\n" +
			"  linkbolt check --db backup.db --output json",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.dbFlag = flagName(cmd.Flags(), "db")
			return runCheck(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "database file to check (env LINKBOLT_DB)")
	f.VarP(&o.output, "output", "o", "output format: table or json (env LINKBOLT_OUTPUT)")
	bindEnv(f, map[string]string{"db": "LINKBOLT_DB", "output": "LINKBOLT_OUTPUT"})
	return cmd
}

// runCheck checks the file and prints the report. It returns an error when
// the report has problems, so that the command exits with 1.
func runCheck(out io.Writer, o *checkOptions) error {
	if o.db == "" {
		return usageError{errors.New("missing --db FILE: the database file to check")}
	}
	if err := checkInputFile(o.dbFlag, o.db, "check reads only regular database files"); err != nil {
		return err
	}
	report, err := store.Check(o.db, nil)
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("%w; stop the server first, or check a backup from `linkbolt backup`", err)
	}
	if err != nil {
		return err
	}

	// A failure to list the directory leaves the list empty: the check of
	// the file itself succeeded.
	stale, _ := store.StaleCompactTemps(o.db)
	if o.output == outputJSON {
		err = writeJSON(out, checkView(o.db, report, stale))
	} else {
		err = writeCheckReport(out, o.db, report, stale)
	}
	if err != nil {
		return err
	}
	if !report.OK() {
		return fmt.Errorf("%s has %s", o.db, countNoun(int64(report.Total), "problem", "problems"))
	}
	return nil
}

// checkJSON is the --output json form of a check report.
type checkJSON struct {
	DB             string        `json:"db"`
	Size           int64         `json:"size_bytes"`
	SchemaVersion  uint64        `json:"schema_version"`
	RecordsChecked bool          `json:"records_checked"`
	Users          uint64        `json:"users"`
	URLs           uint64        `json:"urls"`
	Events         uint64        `json:"events"`
	PendingClicks  int           `json:"pending_clicks"`
	StaleTemps     []string      `json:"stale_temp_files"`
	OK             bool          `json:"ok"`
	Total          int           `json:"total_problems"`
	Problems       []problemJSON `json:"problems"`
}

type problemJSON struct {
	Kind    string `json:"kind"`
	Bucket  string `json:"bucket"`
	Message string `json:"message"`
}

func checkView(db string, r store.CheckReport, stale []string) checkJSON {
	if stale == nil {
		stale = []string{}
	}
	v := checkJSON{
		StaleTemps:     stale,
		DB:             db,
		Size:           r.Size,
		SchemaVersion:  r.SchemaVersion,
		RecordsChecked: r.RecordsChecked,
		Users:          r.Records.Users,
		URLs:           r.Records.URLs,
		Events:         r.Records.Events,
		PendingClicks:  r.PendingClicks,
		OK:             r.OK(),
		Total:          r.Total,
		Problems:       make([]problemJSON, 0, len(r.Problems)),
	}
	for _, p := range r.Problems {
		v.Problems = append(v.Problems, problemJSON{Kind: string(p.Kind), Bucket: p.Bucket, Message: p.Message})
	}
	return v
}

// writeCheckReport prints a summary line, the stale temporary files of
// compactions, then a table of the problems.
func writeCheckReport(out io.Writer, db string, r store.CheckReport, stale []string) error {
	// The schema version is read with the records; damage that stops the
	// check before them leaves it unknown.
	schema := "schema version not read"
	if r.SchemaVersion > 0 {
		schema = fmt.Sprintf("schema version %d", r.SchemaVersion)
	}
	fmt.Fprintf(out, "checked %s: %d bytes, %s\n", db, r.Size, schema)
	if r.RecordsChecked {
		fmt.Fprintf(out, "records: %s, %s, %s\n",
			countNoun(int64(r.Records.Users), "user", "users"),
			countNoun(int64(r.Records.URLs), "url", "urls"),
			countNoun(int64(r.Records.Events), "event", "events"))
		if r.PendingClicks > 0 {
			fmt.Fprintf(out, "%s not yet indexed; the next read-write open, such as serve, indexes them\n",
				countNoun(int64(r.PendingClicks), "click", "clicks"))
		}
	} else {
		fmt.Fprintln(out, "records: not read, because the file structure is damaged or a bucket is missing")
	}
	for _, tmp := range stale {
		fmt.Fprintf(out, "stale temporary file: %s, left by a killed compact and held by no process; "+
			"remove it, or run linkbolt compact, which removes it\n", tmp)
	}
	if r.OK() {
		fmt.Fprintln(out, "no problems found")
		return nil
	}

	fmt.Fprintf(out, "%s found:\n", countNoun(int64(r.Total), "problem", "problems"))
	tw := newTable(out)
	fmt.Fprintln(tw, "KIND\tBUCKET\tPROBLEM")
	for _, p := range r.Problems {
		bucket := p.Bucket
		if bucket == "" {
			bucket = "-"
		}
		writeRow(tw, string(p.Kind), bucket, p.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if more := r.Total - len(r.Problems); more > 0 {
		fmt.Fprintf(out, "and %d more not listed\n", more)
	}
	return nil
}
