package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

// importOptions are the flags of the import command.
type importOptions struct {
	client       clientOptions
	db           string
	users        string
	urls         string
	events       string
	reservations string

	// dbFlag names the source of --db in messages: the flag or its
	// environment variable.
	dbFlag string
}

// importResult is one file loaded by an import.
type importResult struct {
	Kind     string `json:"kind"`
	File     string `json:"file"`
	Imported int    `json:"imported"`
}

func newImportCommand(g *globalOptions) *cobra.Command {
	o := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import [--db FILE] [--users users.csv] [--urls urls.csv] [--events events.csv] [--reservations reservations.csv]",
		Short: "Load CSV files into a running server, or into a database file",
		Long: "Load users, urls, events and reservations CSV files (the seed format: a header row,\n" +
			"then one record per row), in that order. reservations.csv, which export writes, keeps\n" +
			"the codes of deleted and purged links reserved and the ids of removed records unused;\n" +
			"exports without it still load. Each file is loaded in one transaction: an invalid row loads\n" +
			"nothing of its file, and the files before it stay loaded. A --db file that the import\n" +
			"created is removed when its first file fails. Rows are upserted by id.\n" +
			"Every file is opened before the first is loaded, and each must be a regular file:\n" +
			"a named pipe or a device is rejected. Only CSV is read: the JSON Lines\n" +
			"files of export --format jsonl are for other tools and are rejected.\n\n" +
			"Without --db the files are uploaded to the bulk endpoints of the server that --server\n" +
			"names. With --db they are loaded into that database file directly, which no server\n" +
			"may have open, and --server may not be given with it.\n\n" + clientHelp,
		Example: "  linkbolt import --users users.csv --urls urls.csv --events events.csv --reservations reservations.csv\n" +
			"  linkbolt import --db linkbolt.db --users users.csv --urls urls.csv --events events.csv",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.db != "" && cmd.Flags().Changed("server") {
				return usageError{fmt.Errorf("--server and %s name two targets: give --server to load through a server, "+
					"or %s to load into a file", flagName(cmd.Flags(), "db"), flagName(cmd.Flags(), "db"))}
			}
			o.dbFlag = flagName(cmd.Flags(), "db")
			o.client.progress = terminalOutput(cmd.ErrOrStderr())
			return runImport(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", "", "database file to load directly, created when missing; no server may run on it (env LINKBOLT_DB)")
	f.Var((*onceFlag)(&o.users), "users", "users CSV file")
	f.Var((*onceFlag)(&o.urls), "urls", "urls CSV file")
	f.Var((*onceFlag)(&o.events), "events", "events CSV file")
	f.Var((*onceFlag)(&o.reservations), "reservations", "reservations CSV file of an export")
	bindEnv(f, map[string]string{"db": "LINKBOLT_DB"})
	addClientFlags(f, &o.client)
	return cmd
}

// onceFlag is the value of a flag that names one file and may be given
// once. pflag keeps the last of repeated values, so a second file of the
// same kind would be dropped without a word.
type onceFlag string

func (f *onceFlag) String() string { return string(*f) }

func (f *onceFlag) Set(v string) error {
	if *f != "" {
		return fmt.Errorf("given twice, as %q and %q; import loads one file of each kind, so import the second file in another run", string(*f), v)
	}
	*f = onceFlag(v)
	return nil
}

func (f *onceFlag) Type() string { return "file" }

// importStep is one file of an import with the loader and the bulk
// endpoint of its kind.
type importStep struct {
	kind, file string
	load       func(*store.Store, io.Reader) (int, error)
	endpoint   string
}

// steps returns the files given, in the order users, urls, events,
// reservations, so that links find their users and events their links,
// and reservations skip the codes that imported links hold.
func (o *importOptions) steps() []importStep {
	all := []importStep{
		{"users", o.users, server.LoadUsersCSV, "/users/bulk"},
		{"urls", o.urls, server.LoadURLsCSV, "/urls/bulk"},
		{"events", o.events, server.LoadEventsCSV, "/events/bulk"},
		{"reservations", o.reservations, server.LoadReservationsCSV, "/admin/reservations/bulk"},
	}
	var steps []importStep
	for _, s := range all {
		if s.file != "" {
			steps = append(steps, s)
		}
	}
	return steps
}

// runImport loads the named files into the database file of --db, or
// uploads them to the server, and prints what each file loaded. On failure
// the output still names the files loaded before it.
func runImport(ctx context.Context, out io.Writer, o *importOptions) (err error) {
	// loaded counts the files written, for the removal of a new file that
	// got none.
	loaded := 0
	steps := o.steps()
	if len(steps) == 0 {
		return usageError{errors.New("nothing to import: give --users, --urls, --events or --reservations")}
	}

	// Every file is checked before the first is loaded, so that a typo in
	// the last name does not leave the first files loaded.
	for _, step := range steps {
		if err := checkCSVFile(step.kind, step.file); err != nil {
			return err
		}
	}
	var load func(importStep) (int, error)
	if o.db != "" {
		if err := checkDatabasePath(o.dbFlag, o.db, "import --db loads only into a regular database file"); err != nil {
			return err
		}
		_, statErr := os.Stat(o.db)
		created := errors.Is(statErr, fs.ErrNotExist)
		st, err := store.Open(o.db, nil)
		if errors.Is(err, store.ErrInUse) {
			return fmt.Errorf("%w; stop the server first, or import without --db to load through its bulk endpoints", err)
		}
		if err != nil {
			return err
		}
		defer func() {
			closeErr := st.Close()
			// A file that this import created and loaded nothing into
			// is removed, so that a rejected first file leaves no
			// empty database behind.
			if created && loaded == 0 && closeErr == nil {
				os.Remove(o.db)
			}
		}()
		load = func(step importStep) (int, error) { return importFile(ctx, st, step.file, step.load) }
	} else {
		c, err := newAPIClient(&o.client)
		if err != nil {
			return err
		}
		defer c.close()
		load = func(step importStep) (int, error) {
			return uploadCSV(ctx, c, step.endpoint, step.file, o.client.progress)
		}
	}

	results := []importResult{}
	for _, step := range steps {
		// A signal stops the import before the next file. The files
		// before it stay loaded, as after a failure.
		if err = context.Cause(ctx); err != nil {
			err = fmt.Errorf("%w before the import of %s from %s", err, step.kind, step.file)
			break
		}
		var n int
		if n, err = load(step); err != nil {
			err = fmt.Errorf("import %s from %s: %w", step.kind, step.file, err)
			break
		}
		loaded++
		results = append(results, importResult{Kind: step.kind, File: step.file, Imported: n})
		if o.client.output == outputTable {
			fmt.Fprintf(out, "imported %d %s from %s\n", n, step.kind, step.file)
		}
	}
	if o.client.output == outputJSON {
		if jsonErr := writeJSON(out, results); err == nil {
			err = jsonErr
		}
	}
	return err
}

// jsonExtensions are the file name extensions of JSON and JSON Lines files,
// which import rejects without reading them.
var jsonExtensions = []string{".jsonl", ".ndjson", ".json"}

// checkCSVFile opens the file of --kind and reads its first bytes, to
// report a bad file before anything is loaded. A missing or unreadable
// file, or one that is not a regular file, such as a directory, a named
// pipe or a device, is a usage error. So is a JSON or JSON Lines file,
// such as one of export --format jsonl. It is found by its extension, or
// by a first character of { or [, which no header row of the CSV format
// starts with.
func checkCSVFile(kind, path string) error {
	if err := checkInputFile("--"+kind, path, "import reads only regular files; copy the data to a file first"); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import %s: %w", kind, err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("import %s: %w", kind, err)
	}

	head = bytes.TrimLeft(bytes.TrimPrefix(head[:n], []byte("\uFEFF")), " \t\r\n")
	if len(head) > 0 && (head[0] == '{' || head[0] == '[') {
		return usageError{fmt.Errorf("--%s %s is JSON, but import reads only the CSV format that export writes by default: "+
			"export again with --format csv (JSON Lines exports are for other tools)", kind, path)}
	}
	if ext := filepath.Ext(path); slices.Contains(jsonExtensions, strings.ToLower(ext)) {
		return usageError{fmt.Errorf("--%s %s has the name of a JSON file (%s), but import reads only the CSV format that export writes by default: "+
			"if the file is CSV, rename it to end in .csv; otherwise export again with --format csv", kind, path, ext)}
	}
	return nil
}

