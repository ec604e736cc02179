package cluster

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawRequest writes request to addr as it is and returns the response,
// for requests that net/http would not send.
func rawRequest(t *testing.T, addr, request string) (int, http.Header, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// TestNginxErrorsAreJSON sends requests that NGINX itself rejects and
// checks that each error is a JSON object with an error field.
func TestNginxErrorsAreJSON(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	long := "/" + strings.Repeat("a", 20000)
	bigHeader := "X-Big: " + strings.Repeat("b", 40000) + "\r\n"
	tests := []struct {
		name    string
		request string
		status  int
	}{
		{"nul in path", "GET /%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusBadRequest},
		{"path above root", "GET /%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusBadRequest},
		{"long path", "GET " + long + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http.StatusRequestURITooLong},
		{"large header", "GET /health HTTP/1.1\r\nHost: x\r\n" + bigHeader + "Connection: close\r\n\r\n", http.StatusBadRequest},
		{"missing host", "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, header, body := rawRequest(t, c.nginx, tc.request)
			if status != tc.status {
				t.Errorf("status %d, want %d: %s", status, tc.status, body)
			}
			if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var msg struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &msg); err != nil || msg.Error == "" {
				t.Errorf("body %q is not a JSON error: %v", body, err)
			}
		})
	}
}

// TestNginxRejectsClusterBackup checks that a backup through NGINX, which
// would hold one shard's data, gets a JSON 403 that names the fix.
func TestNginxRejectsClusterBackup(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	resp := send(t, http.MethodGet, "http://"+c.nginx+"/admin/backup", "")
	if resp.status != http.StatusForbidden {
		t.Errorf("GET /admin/backup through NGINX: status %d, want 403", resp.status)
	}
	if !strings.Contains(string(resp.body), "back up each shard directly") {
		t.Errorf("GET /admin/backup through NGINX: body %s does not say to back up each shard", resp.body)
	}
}
