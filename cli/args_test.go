package cli

import (
	"testing"
)

func TestPositionalArgumentErrors(t *testing.T) {
	clearEnv(t)
	// Each command fails on its arguments before it sends a request, so
	// the server URL names nothing.
	server := closedServerURL(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"create without URL", []string{"create"}, "missing URL: linkbolt create URL [flags]"},
		{"create with two URLs", []string{"create", "https://a.example/", "https://b.example/"},
			`unexpected argument "https://b.example/" after URL: linkbolt create URL [flags]`},
		{"get without argument", []string{"get"}, "missing ID or CODE: linkbolt get ID|CODE [flags]"},
		{"get with two arguments", []string{"get", "1", "2"}, `unexpected argument "2" after ID or CODE: linkbolt get ID|CODE [flags]`},
		{"update without ID", []string{"update", "--title", "x"}, "missing ID: linkbolt update ID [flags]"},
		{"update with two IDs", []string{"update", "1", "2"}, `unexpected argument "2" after ID: linkbolt update ID [flags]`},
		{"delete without ID", []string{"delete"}, "missing ID: linkbolt delete ID... [flags]"},
		{"user create without arguments", []string{"user", "create"},
			"missing USERNAME and EMAIL: linkbolt user create USERNAME EMAIL [flags]"},
		{"user create without email", []string{"user", "create", "carol"},
			"missing EMAIL: linkbolt user create USERNAME EMAIL [flags]"},
		{"user create with three arguments", []string{"user", "create", "carol", "carol@example.com", "x"},
			`unexpected argument "x" after EMAIL: linkbolt user create USERNAME EMAIL [flags]`},
		{"user delete without ID", []string{"user", "delete"}, "missing ID: linkbolt user delete ID... [flags]"},
		{"argument to list", []string{"list", "extra"}, `unexpected argument "extra": linkbolt list takes no arguments, only flags`},
		{"argument to user list", []string{"user", "list", "extra"},
			`unexpected argument "extra": linkbolt user list takes no arguments, only flags`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, append(tt.args, "--server", server)...)
			if res.code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, exitUsage, res.errOut)
			}
			if want := "linkbolt: " + tt.wantErr + "\n"; res.errOut != want {
				t.Errorf("stderr = %q, want %q", res.errOut, want)
			}
			if res.out != "" {
				t.Errorf("stdout = %q, want empty", res.out)
			}
		})
	}
}
