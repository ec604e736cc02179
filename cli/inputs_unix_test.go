//go:build unix

package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestInputFileErrors(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	missing := filepath.Join(dir, "missing.csv")
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := writeFile(t, dir, "unreadable", usersCSV)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	// root opens files whatever their mode, so the case shows nothing.
	asRoot := os.Geteuid() == 0
	newDB := filepath.Join(t.TempDir(), "new.db")

	tests := []struct {
		name    string
		args    []string
		wantErr string // the start of the message after "linkbolt: "
	}{
		{"import missing file", []string{"import", "--users", missing}, "--users " + missing + ": no such file or directory"},
		{"import missing file into database", []string{"import", "--db", newDB, "--users", missing},
			"--users " + missing + ": no such file or directory"},
		{"import unreadable file", []string{"import", "--users", unreadable}, "--users " + unreadable + ": permission denied"},
		{"import into directory", []string{"import", "--db", subdir, "--users", users},
			"--db " + subdir + " is a directory: import --db loads only into a regular database file"},
		{"import into device", []string{"import", "--db", os.DevNull, "--users", users},
			"--db " + os.DevNull + " is a device"},
		{"import into missing directory", []string{"import", "--db", filepath.Join(missing, "x.db"), "--users", users},
			"--db " + filepath.Join(missing, "x.db") + ": directory " + missing + ": no such file or directory"},
		{"check missing file", []string{"check", "--db", missing}, "--db " + missing + ": no such file or directory"},
		{"check directory", []string{"check", "--db", subdir}, "--db " + subdir + " is a directory: check reads only regular database files"},
		{"check device", []string{"check", "--db", os.DevNull}, "--db " + os.DevNull + " is a device"},
		{"check named pipe", []string{"check", "--db", fifo}, "--db " + fifo + " is a named pipe"},
		{"check unreadable file", []string{"check", "--db", unreadable}, "--db " + unreadable + ": permission denied"},
		{"compact missing file", []string{"compact", "--db", missing}, "--db " + missing + ": no such file or directory"},
		{"compact directory", []string{"compact", "--db", subdir}, "--db " + subdir + " is a directory: compact reads only regular database files"},
		{"compact named pipe", []string{"compact", "--db", fifo}, "--db " + fifo + " is a named pipe"},
		{"compact unreadable file", []string{"compact", "--db", unreadable}, "--db " + unreadable + ": permission denied"},
		{"serve directory", []string{"serve", "--addr", "127.0.0.1:0", "--db", subdir},
			"--db " + subdir + " is a directory: serve runs only on a regular database file"},
		{"serve named pipe", []string{"serve", "--addr", "127.0.0.1:0", "--db", fifo}, "--db " + fifo + " is a named pipe"},
		{"serve unreadable file", []string{"serve", "--addr", "127.0.0.1:0", "--db", unreadable},
			"--db " + unreadable + ": permission denied"},
		{"serve in missing directory", []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(missing, "x.db")},
			"--db " + filepath.Join(missing, "x.db") + ": directory " + missing + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if asRoot && strings.Contains(tt.name, "unreadable") {
				t.Skip("root can read a file of mode 0")
			}
			res := runCommand(t, append(tt.args, "--log-level", "warn")...)
			expectExit(t, res, exitUsage, "linkbolt: "+tt.wantErr)
			if _, err := os.Stat(newDB); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists (stat error %v), want no file", newDB, err)
			}
		})
	}
}

func TestInputFileFromEnvironment(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	t.Setenv("LINKBOLT_DB", dir)
	for _, command := range []string{"check", "compact"} {
		res := runCommand(t, command)
		expectExit(t, res, exitUsage, "linkbolt: LINKBOLT_DB "+dir+" is a directory")
	}
}
