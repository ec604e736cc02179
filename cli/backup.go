package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/spf13/cobra"
)

// backupOptions are the flags of the backup command.
type backupOptions struct {
	client clientOptions
	out    string
}

// backupJSON is the JSON output of the backup command.
type backupJSON struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

func newBackupCommand(g *globalOptions) *cobra.Command {
	o := &backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Download a consistent copy of the server's database file",
		Long: "Download a consistent snapshot of the database file while the server goes on\n" +
			"serving. The copy is written to FILE.tmp, synced to disk, checked against the size\n" +
			"the server announced and only then renamed to FILE, so FILE is never a partial\n" +
			"copy. To restore, stop the server and start it on the copy with --db.\n\n" + clientHelp,
		Example: "  linkbolt backup --out linkbolt-backup.db",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			o.client.progress = terminalOutput(cmd.ErrOrStderr())
			return runBackup(ctx, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "file to write the backup to; an existing file is replaced")
	addClientFlags(f, &o.client)
	return cmd
}

// runBackup downloads the backup to o.out and prints its size.
func runBackup(ctx context.Context, out io.Writer, o *backupOptions) error {
	if o.out == "" {
		return usageError{errors.New("missing --out FILE: the file to write the backup to")}
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	n, err := downloadBackup(ctx, c, o.out, o.client.progress)
	if err != nil {
		return err
	}
	if o.client.output == outputJSON {
		return writeJSON(out, backupJSON{File: o.out, Bytes: n})
	}
	_, err = fmt.Fprintf(out, "wrote backup of %d bytes to %s\n", n, o.out)
	return err
}

// downloadBackup streams GET /admin/backup into path.tmp, syncs it and
// renames it to path once its size matches the Content-Length. On failure
// the temporary file is removed and path is left as it was.
func downloadBackup(ctx context.Context, c *apiClient, path string, bars io.Writer) (n int64, err error) {
	ctx, stall := newStallTimer(ctx, c.timeout)
	defer stall.stop()
	resp, err := c.send(ctx, http.MethodGet, "/admin/backup", nil, nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()

	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create backup file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()

	bar := startProgress(bars, resp.ContentLength, "backup", true)
	defer func() { bar.finish(err) }()
	n, err = io.Copy(io.MultiWriter(f, bar), stall.reader(resp.Body))
	if err != nil {
		// Writes to the file fail with an *os.PathError; anything else is a
		// failed read of the response.
		if _, ok := errors.AsType[*os.PathError](err); ok {
			return n, err
		}
		return n, c.unavailable(ctx, http.MethodGet, "/admin/backup", err)
	}

	// A short body means the server failed after it sent the status.
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("backup is incomplete: received %d of %d bytes", n, resp.ContentLength)
		return n, c.unavailable(ctx, http.MethodGet, "/admin/backup", err)
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return n, fmt.Errorf("rename %s: %w", tmp, err)
	}
	syncDir(filepath.Dir(path))
	return n, nil
}

// syncDir syncs a directory so that a rename in it survives a crash. Some
// file systems cannot sync a directory, so a failure is ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
