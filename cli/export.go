package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/internal/tempfile"
)

// Export formats.
const (
	exportCSV   = "csv"
	exportJSONL = "jsonl"
)

// apiTimeLayout is the form of the API's timestamps: UTC, no zone.
const apiTimeLayout = "2006-01-02T15:04:05"

// exportOptions are the flags of the export command.
type exportOptions struct {
	client   clientOptions
	dir      string
	format   string
	force    bool
	warnings io.Writer // notes that are not the result; stderr
}

// exportResult is one file written by an export.
type exportResult struct {
	Kind    string `json:"kind"`
	File    string `json:"file"`
	Records int64  `json:"records"`
}

func newExportCommand(g *globalOptions) *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export --dir DIR [--format csv|jsonl] [--force]",
		Short: "Write every user, link and event of the server to files",
		Long: "Read all users, links and events through the API and write them to DIR as\n" +
			"users.csv, urls.csv, events.csv and reservations.csv in the format that import\n" +
			"reads, or as .jsonl files with one API object per line. urls.csv adds the columns\n" +
			"expires_at, max_clicks and redirect_type to the seed format; redirect_type is empty\n" +
			"for a link that follows the server's --redirect-status. reservations.csv lists the\n" +
			"highest id issued for each kind and the codes of deleted and purged links, so that\n" +
			"an import reserves them too. Cells are written as stored, with no guard against\n" +
			"spreadsheet formulas: open the files as text, not in a spreadsheet.\n" +
			"Each file is written under a temporary name and renamed once all of them are\n" +
			"complete, so a failed or interrupted export leaves no partial file. An export never replaces\n" +
			"files of an earlier one unless --force is given. Deleted links are not\n" +
			"exported; their events are. The export is not a snapshot: records written while\n" +
			"it runs may or may not be in it.\n\n" + clientHelp,
		Example: "  linkbolt export --dir backup-2026-01-31\n" +
			"  linkbolt import --users backup-2026-01-31/users.csv --urls backup-2026-01-31/urls.csv \\\n" +
			"    --events backup-2026-01-31/events.csv --reservations backup-2026-01-31/reservations.csv",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.client.progress = terminalOutput(cmd.ErrOrStderr())
			o.warnings = cmd.ErrOrStderr()
			return runExport(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "directory to write the files to, created when missing")
	f.StringVar(&o.format, "format", exportCSV, "file format: csv or jsonl")
	f.BoolVar(&o.force, "force", false, "replace the files of an earlier export in --dir")
	addClientFlags(f, &o.client)
	return cmd
}

// exportKind is one list of the API and the file it is written to.
type exportKind struct {
	name   string // users, urls or events
	path   string // API path of the list
	header []string
	row    func(raw json.RawMessage) ([]string, error)
}

// exportKinds lists the files of an export in the order import reads them.
var exportKinds = []exportKind{
	{"users", "/users", []string{"id", "username", "email", "created_at"}, userRow},
	{"urls", "/urls", []string{"id", "user_id", "short_code", "original_url", "title", "is_active",
		"created_at", "updated_at", "expires_at", "max_clicks", "redirect_type"}, urlRow},
	{"events", "/events", []string{"id", "url_id", "user_id", "event_type", "timestamp", "details"}, eventRow},
	{"reservations", "/admin/reservations", []string{"kind", "id", "short_code"}, reservationRow},
}

// runExport writes the three files and prints what each holds.
func runExport(ctx context.Context, out io.Writer, o *exportOptions) (err error) {
	if o.dir == "" {
		return usageError{errors.New("missing --dir DIR: the directory to write the files to")}
	}
	if o.format != exportCSV && o.format != exportJSONL {
		return usageError{fmt.Errorf("invalid --format %q: use csv or jsonl", o.format)}
	}
	if err := checkExportTargets(o.dir, o.format, o.force); err != nil {
		return err
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	// A failed export removes the directories that it created, once the
	// temporary files in them are gone.
	created := missingDirs(o.dir)
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("create export directory: %w", err)
	}
	defer func() {
		if err != nil {
			for _, dir := range created {
				os.Remove(dir)
			}
		}
	}()

	removeStaleExportTemps(o.dir, o.warnings)

	// Every file is complete under its temporary name before any is
	// renamed, so that a failure leaves neither a partial file nor a set
	// of files from two exports.
	var temps []*os.File
	defer func() {
		if err != nil {
			for _, f := range temps {
				f.Close()
				os.Remove(f.Name())
			}
		}
	}()
	results := make([]exportResult, 0, len(exportKinds))
	for _, kind := range exportKinds {
		f, n, err := exportToTemp(ctx, c, o.dir, o.format, kind, o.client.progress)
		var srvErr *serverError
		if kind.name == "reservations" && errors.As(err, &srvErr) && srvErr.status == http.StatusNotFound {
			// A server older than the reservations route has none to
			// give; the export is still complete for what it holds.
			f.Close()
			os.Remove(f.Name())
			fmt.Fprintf(o.warnings, "note: the server has no %s route, so no reservations file was written\n", kind.path)
			continue
		}
		if f != nil {
			temps = append(temps, f)
		}
		if _, ok := errors.AsType[*interruptedError](err); ok {
			return fmt.Errorf("export %s: %w; no file was written to %s", kind.name, err, o.dir)
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", kind.name, err)
		}
		file := filepath.Join(o.dir, kind.name+"."+o.format)
		results = append(results, exportResult{Kind: kind.name, File: file, Records: n})
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("%w; no file was written to %s", err, o.dir)
	}
	// A file may have appeared in the directory during the export.
	if err := checkExportTargets(o.dir, o.format, o.force); err != nil {
		return err
	}
	if err := renameExport(o.dir, temps, results); err != nil {
		return err
	}

	if o.client.output == outputJSON {
		return writeJSON(out, results)
	}
	for _, r := range results {
		fmt.Fprintf(out, "exported %s to %s\n", countNoun(r.Records, singular(r.Kind), r.Kind), r.File)
	}
	return nil
}

