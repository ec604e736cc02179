// Command ceiling is the reference server of the benchmarks: a bare
// net/http server that responds to every request with the same 302 redirect.
// No URL shortener can redirect faster on the same machine and network
// stack, so linkbolt's redirect throughput is reported as a ratio to it.
//
// It prints its base URL on the first line of stdout once it accepts
// connections, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// location is the target of every redirect, the same length as a typical
// shortened URL.
const location = "https://example.com/docs?a=1&a=2#intro"

// Server timeouts, as explicit as linkbolt's own.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 5 * time.Second
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address, host:port; port 0 picks a free port")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

// run serves on addr until SIGINT or SIGTERM.
func run(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(redirect),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Printf("http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// redirect responds to every request with a 302 to location and no body.
func redirect(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusFound)
}
