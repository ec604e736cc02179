package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// serveRedirects serves a 302 to every request on addr, and returns the
// server and the address it listens on.
func serveRedirects(t *testing.T, addr string) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://example.com/", http.StatusFound)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String()
}

// heldGet sends one GET over tr and returns its error.
func heldGet(t *testing.T, tr *heldTransport, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// TestHeldConnectionsReopenAfterRestart stops the server under a set of
// held connections and starts it again on the same port. Requests fail
// at once while it is down, and every slot opens a new connection once
// it is back.
func TestHeldConnectionsReopenAfterRestart(t *testing.T) {
	const slots = 3
	srv, addr := serveRedirects(t, "127.0.0.1:0")
	tr, err := newHeldTransport(context.Background(), newDialGuard(false, time.Second), addr, slots)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.close)
	if err := heldGet(t, tr, addr); err != nil {
		t.Fatalf("request before the restart: %v", err)
	}

	srv.Close()
	for i := range 2 * slots {
		start := time.Now()
		if err := heldGet(t, tr, addr); err == nil {
			t.Fatalf("request %d while the server is down succeeded", i+1)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("request %d while the server is down took %v; want it to fail at once", i+1, took)
		}
	}

	serveRedirects(t, addr)
	for i := range 2 * slots {
		if err := heldGet(t, tr, addr); err != nil {
			t.Fatalf("request %d after the restart: %v", i+1, err)
		}
	}
	if got := tr.reconnects(); got != slots {
		t.Errorf("reconnects = %d, want %d, one per held connection", got, slots)
	}
}