// checkExportTargets returns a usage error naming the files of an export
// that already exist in dir, unless force is set.
func checkExportTargets(dir, format string, force bool) error {
	if force {
		return nil
	}
	var existing []string
	for _, kind := range exportKinds {
		name := kind.name + "." + format
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			existing = append(existing, name)
		}
	}
	if len(existing) == 0 {
		return nil
	}
	return usageError{fmt.Errorf("--dir %s already contains %s: choose a new directory, or give --force to replace them",
		dir, strings.Join(existing, ", "))}
}

// renameExport gives each complete temporary file its final name, closes
// it and syncs the directory, so that the names survive a crash. A file is
// closed, which ends its lock, only once it has its final name.
func renameExport(dir string, temps []*os.File, results []exportResult) error {
	for i, f := range temps {
		if err := os.Rename(f.Name(), results[i].File); err != nil {
			return fmt.Errorf("rename %s: %w", f.Name(), err)
		}
		// The data is synced, so an error of the close cannot lose any
		// of it.
		f.Close()
	}
	syncDir(dir)
	return nil
}

// missingDirs returns dir and each of its parents that does not exist yet,
// deepest first, which is the order to remove them in.
func missingDirs(dir string) []string {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			return missing
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			return missing
		}
	}
}

// singular returns the singular of an export kind.
func singular(kind string) string {
	return kind[:len(kind)-1]
}

// removeStaleExportTemps removes the temporary files in dir that killed
// exports left and that no process holds any more, and names each on
// warnings.
func removeStaleExportTemps(dir string, warnings io.Writer) {
	for _, kind := range exportKinds {
		removed, _ := tempfile.RemoveStale(dir, exportTempPrefix(kind), exportTempSuffix)
		for _, tmp := range removed {
			fmt.Fprintf(warnings, "note: removed %s, a temporary file that a killed export left\n", tmp)
		}
	}
}

// exportTempSuffix ends the name of a temporary file of an export, which
// starts with exportTempPrefix.
const exportTempSuffix = ".tmp"

// exportTempPrefix returns the start of the names of the temporary files
// of one kind, before their random digits.
func exportTempPrefix(kind exportKind) string {
	return "." + kind.name + "-"
}

// exportToTemp writes every record of one list to a new temporary file in
// dir, synced, and returns the file, still open, and the record count.
// The open file holds a lock, so that no other export takes it for one
// that a killed export left. The file is returned also on failure, for the
// caller to close and remove.
func exportToTemp(ctx context.Context, c *apiClient, dir, format string, kind exportKind, bars io.Writer) (*os.File, int64, error) {
	f, err := tempfile.Create(dir, exportTempPrefix(kind), exportTempSuffix, false)
	if err != nil {
		return nil, 0, err
	}
	n, err := writeRecords(ctx, c, f, format, kind, bars)
	if err == nil {
		err = f.Sync()
	}
	return f, n, err
}

