package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/internal/tempfile"
	"github.com/linkbolt/linkbolt/store"
)

// backupOptions are the flags of the backup command.
type backupOptions struct {
	client   clientOptions
	out      string
	force    bool
	warnings io.Writer // notes that are not the result; stderr
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
			"serving. The copy is written to a temporary file beside FILE, synced to disk, checked\n" +
			"against the size the server announced, verified as linkbolt check does, and only then\n" +
			"renamed to FILE, so FILE is never a partial copy. A body that is not a sound linkbolt\n" +
			"database, such as an error page of a proxy or a copy of a damaged file, is removed and\n" +
			"the command exits with 5.\n" +
			"SIGINT or SIGTERM stops the download and removes the temporary file. A backup that\n" +
			"was killed (kill -9) leaves .FILE-DIGITS.tmp, which the next backup to FILE removes.\n" +
			"To restore, stop the server and start it on the copy with --db.\n\n" +
			"FILE must not exist. --force replaces an existing regular file, but never a directory,\n" +
			"a device or a symbolic link, and on Linux, macOS and the BSDs never a file that a\n" +
			"process holds locked as a database. Never point --out at the database file that\n" +
			"the server runs on: the server would go on writing to the replaced file, and every\n" +
			"write after the backup would be lost.\n\n" + clientHelp,
		Example: "  linkbolt backup --out linkbolt-backup.db\n" +
			"  linkbolt backup --out nightly.db --force",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.client.progress = terminalOutput(cmd.ErrOrStderr())
			o.warnings = cmd.ErrOrStderr()
			return runBackup(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "new file to write the backup to; never the server's own database file")
	f.BoolVar(&o.force, "force", false, "replace --out if it is an existing regular file")
	addClientFlags(f, &o.client)
	return cmd
}

// runBackup downloads the backup to o.out and prints its size.
func runBackup(ctx context.Context, out io.Writer, o *backupOptions) error {
	if o.out == "" {
		return usageError{errors.New("missing --out FILE: the file to write the backup to")}
	}
	if err := checkBackupTarget(o.out, o.force); err != nil {
		return err
	}
	c, err := newAPIClient(&o.client)
	if err != nil {
		return err
	}
	defer c.close()

	// A backup that was killed left its temporary file, which no process
	// holds any more.
	removed, _ := tempfile.RemoveStale(filepath.Dir(o.out), backupTempPrefix(o.out), backupTempSuffix)
	for _, tmp := range removed {
		fmt.Fprintf(o.warnings, "note: removed %s, a temporary file that a killed backup left\n", tmp)
	}

	n, err := downloadBackup(ctx, c, o.out, o.force, o.client.progress)
	if _, ok := errors.AsType[*interruptedError](err); ok {
		return fmt.Errorf("%w; the partial download was removed and %s was not written", err, o.out)
	}
	if err != nil {
		return err
	}
	if o.client.output == outputJSON {
		return writeJSON(out, backupJSON{File: o.out, Bytes: n})
	}
	_, err = fmt.Fprintf(out, "wrote backup of %d bytes to %s\n", n, o.out)
	return err
}

// checkBackupTarget returns an error unless a backup may be written to
// path: path must not exist, in a directory that does, or with force be a
// regular file that no process holds locked as a database. A usage error
// names a path that exists, and an error wrapping store.ErrInUse a locked
// one.
func checkBackupTarget(path string, force bool) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return checkBackupDir(path)
	}
	if err != nil {
		return fmt.Errorf("check --out: %w", err)
	}
	if !info.Mode().IsRegular() {
		return usageError{fmt.Errorf("--out %s is %s: backup writes only to a new file, or with --force to a regular file",
			path, store.DescribeFileType(info.Mode()))}
	}
	if !force {
		return usageError{fmt.Errorf("--out %s already exists: choose a new file, or give --force to replace it, "+
			"but never the database file that the server runs on", path)}
	}
	if fileLocked(path) {
		return fmt.Errorf("--out %s: %w: a backup must never replace a live database, such as the one the server runs on",
			path, store.ErrInUse)
	}
	return nil
}

