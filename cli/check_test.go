package cli

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/linkbolt/linkbolt/store"
)

// importedDB returns a database file loaded with the CSV fixtures through
// the import command.
func importedDB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "fixtures.db")
	res := runCommand(t, "import", "--db", db,
		"--users", writeFile(t, dir, "users.csv", usersCSV),
		"--urls", writeFile(t, dir, "urls.csv", urlsCSV),
		"--events", writeFile(t, dir, "events.csv", eventsCSV))
	if res.code != exitOK {
		t.Fatalf("import: exit code %d; stderr: %s", res.code, res.errOut)
	}
	return db
}

// damagedDB returns a fixture file with two problems written by bbolt
// directly: the short code of url 1 lost its index entry, and url 99, which
// does not exist, has a click count.
func damagedDB(t *testing.T) string {
	t.Helper()
	db := importedDB(t)
	bdb, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("urls_by_code")).Delete([]byte("abc123")); err != nil {
			return err
		}
		id := binary.BigEndian.AppendUint64(nil, 99)
		count := binary.BigEndian.AppendUint64(nil, 4)
		return tx.Bucket([]byte("clicks")).Put(id, count)
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// pendingClicksDB returns a backup of the fixture file taken while three
// recorded clicks wait to be indexed, as a backup under load or a crash
// leaves them.
func pendingClicksDB(t *testing.T) string {
	t.Helper()
	s, err := store.Open(importedDB(t), &store.Options{ClickIndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clicks := make([]store.Click, 3)
	for i := range clicks {
		clicks[i] = store.Click{URLID: 1, Time: time.Now()}
	}
	if err := s.RecordClicks(clicks); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.Backup(&buf, nil); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "pending.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return backup
}

func TestCheckCommand(t *testing.T) {
	clearEnv(t)
	clean := importedDB(t)
	damaged := damagedDB(t)
	pending := pendingClicksDB(t)

	tests := []struct {
		name     string
		db       string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{
			name:     "clean file",
			db:       clean,
			wantCode: exitOK,
			wantOut:  []string{"checked " + clean + ":", "schema version 1", "records: 2 users, 3 urls, 2 events", "no problems found"},
		},
		{
			name:     "clicks not yet indexed",
			db:       pending,
			wantCode: exitOK,
			wantOut:  []string{"records: 2 users, 3 urls, 5 events", "3 clicks not yet indexed", "no problems found"},
		},
		{
			name:     "damaged file",
			db:       damaged,
			wantCode: exitFailure,
			wantOut: []string{
				"2 problems found:",
				"KIND", "BUCKET", "PROBLEM",
				`missing_index  urls_by_code  url 1 has no entry for short code "abc123"`,
				"click_count    clicks        click count 4 belongs to url 99, which does not exist",
			},
			wantErr: damaged + " has 2 problems",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, "check", "--db", tt.db)
			if res.code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, tt.wantCode, res.errOut)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(res.out, want) {
					t.Errorf("output does not contain %q:\n%s", want, res.out)
				}
			}
			if tt.wantErr == "" && res.errOut != "" {
				t.Errorf("stderr = %q, want empty", res.errOut)
			}
			if !strings.Contains(res.errOut, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", res.errOut, tt.wantErr)
			}
		})
	}
}

