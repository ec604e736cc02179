package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/internal/tempfile"
	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

// requestHold holds the first request with method and path that arrives
// after arm was called, until its client goes away. With prefix above 0
// the request reaches the server, and the client gets the first prefix
// bytes of the response before the hold. Otherwise the request never
// reaches the server. arrived is closed once the hold begins.
type requestHold struct {
	method, path string
	prefix       int
	arrived      chan struct{}
	armed, taken atomic.Bool
}

func newRequestHold(method, path string, prefix int) *requestHold {
	return &requestHold{method: method, path: path, prefix: prefix, arrived: make(chan struct{})}
}

// arm makes the next matching request the one that is held.
func (h *requestHold) arm() { h.armed.Store(true) }

// wrap returns the handler of a server with the hold in front of next.
func (h *requestHold) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		match := h.armed.Load() && r.Method == h.method && r.URL.Path == h.path
		if !match || !h.taken.CompareAndSwap(false, true) {
			next.ServeHTTP(w, r)
			return
		}
		if h.prefix > 0 {
			next.ServeHTTP(&holdingWriter{ResponseWriter: w, left: h.prefix, arrived: h.arrived, done: r.Context().Done()}, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		close(h.arrived)
		<-r.Context().Done()
	})
}

// holdingWriter passes the first left bytes of a response on, then closes
// arrived and blocks every write until done is closed.
type holdingWriter struct {
	http.ResponseWriter
	left    int
	arrived chan<- struct{}
	done    <-chan struct{}
}

func (w *holdingWriter) Write(p []byte) (int, error) {
	if w.left <= 0 {
		<-w.done
		return 0, errors.New("the client went away during the hold")
	}
	n, err := w.ResponseWriter.Write(p[:min(len(p), w.left)])
	w.left -= n
	if w.left <= 0 {
		http.NewResponseController(w.ResponseWriter).Flush()
		close(w.arrived)
	}
	return n, err
}

// runInterrupted runs args in-process, as Execute does after a signal: the
// context ends with the interruption by sig as its cause once arrived is
// closed and ready, if not nil, reports true.
func runInterrupted(t *testing.T, args []string, sig os.Signal, arrived <-chan struct{}, ready func() bool) result {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	go func() {
		select {
		case <-arrived:
		case <-ctx.Done():
			return
		}
		for ready != nil && !ready() && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel(&interruptedError{sig})
	}()

	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := execute(ctx, newRootCommand(&out, &errOut), args, &errOut)
		done <- result{code: code, out: out.String(), errOut: errOut.String()}
	}()
	select {
	case res := <-done:
		return res
	case <-time.After(commandTimeout):
		t.Fatalf("linkbolt %s did not return within %v of the interruption", strings.Join(args, " "), commandTimeout)
		return result{}
	}
}

// tempFileOf returns a function that reports whether dir holds a
// temporary file of a backup to out with at least size bytes.
func tempFileOf(dir, out string, size int64) func() bool {
	return func() bool {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "."+out+"-") && strings.HasSuffix(e.Name(), ".tmp") {
				if info, err := e.Info(); err == nil && info.Size() >= size {
					return true
				}
			}
		}
		return false
	}
}

func TestInterruptedCommands(t *testing.T) {
	clearEnv(t)
	files := t.TempDir()
	users := writeFile(t, files, "users.csv", usersCSV)
	urls := writeFile(t, files, "urls.csv", urlsCSV)
	backupDir := t.TempDir()
	exportDir := filepath.Join(t.TempDir(), "export")

	// Each request the server may have applied is named in the message.
	mayApply := "; the server may have applied the request, so check before you send it again\n"
	tests := []struct {
		name    string
		args    []string
		method  string
		path    string
		prefix  int
		ready   func() bool
		sig     os.Signal
		code    int
		wantOut string
		wantErr string // the whole of stderr; {server} stands for the server's URL
	}{
		{
			name: "get", args: []string{"get", "1"}, method: http.MethodGet, path: "/urls/1",
			sig: syscall.SIGTERM, code: exitTerminated,
			wantErr: "linkbolt: interrupted by SIGTERM\n",
		},
		{
			name: "list", args: []string{"list"}, method: http.MethodGet, path: "/urls",
			sig: os.Interrupt, code: exitInterrupted,
			wantErr: "linkbolt: interrupted by SIGINT\n",
		},
		{
			name: "create", args: []string{"create", "https://example.com/new"}, method: http.MethodPost, path: "/urls",
			sig: os.Interrupt, code: exitInterrupted,
			wantErr: "linkbolt: interrupted by SIGINT while waiting for the response to POST {server}/urls" + mayApply,
		},
		{
			name: "purge", args: []string{"purge", "--inactive"}, method: http.MethodPost, path: "/admin/purge",
			sig: os.Interrupt, code: exitInterrupted,
			wantErr: "linkbolt: interrupted by SIGINT while waiting for the response to POST {server}/admin/purge" + mayApply,
		},
		{
			name: "purge dry run", args: []string{"purge", "--inactive", "--dry-run"}, method: http.MethodPost, path: "/admin/purge",
			sig: os.Interrupt, code: exitInterrupted,
			wantErr: "linkbolt: interrupted by SIGINT\n",
		},
		{
			name: "delete", args: []string{"delete", "1", "2"}, method: http.MethodDelete, path: "/urls/1",
			sig: syscall.SIGTERM, code: exitTerminated,
			wantErr: "linkbolt: interrupted by SIGTERM while waiting for the response to DELETE {server}/urls/1" + mayApply,
		},
		{
			name: "user delete", args: []string{"user", "delete", "1"}, method: http.MethodDelete, path: "/users/1",
			sig: os.Interrupt, code: exitInterrupted,
			wantErr: "linkbolt: interrupted by SIGINT while waiting for the response to DELETE {server}/users/1" + mayApply,
		},
		{
			name: "import second file", args: []string{"import", "--users", users, "--urls", urls},
			method: http.MethodPost, path: "/urls/bulk",
			sig: syscall.SIGTERM, code: exitTerminated,
			wantOut: "imported 2 users from " + users + "\n",
			wantErr: "linkbolt: import urls from " + urls + ": interrupted by SIGTERM while waiting for the response to POST {server}/urls/bulk" + mayApply,
		},
		{
			name: "backup", args: []string{"backup", "--out", filepath.Join(backupDir, "out.db")},
			method: http.MethodGet, path: "/admin/backup", prefix: 4096, ready: tempFileOf(backupDir, "out.db", 4096),
			sig: os.Interrupt, code: exitInterrupted,
			wantErr: "linkbolt: interrupted by SIGINT; the partial download was removed and " +
				filepath.Join(backupDir, "out.db") + " was not written\n",
		},
		{
			name: "export", args: []string{"export", "--dir", exportDir}, method: http.MethodGet, path: "/events",
			sig: syscall.SIGTERM, code: exitTerminated,
			wantErr: "linkbolt: export events: interrupted by SIGTERM; no file was written to " + exportDir + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold := newRequestHold(tt.method, tt.path, tt.prefix)
			s := startAPIServerOn(t, filepath.Join(t.TempDir(), "api.db"), nil, server.Options{}, hold.wrap)
			seedLinks(t, s, 3)
			hold.arm()

			res := runInterrupted(t, append(tt.args, "--server", s.url), tt.sig, hold.arrived, tt.ready)
			if res.code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, tt.code, res.errOut)
			}
			if want := strings.ReplaceAll(tt.wantErr, "{server}", s.url); res.errOut != want {
				t.Errorf("stderr = %q, want %q", res.errOut, want)
			}
			if strings.Contains(res.errOut, "check that the server runs") {
				t.Errorf("stderr %q blames the server for the interruption", res.errOut)
			}
			if res.out != tt.wantOut {
				t.Errorf("stdout = %q, want %q", res.out, tt.wantOut)
			}
		})
	}

	// Neither the backup nor the export left a file or a directory.
	if entries, err := os.ReadDir(backupDir); err != nil || len(entries) != 0 {
		t.Errorf("backup directory holds %d entries (error %v), want none", len(entries), err)
	}
	if _, err := os.Stat(exportDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("export directory %s exists (stat error %v), want it removed", exportDir, err)
	}
}

