package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// walkthroughTimeout bounds the whole README walkthrough.
const walkthroughTimeout = 60 * time.Second

// readmeWalkthrough returns the shell code blocks of the README's
// Walkthrough section, joined in order.
func readmeWalkthrough(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "### Walkthrough")
	if start < 0 {
		t.Fatal("README.md has no Walkthrough section")
	}
	section := text[start+len("### Walkthrough"):]
	// The section ends at the next heading; comments inside code blocks
	// start with "# ", which no heading does.
	if end := regexp.MustCompile(`\n#{2,3} `).FindStringIndex(section); end != nil {
		section = section[:end[0]]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) == 0 {
		t.Fatal("the Walkthrough section has no sh code block")
	}
	var script strings.Builder
	for _, b := range blocks {
		script.WriteString(b[1])
	}
	return script.String()
}

// TestREADMEWalkthrough runs the README's walkthrough as written, in a
// directory with ./linkbolt and testdata/, against a server on an empty
// database, and stops at the first command that fails.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("LINKBOLT_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("curl is not installed, and LINKBOLT_REQUIRE_INTEGRATION=1 forbids skipping")
		}
		t.Skip("curl is not installed")
	}
	script := readmeWalkthrough(t)
	srv := startServer(t, filepath.Join(t.TempDir(), "walkthrough.db"))

	dir := t.TempDir()
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(linkboltBinary(t), filepath.Join(dir, "linkbolt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testdata, filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(childEnv(), "LINKBOLT_SERVER="+srv.base)
	timer := time.AfterFunc(walkthroughTimeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\noutput:\n%s", err, out)
	}

	// The output shows what the walkthrough promises.
	for _, want := range []string{
		"imported 3 users",
		"HTTP/1.1 302 Found",
		"Location: https://example.com/docs?a=1&a=2#intro",
		"302\n302\n410\n",
		"would remove 1 link",
		`"title": "Documentation"`,
		"backup.db",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %q; output:\n%s", want, out)
		}
	}
	for _, name := range []string{"export/users.csv", "export/urls.csv", "export/events.csv", "backup.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("walkthrough did not write %s: %v", name, err)
		}
	}
}