func TestCheckCommandJSON(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name      string
		db        string
		wantCode  int
		wantKinds []string
	}{
		{name: "clean file", db: importedDB(t), wantCode: exitOK, wantKinds: []string{}},
		{name: "damaged file", db: damagedDB(t), wantCode: exitFailure, wantKinds: []string{"missing_index", "click_count"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, "check", "--db", tt.db, "--output", "json")
			if res.code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, tt.wantCode, res.errOut)
			}
			var got checkJSON
			if err := json.Unmarshal([]byte(res.out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, res.out)
			}
			if got.OK != (tt.wantCode == exitOK) {
				t.Errorf("ok = %v with exit code %d", got.OK, res.code)
			}
			if got.Total != len(tt.wantKinds) {
				t.Errorf("total_problems = %d, want %d", got.Total, len(tt.wantKinds))
			}
			if got.Problems == nil {
				t.Error("problems is null, want a list")
			}
			kinds := []string{}
			for _, p := range got.Problems {
				kinds = append(kinds, p.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.wantKinds, ",") {
				t.Errorf("problem kinds = %v, want %v", kinds, tt.wantKinds)
			}
			if !got.RecordsChecked || got.URLs != 3 || got.SchemaVersion != 1 {
				t.Errorf("records_checked %v, urls %d, schema_version %d; want true, 3, 1", got.RecordsChecked, got.URLs, got.SchemaVersion)
			}
		})
	}
}

func TestCheckCommandErrors(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	locked := filepath.Join(dir, "locked.db")
	st, err := store.Open(locked, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	missing := filepath.Join(dir, "missing.db")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"check of locked file", []string{"check", "--db", locked}, exitInUse, "in use by another process"},
		{"compact of locked file", []string{"compact", "--db", locked}, exitInUse, "in use by another process"},
		{"check of missing file", []string{"check", "--db", missing}, exitUsage, "--db " + missing + ": no such file"},
		{"compact of missing file", []string{"compact", "--db", missing}, exitUsage, "--db " + missing + ": no such file"},
		{"check of empty path", []string{"check", "--db", ""}, exitUsage, "missing --db FILE"},
		{"compact of empty path", []string{"compact", "--db", ""}, exitUsage, "missing --db FILE"},
		{"unknown output format", []string{"check", "--db", locked, "--output", "xml"}, exitUsage, "xml"},
		{"argument to check", []string{"check", "--db", locked, "extra"}, exitUsage, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCommand(t, tt.args...)
			if res.code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", res.code, tt.wantCode, res.errOut)
			}
			if !strings.Contains(res.errOut, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", res.errOut, tt.wantErr)
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("check or compact created %s: %v", missing, err)
	}
}

func TestCompactCommand(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name   string
		output bool // give --out
	}{
		{name: "in place", output: false},
		{name: "to new file", output: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := importedDB(t)
			original, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"compact", "--db", db}
			target := db
			if tt.output {
				target = filepath.Join(t.TempDir(), "compacted.db")
				args = append(args, "--out", target)
			}

			res := runCommand(t, args...)
			if res.code != exitOK {
				t.Fatalf("exit code %d, want 0; stderr: %s", res.code, res.errOut)
			}
			want := "compacted " + db + " into " + target + ": "
			if !strings.HasPrefix(res.out, want) {
				t.Errorf("output %q does not start with %q", res.out, want)
			}
			if got := dbCounts(t, target); got != (store.Counts{Users: 2, URLs: 3, Events: 2}) {
				t.Errorf("counts of the compacted file = %+v", got)
			}
			if res := runCommand(t, "check", "--db", target); res.code != exitOK {
				t.Errorf("check of the compacted file: exit code %d; output:\n%s", res.code, res.out)
			}
			if tt.output {
				after, err := os.ReadFile(db)
				if err != nil || !bytes.Equal(after, original) {
					t.Errorf("compact --out changed the original (%v)", err)
				}
			}
		})
	}
}

func TestCompactCommandJSON(t *testing.T) {
	clearEnv(t)
	db := importedDB(t)
	res := runCommand(t, "compact", "--db", db, "--output", "json")
	if res.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.code, res.errOut)
	}
	var got compactJSON
	if err := json.Unmarshal([]byte(res.out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, res.out)
	}
	info, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if got.DB != db || got.Path != db {
		t.Errorf("db %q, path %q; want both %q", got.DB, got.Path, db)
	}
	if got.After != info.Size() {
		t.Errorf("after_bytes = %d, want the file size %d", got.After, info.Size())
	}
	if got.Before <= 0 {
		t.Errorf("before_bytes = %d, want positive", got.Before)
	}
}