func TestInterruptedImportIntoFile(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	db := filepath.Join(dir, "new.db")

	// The signal came before the first file: the new file is removed.
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(&interruptedError{os.Interrupt})
	var out, errOut bytes.Buffer
	code := execute(ctx, newRootCommand(&out, &errOut), []string{"import", "--db", db, "--users", users}, &errOut)
	if code != exitInterrupted {
		t.Errorf("exit code %d, want %d; stderr: %s", code, exitInterrupted, errOut.String())
	}
	want := "linkbolt: interrupted by SIGINT before the import of users from " + users + "\n"
	if errOut.String() != want {
		t.Errorf("stderr = %q, want %q", errOut.String(), want)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (stat error %v), want it removed", db, err)
	}
}

func TestImportFileStopsOnSignal(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "direct.db")
	res := runCommand(t, "import", "--db", db, "--users", writeFile(t, dir, "users.csv", usersCSV))
	expectExit(t, res, exitOK)

	// A signal during the read of a file fails the read, so the file is
	// rolled back.
	ctx, cancel := context.WithCancelCause(t.Context())
	interrupted := &interruptedError{syscall.SIGTERM}
	cancel(interrupted)
	st, err := store.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = importFile(ctx, st, writeFile(t, dir, "urls.csv", urlsCSV), server.LoadURLsCSV)
	if closeErr := st.Close(); closeErr != nil {
		t.Fatal(closeErr)
	}
	if !errors.Is(err, interrupted) {
		t.Errorf("importFile returned %v, want the interruption", err)
	}
	if counts := dbCounts(t, db); counts.URLs != 0 || counts.Users != 2 {
		t.Errorf("counts = %+v, want the 2 users and no url", counts)
	}
}

func TestKilledRunTempsRemoved(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	seedLinks(t, s, 3)
	dir := t.TempDir()

	// Files that killed runs left, one that a running backup holds, and
	// one of a name that no run writes.
	staleBackup := writeFile(t, dir, ".out.db-123.tmp", "partial download")
	staleExport := writeFile(t, dir, ".events-456.tmp", "id,url_id\n")
	otherName := writeFile(t, dir, ".out.db-old.tmp", "kept")
	running, err := tempfile.Create(dir, backupTempPrefix("out.db"), backupTempSuffix, true)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	if _, err := running.WriteString("download in progress"); err != nil {
		t.Fatal(err)
	}

	res := s.cli(t, "backup", "--out", filepath.Join(dir, "out.db"))
	expectExit(t, res, exitOK)
	if want := "note: removed " + staleBackup + ", a temporary file that a killed backup left\n"; res.errOut != want {
		t.Errorf("backup stderr = %q, want %q", res.errOut, want)
	}

	res = s.cli(t, "export", "--dir", dir)
	expectExit(t, res, exitOK)
	if want := "note: removed " + staleExport + ", a temporary file that a killed export left\n"; res.errOut != want {
		t.Errorf("export stderr = %q, want %q", res.errOut, want)
	}

	for _, path := range []string{staleBackup, staleExport} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists (stat error %v), want it removed", path, err)
		}
	}
	for _, path := range []string{otherName, running.Name()} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s was removed: %v", path, err)
		}
	}
}