// checkBackupDir returns an error when the directory of path does not
// exist. The error names path, not the temporary file that the download
// would have failed to create beside it.
func checkBackupDir(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return missingBackupDir(path)
	}
	return nil
}

func missingBackupDir(path string) error {
	return fmt.Errorf("--out %s: directory %s does not exist; create it first, or choose a path in an existing directory",
		path, filepath.Dir(path))
}

// backupTempSuffix ends the name of the temporary file of a backup, which
// starts with backupTempPrefix.
const backupTempSuffix = ".tmp"

// backupTempPrefix returns the start of the names of the temporary files
// of backups to path, before their random digits: a new name of its own,
// rather than path.tmp, leaves any file of that name alone.
func backupTempPrefix(path string) string {
	return "." + filepath.Base(path) + "-"
}

// downloadBackup streams GET /admin/backup into a temporary file beside
// path, syncs it and renames it to path once its size matches the
// Content-Length and path still passes checkBackupTarget. On failure, and
// when ctx ends before the rename, the temporary file is removed and path
// is left as it was. The file is held locked until the rename, so that no
// other backup takes it for one that a killed backup left.
func downloadBackup(ctx context.Context, c *apiClient, path string, force bool, bars io.Writer) (n int64, err error) {
	// The signal ends parent. The stall timer ends only the download.
	parent := ctx
	ctx, stall := newStallTimer(ctx, c.timeout)
	defer stall.stop()
	resp, err := c.send(ctx, http.MethodGet, "/admin/backup", nil, nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()

	// The lock is shared, so that the check below can open the file with
	// bbolt, which takes a shared lock too.
	f, err := tempfile.Create(filepath.Dir(path), backupTempPrefix(path), backupTempSuffix, true)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory was removed after checkBackupTarget.
		return 0, missingBackupDir(path)
	}
	if err != nil {
		return 0, fmt.Errorf("create a temporary file beside --out %s: %w", path, err)
	}
	tmp := f.Name()
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

	// A proxy may strip Content-Length or respond 200 with a page of its
	// own, and the server's file may be damaged, so the body is checked
	// before it gets the name. The check reads the whole file, so a signal
	// is looked for before and after it.
	if err = context.Cause(parent); err != nil {
		return n, err
	}
	if err = verifyBackup(tmp); err != nil {
		err = fmt.Errorf("the response of %d bytes is not a sound linkbolt database, so no backup was written: %w", n, err)
		return n, &unavailableError{op: http.MethodGet + " " + c.endpoint("/admin/backup", nil), err: err, responded: true}
	}

	if err = context.Cause(parent); err != nil {
		return n, err
	}
	// path may have appeared during the download.
	if err = checkBackupTarget(path, force); err != nil {
		return n, err
	}
	if err = os.Rename(tmp, path); err != nil {
		return n, fmt.Errorf("rename %s: %w", tmp, err)
	}
	// The data is synced, so an error of the close cannot lose any of it.
	f.Close()
	syncDir(filepath.Dir(path))
	return n, nil
}

// verifyBackup runs linkbolt check on the downloaded file. A file that
// is no bbolt database, a bbolt file of another program (its buckets
// missing) and a copy of a damaged database all fail.
func verifyBackup(path string) error {
	if info, err := os.Stat(path); err == nil && info.Size() == 0 {
		return errors.New("the body is empty")
	}
	report, err := store.Check(path, nil)
	if err != nil {
		// The message names the temporary file, which is removed, and
		// advises a restore, which does not fit a backup.
		msg := strings.TrimPrefix(err.Error(), "open "+path+": ")
		return errors.New(strings.ReplaceAll(msg, "; restore it from a backup", ""))
	}
	if !report.OK() {
		return fmt.Errorf("linkbolt check found %s in it, first %s",
			countNoun(int64(report.Total), "problem", "problems"), report.Problems[0])
	}
	return nil
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
