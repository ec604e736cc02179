//go:build unix

package cli

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/linkbolt/linkbolt/server"
)

func TestImportRejectsNonRegularFiles(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users.csv", usersCSV)
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		wantErr []string
	}{
		{"directory", []string{"--users", users, "--events", subdir}, []string{"--events " + subdir, "is a directory", "regular files"}},
		{"named pipe", []string{"--users", fifo}, []string{"--users " + fifo, "is a named pipe", "regular files"}},
		{"named pipe last", []string{"--users", users, "--urls", fifo}, []string{"--urls " + fifo, "is a named pipe"}},
		{"device", []string{"--events", os.DevNull}, []string{"--events " + os.DevNull, "is a device"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAPIServer(t, server.Options{})
			res := s.cli(t, append([]string{"import"}, tt.args...)...)
			expectExit(t, res, exitUsage, tt.wantErr...)
			if _, total := s.fetchAll(t, "/users"); total != 0 {
				t.Errorf("/users holds %d records, want none imported", total)
			}

			db := filepath.Join(t.TempDir(), "direct.db")
			res = runCommand(t, append([]string{"import", "--db", db}, tt.args...)...)
			expectExit(t, res, exitUsage, tt.wantErr...)
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists (stat error %v), want no file", db, err)
			}
		})
	}
}
