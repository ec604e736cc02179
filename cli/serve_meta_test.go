package cli

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// TestServeWarnsOfInvalidMetaPage damages the meta page of the newest
// commit. bbolt then opens the file at the older commit without a word,
// and the server's first commit writes over the damaged page, so serve
// reads the meta pages first and logs what it found.
func TestServeWarnsOfInvalidMetaPage(t *testing.T) {
	opts := testServeOptions(t)
	s, err := store.Open(opts.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(store.User{Username: "meta", Email: "meta@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(opts.db)
	if err != nil {
		t.Fatal(err)
	}
	// A meta page holds its transaction id at byte 64 and its magic
	// number at byte 16.
	newest := 0
	if binary.NativeEndian.Uint64(data[4096+64:]) > binary.NativeEndian.Uint64(data[64:]) {
		newest = 4096
	}
	data[newest+16] ^= 0xFF
	if err := os.WriteFile(opts.db, data, 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, opts, slog.New(slog.NewJSONHandler(logs, nil)), started) }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("serve returned before it started: %v", err)
	case <-time.After(commandTimeout):
		t.Fatalf("serve did not start within %v", commandTimeout)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serve: %v", err)
	}
	for _, want := range []string{`"level":"WARN","msg":"database meta page invalid"`, "its magic number is wrong"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log has no %q:\n%s", want, logs.String())
		}
	}
}
