package cluster

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/linkbolt/linkbolt/internal/integration"
)

// startEchoBackends starts n HTTP servers on 127.0.0.1 that respond with
// their own address, and returns those addresses.
func startEchoBackends(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, addr)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		addrs = append(addrs, addr)
	}
	return addrs
}

// TestRingMatchesNginx sends random keys through a real NGINX whose upstream
// uses "hash $arg_k consistent" and checks that the backend that served it
// is the ring's owner of each key.
func TestRingMatchesNginx(t *testing.T) {
	integration.Nginx(t)
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d peers", n), func(t *testing.T) {
			backends := startEchoBackends(t, n)
			ring, err := NewRing(backends)
			if err != nil {
				t.Fatal(err)
			}
			listen := integration.FreeAddr(t)
			dir := t.TempDir()
			var servers strings.Builder
			for _, b := range backends {
				fmt.Fprintf(&servers, "    server %s;\n", b)
			}
			conf := fmt.Sprintf(`events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream ring {
    hash $arg_k consistent;
%[2]s    keepalive 16;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://ring;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, dir, servers.String(), listen)
			integration.StartNginx(t, conf, listen)

			client := &http.Client{}
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			keys := 3000
			if n == 3 && !testing.Short() {
				keys = 10000
			}
			for i := range keys {
				key := randomKey(rng, 1+i%12)
				resp, err := client.Get("http://" + listen + "/?k=" + key)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := ring.OwnerName(key); string(body) != want {
					t.Fatalf("key %q: nginx chose %s, ring owner is %s", key, body, want)
				}
			}
		})
	}
}

func randomKey(rng *rand.Rand, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func TestMain(m *testing.M) {
	code := m.Run()
	integration.Cleanup()
	os.Exit(code)
}