// importFile loads the file at path into st. The end of ctx fails the
// next read of the file, so a signal loads nothing of it. Once the file has
// been read to its end, its transaction completes.
func importFile(ctx context.Context, st *store.Store, path string, load func(*store.Store, io.Reader) (int, error)) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := load(st, contextReader{ctx: ctx, r: f})
	if cause := context.Cause(ctx); err != nil && cause != nil {
		// The CSV parser may report the failed read without its cause.
		return n, cause
	}
	return n, err
}

// contextReader is a reader that fails with the cause of its context once
// the context has ended.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (cr contextReader) Read(p []byte) (int, error) {
	if err := context.Cause(cr.ctx); err != nil {
		return 0, err
	}
	return cr.r.Read(p)
}

// uploadCSV streams a CSV file to a bulk endpoint as the file field of a
// multipart/form-data body, without holding the file in memory, and
// returns the number of rows the server imported.
func uploadCSV(ctx context.Context, c *apiClient, endpoint, path string, bars io.Writer) (n int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}

	bar := startProgress(bars, info.Size(), "upload "+filepath.Base(path), true)
	defer func() { bar.finish(err) }()
	body := newMultipartFile(filepath.Base(path), io.TeeReader(f, bar))
	defer body.close()

	ctx, stall := newStallTimer(ctx, c.timeout)
	defer stall.stop()
	resp, err := c.send(ctx, http.MethodPost, endpoint, nil, stall.reader(body.reader), body.contentType)
	if err != nil {
		// A failed read of the file is the cause, not the server.
		if readErr := body.close(); readErr != nil {
			return 0, fmt.Errorf("read %s: %w", path, readErr)
		}
		return 0, err
	}
	defer resp.Body.Close()

	var res apiBulkResult
	data, err := io.ReadAll(io.LimitReader(stall.reader(resp.Body), maxErrorBytes))
	if err == nil {
		err = json.Unmarshal(data, &res)
	}
	if err != nil {
		return 0, c.unavailable(ctx, http.MethodPost, endpoint, fmt.Errorf("invalid response: %w", err))
	}
	return res.Imported, nil
}

// multipartFile is a multipart/form-data body with one file field, written
// by a goroutine into a pipe while the request reads it.
type multipartFile struct {
	reader      *io.PipeReader
	contentType string
	done        chan struct{}
	err         error // of the writer, read after done is closed
}

// newMultipartFile starts writing src as the field named file, with name as
// its file name.
func newMultipartFile(name string, src io.Reader) *multipartFile {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	m := &multipartFile{reader: pr, contentType: mw.FormDataContentType(), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		part, err := mw.CreateFormFile("file", name)
		if err == nil {
			_, err = io.Copy(part, src)
		}
		if err == nil {
			err = mw.Close()
		}
		m.err = err
		pw.CloseWithError(err)
	}()
	return m
}

// close stops the writer, which the request may have left blocked if the
// server responded before it read the whole body, and waits for it. It
// returns the writer's error, or nil when the writer only stopped because
// of the close.
func (m *multipartFile) close() error {
	m.reader.Close()
	<-m.done
	if errors.Is(m.err, io.ErrClosedPipe) {
		return nil
	}
	return m.err
}
