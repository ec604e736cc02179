package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/internal/integration"
)

// testCluster is a cluster of real linkbolt processes behind a real NGINX,
// all on 127.0.0.1.
type testCluster struct {
	peers []string
	procs []*integration.Process
	nginx string
	dir   string
}

// startCluster starts n shards and NGINX in front of them.
func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	integration.Nginx(t)
	c := &testCluster{dir: t.TempDir()}
	for range n {
		c.peers = append(c.peers, integration.FreeAddr(t))
	}
	for i, peer := range c.peers {
		db := filepath.Join(c.dir, "shard"+string(rune('a'+i))+".db")
		c.procs = append(c.procs, integration.StartLinkbolt(t, peer, db, c.clusterArgs(peer)...))
	}
	c.nginx = integration.FreeAddr(t)
	c.startNginx(t)
	return c
}

// testSecret is the cluster secret of the test clusters.
const testSecret = "test-cluster-secret-0123456789"

func (c *testCluster) clusterArgs(self string) []string {
	return []string{"--peers", strings.Join(c.peers, ","), "--self", self, "--cluster-secret", testSecret}
}

// startNginx writes the configuration with "linkbolt nginx-conf" for the
// current peers, checks it with nginx -t and starts NGINX on it.
func (c *testCluster) startNginx(t *testing.T) {
	t.Helper()
	conf := nginxConf(t, c.peers, c.nginx, t.TempDir())
	if out, err := integration.TestConf(t, conf); err != nil {
		t.Fatalf("nginx -t rejected the generated configuration: %v\n%s", err, out)
	}
	integration.StartNginx(t, conf, c.nginx)
}

// nginxConf runs "linkbolt nginx-conf" and returns its output.
func nginxConf(t *testing.T, peers []string, listen, tempDir string) string {
	t.Helper()
	out, code := integration.Run(t, "nginx-conf", "--peers", strings.Join(peers, ","),
		"--listen", listen, "--temp-dir", tempDir, "--access-log", "off")
	if code != 0 {
		t.Fatalf("nginx-conf exited with %d: %s", code, out)
	}
	return out
}

// response is a buffered HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("invalid JSON %q: %v", r.body, err)
	}
}

var testClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
}

// send sends one request; a body that starts with "{" is sent as JSON and
// any other as CSV.
func send(t testing.TB, method, url, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		if strings.HasPrefix(body, "{") || strings.HasPrefix(body, "[") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "text/csv")
		}
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: bytes.TrimSpace(data)}
}
