package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/server"
)

// Defaults of the nginx-conf command.
const (
	defaultNginxListen    = "80"
	defaultNginxAccessLog = "/var/log/nginx/linkbolt.access.log"
	defaultMaxFails       = 3
	defaultFailTimeout    = 10 * time.Second
	defaultKeepalive      = 64
)

// nginxConfOptions are the flags of the nginx-conf command.
type nginxConfOptions struct {
	peers       string
	listen      string
	out         string
	accessLog   string
	tempDir     string
	maxFails    int
	failTimeout time.Duration
	keepalive   int
}

func newNginxConfCommand() *cobra.Command {
	o := &nginxConfOptions{}
	cmd := &cobra.Command{
		Use:   "nginx-conf",
		Short: "Write the NGINX configuration of a cluster",
		Long: "Write a complete nginx.conf for a cluster of linkbolt shards. Redirects are hashed on\n" +
			"the short code with \"hash $code consistent\", the ring that every shard computes from\n" +
			"the same --peers list, so each redirect reaches the shard that owns its code. The\n" +
			"rest of the API goes to the least busy shard. Run every shard with the same --peers.",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeNginxConf(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.peers, "peers", "", "comma-separated host:port of every shard, as given to serve --peers (env LINKBOLT_PEERS)")
	f.StringVar(&o.listen, "listen", defaultNginxListen, "NGINX listen address: a port, or host:port")
	f.StringVar(&o.out, "out", "", "file to write; standard output when empty")
	f.StringVar(&o.accessLog, "access-log", defaultNginxAccessLog, "NGINX access log file, or off")
	f.StringVar(&o.tempDir, "temp-dir", "", "directory for NGINX's temporary files, for running it without root; the built-in paths when empty")
	f.IntVar(&o.maxFails, "max-fails", defaultMaxFails, "failed attempts within --fail-timeout that take a shard out")
	f.DurationVar(&o.failTimeout, "fail-timeout", defaultFailTimeout, "window of --max-fails and time a failed shard stays out (whole seconds)")
	f.IntVar(&o.keepalive, "keepalive", defaultKeepalive, "idle keep-alive connections to the shards per NGINX worker")
	describeRanges(f, map[string]string{
		"max-fails":    fmt.Sprintf("an integer from 1 to %d", math.MaxInt),
		"fail-timeout": "whole seconds of at least 1s, such as 10s",
		"keepalive":    fmt.Sprintf("an integer from 1 to %d", math.MaxInt),
	})
	bindEnv(f, map[string]string{"peers": "LINKBOLT_PEERS"})
	return cmd
}

// nginxConfData fills nginxConfTemplate.
type nginxConfData struct {
	Peers        []string
	Listen       string
	AccessLog    string
	TempDir      string
	MaxFails     int
	FailTimeout  int
	Keepalive    int
	MaxBody      string
	MaxBodyMiB   int64
	RouteWords   []string
	HopHeader    string
	SecretHeader string
	InternalPath string
}

// writeNginxConf checks the options and writes the configuration to out or
// to the file of --out, unless ctx has ended before.
func writeNginxConf(ctx context.Context, out io.Writer, o *nginxConfOptions) error {
	if o.peers == "" {
		return usageError{fmt.Errorf("missing --peers: the host:port of every shard, as given to serve --peers")}
	}
	peers, err := cluster.ParsePeers(o.peers)
	if err != nil {
		return usageError{fmt.Errorf("invalid --peers: %w", err)}
	}
	if o.listen == "" || strings.ContainsAny(o.listen, " \t\r\n;{}#'\"") {
		return usageError{fmt.Errorf("invalid --listen %q: use a port such as 80, or host:port", o.listen)}
	}
	if o.accessLog == "" || strings.ContainsAny(o.accessLog+o.tempDir, "\t\r\n;{}#'\"") {
		return usageError{fmt.Errorf("invalid --access-log %q or --temp-dir %q: use a path without quotes, braces or semicolons", o.accessLog, o.tempDir)}
	}
	if o.maxFails < 1 {
		return usageError{fmt.Errorf("invalid --max-fails %d: must be at least 1", o.maxFails)}
	}
	if o.failTimeout < time.Second || o.failTimeout%time.Second != 0 {
		return usageError{fmt.Errorf("invalid --fail-timeout %s: use whole seconds, at least 1s", o.failTimeout)}
	}
	if o.keepalive < 1 {
		return usageError{fmt.Errorf("invalid --keepalive %d: must be at least 1", o.keepalive)}
	}

	data := nginxConfData{
		Peers:        peers,
		Listen:       o.listen,
		AccessLog:    o.accessLog,
		TempDir:      strings.TrimSuffix(o.tempDir, "/"),
		MaxFails:     o.maxFails,
		FailTimeout:  int(o.failTimeout / time.Second),
		Keepalive:    o.keepalive,
		MaxBody:      fmt.Sprintf("%dm", server.DefaultMaxBulkBytes>>20),
		MaxBodyMiB:   server.DefaultMaxBulkBytes >> 20,
		RouteWords:   server.RouteWords(),
		HopHeader:    cluster.HeaderHop,
		SecretHeader: cluster.HeaderSecret,
		InternalPath: "/_cluster/",
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if o.out == "" {
		return nginxConfTemplate.Execute(out, data)
	}
	var b strings.Builder
	if err := nginxConfTemplate.Execute(&b, data); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	return nil
}

var nginxConfTemplate = template.Must(template.New("nginx.conf").Parse(`# NGINX configuration of a linkbolt cluster of {{len .Peers}} shard(s), written by
# "linkbolt nginx-conf". Every shard runs "linkbolt serve" with the same
# --peers list as this file, in the same order:
#   --peers {{range $i, $p := .Peers}}{{if $i}},{{end}}{{$p}}{{end}}
# Regenerate this file from that list instead of editing the server lines:
# the order and spelling of the server strings decide which shard owns
# which code, on both sides. Needs NGINX 1.15.3 or later (tested with 1.22).
# Check it with "nginx -t -c FILE".

worker_processes auto;

events {
    worker_connections 4096;
}

http {
    # linkbolt answers JSON only, and NGINX's own errors below do too.
    default_type application/json;
    server_tokens off;
    log_format linkbolt '$remote_addr [$time_local] "$request" $status '
                        '$body_bytes_sent upstream=$upstream_addr '
                        'time=$request_time upstream_time=$upstream_response_time';
    access_log {{.AccessLog}}{{if ne .AccessLog "off"}} linkbolt{{end}};
{{- if .TempDir}}

    # Temporary files, in a directory that the NGINX user can write.
    client_body_temp_path {{.TempDir}}/body;
    proxy_temp_path {{.TempDir}}/proxy;
    fastcgi_temp_path {{.TempDir}}/fastcgi;
    uwsgi_temp_path {{.TempDir}}/uwsgi;
    scgi_temp_path {{.TempDir}}/scgi;
{{- end}}

    # Redirects. "hash ... consistent" is ketama: 160 points per server on a
    # CRC-32 ring, the function that every shard computes too, so a code
    # reaches the shard that owns it with no extra hop. A shard that fails
    # {{.MaxFails}} time(s) within {{.FailTimeout}}s is taken out for {{.FailTimeout}}s; its codes then go to
    # the next shard on the ring, which answers 503 with Retry-After for
    # them instead of a false 404.
    upstream linkbolt_codes {
        hash $linkbolt_code consistent;
{{- range .Peers}}
        server {{.}} max_fails={{$.MaxFails}} fail_timeout={{$.FailTimeout}}s;
{{- end}}
        # Idle connections kept open to the shards, per worker.
        keepalive {{.Keepalive}};
        keepalive_timeout 60s;
    }

    # The rest of the API: any shard answers, by forwarding or by asking
    # every shard, so the least busy one takes each request.
    upstream linkbolt_api {
        least_conn;
{{- range .Peers}}
        server {{.}} max_fails={{$.MaxFails}} fail_timeout={{$.FailTimeout}}s;
{{- end}}
        keepalive {{.Keepalive}};
        keepalive_timeout 60s;
    }

    # Health: open-source NGINX has no active health checks, so a shard is
    # taken out passively, when connections to it fail or time out (the
    # max_fails and fail_timeout above). GET /ready on each shard answers
    # 503 while it stops or cannot write; point an orchestrator or an
    # external checker at it, or NGINX Plus with "health_check uri=/ready".

    server {
        listen {{.Listen}};

        # The bulk CSV imports accept up to this size; JSON bodies are
        # limited to 1 MiB by linkbolt itself.
        client_max_body_size {{.MaxBody}};

        # Keep-alive to the shards: HTTP/1.1 and no "Connection: close".
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        # The client's address, for linkbolt's rate limit and logs; list
        # this NGINX in the shards' --trusted-proxies.
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

        # Only shards mark a request as sent by a peer, with the cluster
        # secret, which NGINX neither needs nor passes on.
        proxy_set_header {{.HopHeader}} "";
        proxy_set_header {{.SecretHeader}} "";

        # A dead shard is found fast; a bulk import may take minutes.
        proxy_connect_timeout 2s;
        proxy_send_timeout 300s;
        proxy_read_timeout 300s;

        # Requests are retried on another shard only when a connection
        # failed or timed out, and never for POST (the NGINX default).
        proxy_next_upstream error timeout;

        # NGINX's own errors as JSON, like every answer of linkbolt: a
        # request it cannot parse (400), a path longer than its buffers
        # (414), headers longer than its buffers (494, sent as 400), a
        # body too large (413) and a shard that fails (502 to 504).
        # The first three use URIs, because NGINX 1.22 answers 500 when
        # an error found while reading the request goes to a named
        # location.
        error_page 400 /_linkbolt_error/400;
        error_page 414 /_linkbolt_error/414;
        error_page 494 /_linkbolt_error/494;
        error_page 413 @linkbolt_413;
        error_page 502 @linkbolt_502;
        error_page 503 @linkbolt_503;
        error_page 504 @linkbolt_504;

        # Redirects: /{code}, /{code}/ and /urls/{code}/redirect, hashed on
        # the code alone.
        location ~ "^/(?<linkbolt_code>[A-Za-z0-9_-]{1,64})/?$" {
            proxy_pass http://linkbolt_codes;
        }
        location ~ "^/urls/(?<linkbolt_code>[A-Za-z0-9_-]{1,64})/redirect$" {
            proxy_pass http://linkbolt_codes;
        }

        # Paths of the API that have the form of a code. Exact matches win
        # over the regular expressions above.
{{- range .RouteWords}}
        location = /{{.}} {
            proxy_pass http://linkbolt_api;
        }
{{- end}}

        # A backup holds one shard's file, so it is taken from each shard
        # directly, never through the balancer.
        location = /admin/backup {
            return 403 '{"error":"a backup through NGINX would hold one shard only; back up each shard directly: linkbolt backup --server http://SHARD"}\n';
        }

        # Routes between shards are not for clients.
        location ^~ {{.InternalPath}} {
            return 404 '{"error":"no route for this path"}\n';
        }

        location / {
            proxy_pass http://linkbolt_api;
        }

        location = /_linkbolt_error/400 {
            internal;
            return 400 '{"error":"invalid request: NGINX could not parse its method, path or headers"}\n';
        }
        location = /_linkbolt_error/414 {
            internal;
            return 414 '{"error":"the request path is too long; short codes have at most 64 characters"}\n';
        }
        location = /_linkbolt_error/494 {
            internal;
            return 400 '{"error":"the request headers are too large"}\n';
        }
        location @linkbolt_413 {
            return 413 '{"error":"request body is larger than {{.MaxBodyMiB}} MiB"}\n';
        }
        location @linkbolt_502 {
            add_header Retry-After 10 always;
            return 502 '{"error":"no shard answered this request; retry later"}\n';
        }
        location @linkbolt_503 {
            add_header Retry-After 10 always;
            return 503 '{"error":"no shard is available for this request; retry later"}\n';
        }
        location @linkbolt_504 {
            add_header Retry-After 10 always;
            return 504 '{"error":"the shard did not answer in time; retry later"}\n';
        }
    }
}
`))
