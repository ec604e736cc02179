package cli

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeRejectsBadClusterFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"self not a peer", []string{"--peers", "127.0.0.1:1,127.0.0.1:2", "--self", "127.0.0.1:3"}, nil, "is not one of --peers"},
		{"duplicate peer", []string{"--peers", "127.0.0.1:1,127.0.0.1:1", "--self", "127.0.0.1:1"}, nil, "listed twice"},
		{"peer without port", []string{"--peers", "127.0.0.1", "--self", "127.0.0.1"}, nil, "host:port"},
		{"missing self", []string{"--peers", "127.0.0.1:1"}, nil, "missing --self"},
		{"self without peers", []string{"--self", "127.0.0.1:1"}, nil, "needs --peers"},
		{"env self not a peer", nil, map[string]string{"LINKBOLT_PEERS": "127.0.0.1:1", "LINKBOLT_SELF": "127.0.0.1:9"}, "is not one of --peers"},
		{"empty peer entry", []string{"--peers", "127.0.0.1:1,,127.0.0.1:2", "--self", "127.0.0.1:1"}, nil, "empty entry"},
		{"trailing comma", []string{"--peers", "127.0.0.1:1,", "--self", "127.0.0.1:1"}, nil, "empty entry"},
		{"peers differing in case", []string{"--peers", "LOCALHOST:1,localhost:1", "--self", "localhost:1"}, nil, "not case-sensitive"},
		{"missing secret", []string{"--peers", "127.0.0.1:1", "--self", "127.0.0.1:1"}, nil, "missing cluster secret"},
		{"short secret", []string{"--peers", "127.0.0.1:1", "--self", "127.0.0.1:1", "--cluster-secret", "short"}, nil, "at least 16"},
		{"secret with space", []string{"--peers", "127.0.0.1:1", "--self", "127.0.0.1:1", "--cluster-secret", "0123456789 abcdefgh"}, nil, "printable ASCII"},
		{"secret twice", []string{"--peers", "127.0.0.1:1", "--self", "127.0.0.1:1", "--cluster-secret", "0123456789abcdefgh", "--cluster-secret-file", "/nonexistent"}, nil, "not both"},
		{"missing secret file", []string{"--peers", "127.0.0.1:1", "--self", "127.0.0.1:1", "--cluster-secret-file", "/nonexistent/secret"}, nil,
			"--cluster-secret-file /nonexistent/secret: no such file or directory"},
		{"secret file a device", []string{"--peers", "127.0.0.1:1", "--self", "127.0.0.1:1", "--cluster-secret-file", os.DevNull}, nil,
			"--cluster-secret-file " + os.DevNull + " is a device: the secret file must be a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			db := filepath.Join(t.TempDir(), "never.db")
			var out, errOut bytes.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, tc.args...)
			code := run(args, &out, &errOut)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitUsage, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.want)
			}
		})
	}
}

func TestServeTrimsSelf(t *testing.T) {
	o := &serveOptions{
		peers:         "127.0.0.1:27199, 127.0.0.1:27200",
		self:          " 127.0.0.1:27199 ",
		clusterSecret: secretOptions{value: "0123456789abcdef0123"},
	}
	c, err := o.clusterOptions()
	if err != nil {
		t.Fatalf("clusterOptions: %v", err)
	}
	if c.Self != "127.0.0.1:27199" {
		t.Errorf("Self = %q, want 127.0.0.1:27199", c.Self)
	}
}

func TestNginxConfRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no peers", nil, "missing --peers"},
		{"bad peer", []string{"--peers", "nohost"}, "host:port"},
		{"empty peer entry", []string{"--peers", "127.0.0.1:1,,127.0.0.1:2"}, "empty entry"},
		{"peers differing in case", []string{"--peers", "LOCALHOST:1,localhost:1"}, "not case-sensitive"},
		{"bad listen", []string{"--peers", "127.0.0.1:1", "--listen", "80; evil"}, "invalid --listen"},
		{"zero max fails", []string{"--peers", "127.0.0.1:1", "--max-fails", "0"}, "--max-fails"},
		{"fractional fail timeout", []string{"--peers", "127.0.0.1:1", "--fail-timeout", "1500ms"}, "--fail-timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"nginx-conf"}, tc.args...), &out, &errOut)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitUsage, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.want)
			}
		})
	}
}

func TestRebalanceRejectsBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"rebalance", "--from", "127.0.0.1:1", "--to", "127.0.0.1"}, &out, &errOut)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errOut.String(), "invalid --to") {
		t.Errorf("stderr %q does not name --to", errOut.String())
	}
}

func TestServeRejectsBadListenAddrs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"addr without port", []string{"--addr", "nonsense"}, "invalid --addr"},
		{"addr port too high", []string{"--addr", "127.0.0.1:99999"}, "invalid --addr"},
		{"addr negative port", []string{"--addr", "127.0.0.1:-1"}, "invalid --addr"},
		{"addr named port", []string{"--addr", "127.0.0.1:http"}, "invalid --addr"},
		{"pprof without port", []string{"--addr", "127.0.0.1:0", "--pprof-addr", "bogus"}, "invalid --pprof-addr"},
		{"pprof port too high", []string{"--addr", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:99999"}, "invalid --pprof-addr"},
		{"pprof leading space", []string{"--addr", "127.0.0.1:0", "--pprof-addr", " 127.0.0.1:0"}, `invalid --pprof-addr " 127.0.0.1:0": remove the spaces`},
		{"pprof trailing space", []string{"--addr", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:0 "}, `invalid --pprof-addr "127.0.0.1:0 ": remove the spaces`},
		{"addr leading space", []string{"--addr", " 127.0.0.1:0"}, `invalid --addr " 127.0.0.1:0": remove the spaces`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "never.db")
			var out, errOut bytes.Buffer
			code := run(append([]string{"serve", "--db", db}, tc.args...), &out, &errOut)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitUsage, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.want)
			}
			if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("database file exists after a usage error: %v", err)
			}
		})
	}
}