func TestCompactCommandOutputExists(t *testing.T) {
	clearEnv(t)
	db := importedDB(t)
	out := writeFile(t, t.TempDir(), "taken.db", "keep")

	res := runCommand(t, "compact", "--db", db, "--out", out)
	if res.code != exitFailure {
		t.Errorf("exit code %d, want %d; stderr: %s", res.code, exitFailure, res.errOut)
	}
	if !strings.Contains(res.errOut, "already exists") {
		t.Errorf("stderr %q does not say the output exists", res.errOut)
	}
	if data, _ := os.ReadFile(out); string(data) != "keep" {
		t.Errorf("compact overwrote %s: %q", out, data)
	}
}

func TestCheckReportSchemaNotRead(t *testing.T) {
	// Damage to bbolt's pages stops the check before it reads the schema
	// version and the records.
	r := store.CheckReport{Size: 8192, Total: 1, Problems: []store.Problem{
		{Kind: store.ProblemFile, Message: "page 4 has type 0x7f, want a branch or a leaf"},
	}}
	var out bytes.Buffer
	if err := writeCheckReport(&out, "x.db", r, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"checked x.db: 8192 bytes, schema version not read", "records: not read"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q does not contain %q", out.String(), want)
		}
	}
	if strings.Contains(out.String(), "schema version 0") {
		t.Errorf("output %q names schema version 0", out.String())
	}
}

func TestStaleCompactTemps(t *testing.T) {
	clearEnv(t)
	db := importedDB(t)
	dir := filepath.Dir(db)

	// The file that a compact killed with SIGKILL leaves: bbolt's first
	// four pages, which no process holds.
	stale := writeFile(t, dir, ".fixtures.db.compact-3395675285", strings.Repeat("\x00", 16<<10))

	res := runCommand(t, "check", "--db", db)
	expectExit(t, res, exitOK)
	want := "stale temporary file: " + stale + ", left by a killed compact and held by no process; " +
		"remove it, or run linkbolt compact, which removes it\n"
	if !strings.Contains(res.out, want) {
		t.Errorf("check output %q does not contain %q", res.out, want)
	}
	if !strings.Contains(res.out, "no problems found") {
		t.Errorf("check output %q does not say that the file has no problems", res.out)
	}
	res = runCommand(t, "check", "--db", db, "--output", "json")
	expectExit(t, res, exitOK)
	var report checkJSON
	decodeOutput(t, res, &report)
	if len(report.StaleTemps) != 1 || report.StaleTemps[0] != stale {
		t.Errorf("stale_temp_files = %q, want [%s]", report.StaleTemps, stale)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("check removed %s: %v", stale, err)
	}

	res = runCommand(t, "compact", "--db", db)
	expectExit(t, res, exitOK)
	if want := "removed " + stale + ", a temporary file that a killed compact left\n"; !strings.HasPrefix(res.out, want) {
		t.Errorf("compact output %q does not start with %q", res.out, want)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after compact (stat error %v)", stale, err)
	}

	// Nothing is left, so both lists are empty.
	res = runCommand(t, "compact", "--db", db, "--output", "json")
	expectExit(t, res, exitOK)
	var compacted compactJSON
	decodeOutput(t, res, &compacted)
	if compacted.RemovedTemps == nil || len(compacted.RemovedTemps) != 0 {
		t.Errorf("removed_temp_files = %#v, want an empty list", compacted.RemovedTemps)
	}
	res = runCommand(t, "check", "--db", db, "--output", "json")
	expectExit(t, res, exitOK)
	report = checkJSON{}
	decodeOutput(t, res, &report)
	if report.StaleTemps == nil || len(report.StaleTemps) != 0 {
		t.Errorf("stale_temp_files = %#v, want an empty list", report.StaleTemps)
	}
}