// writeRecords fetches every page of a list and writes its records to w
// in the format.
func writeRecords(ctx context.Context, c *apiClient, w io.Writer, format string, kind exportKind, bars io.Writer) (n int64, err error) {
	buf := bufio.NewWriter(w)
	var enc recordEncoder = &jsonlEncoder{w: buf}
	if format == exportCSV {
		cw := csv.NewWriter(buf)
		if err := cw.Write(kind.header); err != nil {
			return 0, err
		}
		enc = &csvEncoder{w: cw, row: kind.row}
	}

	var bar *progress
	defer func() { bar.finish(err) }()
	pr := pageRequest{page: 1, perPage: maxPerPage, all: true}
	err = c.eachPage(ctx, kind.path, nil, pr, func(items []json.RawMessage, total int64) error {
		if bar == nil {
			bar = startProgress(bars, total, "export "+kind.name, false)
		}
		bar.setTotal(total)
		for _, raw := range items {
			if err := enc.encode(raw); err != nil {
				return err
			}
		}
		n += int64(len(items))
		bar.add(len(items))
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := enc.flush(); err != nil {
		return n, err
	}
	return n, buf.Flush()
}

// recordEncoder writes records of the API to an export file.
type recordEncoder interface {
	encode(raw json.RawMessage) error
	flush() error
}

// jsonlEncoder writes each record compacted on its own line.
type jsonlEncoder struct {
	w   *bufio.Writer
	buf bytes.Buffer
}

func (e *jsonlEncoder) encode(raw json.RawMessage) error {
	e.buf.Reset()
	if err := json.Compact(&e.buf, raw); err != nil {
		return fmt.Errorf("invalid record from the server: %w", err)
	}
	e.buf.WriteByte('\n')
	_, err := e.w.Write(e.buf.Bytes())
	return err
}

func (e *jsonlEncoder) flush() error { return nil }

// csvEncoder writes each record as a CSV row.
type csvEncoder struct {
	w   *csv.Writer
	row func(raw json.RawMessage) ([]string, error)
}

func (e *csvEncoder) encode(raw json.RawMessage) error {
	row, err := e.row(raw)
	if err != nil {
		return err
	}
	return e.w.Write(row)
}

func (e *csvEncoder) flush() error {
	e.w.Flush()
	return e.w.Error()
}

func userRow(raw json.RawMessage) ([]string, error) {
	var u apiUser
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("invalid user from the server: %w", err)
	}
	created, err := seedTime(u.CreatedAt)
	if err != nil {
		return nil, err
	}
	return []string{strconv.FormatUint(u.ID, 10), u.Username, u.Email, created}, nil
}

// urlRow returns the seed columns of a link and its options. An empty
// title cell reads back as no title, so an empty title is not kept apart
// from a null one. A link that follows the server's default redirect
// status gets an empty redirect_type cell, so that it follows the default
// of the server it is imported into. From a server that does not send
// redirect_type_default, the cell is the status that the server sends.
func urlRow(raw json.RawMessage) ([]string, error) {
	var u apiURL
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("invalid link from the server: %w", err)
	}
	times := []string{u.CreatedAt, u.UpdatedAt, ""}
	if u.ExpiresAt != nil {
		times[2] = *u.ExpiresAt
	}
	for i, t := range times {
		if t == "" {
			continue
		}
		var err error
		if times[i], err = seedTime(t); err != nil {
			return nil, err
		}
	}
	active := "False"
	if u.IsActive {
		active = "True"
	}
	redirect := ""
	followsDefault := u.RedirectTypeDefault != nil && *u.RedirectTypeDefault
	if u.RedirectType != 0 && !followsDefault {
		redirect = strconv.Itoa(u.RedirectType)
	}
	return []string{
		strconv.FormatUint(u.ID, 10), optionalCell(u.UserID), u.ShortCode, u.OriginalURL,
		stringCell(u.Title), active, times[0], times[1], times[2], optionalCell(u.MaxClicks), redirect,
	}, nil
}

func eventRow(raw json.RawMessage) ([]string, error) {
	var ev apiEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("invalid event from the server: %w", err)
	}
	at, err := seedTime(ev.Timestamp)
	if err != nil {
		return nil, err
	}
	var details bytes.Buffer
	if len(ev.Details) > 0 {
		if err := json.Compact(&details, ev.Details); err != nil {
			return nil, fmt.Errorf("invalid details of event %d from the server: %w", ev.ID, err)
		}
	}
	return []string{
		strconv.FormatUint(ev.ID, 10), strconv.FormatUint(ev.URLID, 10), optionalCell(ev.UserID),
		ev.EventType, at, details.String(),
	}, nil
}

// reservationRow returns the cells of a reservation: an empty short_code
// reserves only the id.
func reservationRow(raw json.RawMessage) ([]string, error) {
	var r struct {
		Kind      string  `json:"kind"`
		ID        uint64  `json:"id"`
		ShortCode *string `json:"short_code"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("invalid reservation from the server: %w", err)
	}
	return []string{r.Kind, strconv.FormatUint(r.ID, 10), stringCell(r.ShortCode)}, nil
}

// seedTime converts an API timestamp to the seed files' YYYY-MM-DD
// HH:MM:SS.
func seedTime(s string) (string, error) {
	t, err := time.Parse(apiTimeLayout, s)
	if err != nil {
		return "", fmt.Errorf("invalid timestamp %q from the server: want the form %s", s, apiTimeLayout)
	}
	return t.Format(time.DateTime), nil
}

// optionalCell returns a nullable id or count as a CSV cell: empty for
// null.
func optionalCell(v *uint64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatUint(*v, 10)
}

// stringCell returns a nullable string as a CSV cell: empty for null.
func stringCell(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
