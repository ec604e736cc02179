package cli

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveProfiles serves the Go runtime profiles on their own listener, so
// that they are never reachable through the API's address. It returns a
// function that closes the listener.
func serveProfiles(ln net.Listener, log *slog.Logger) func() {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	log.Info("serving profiles", "pprof_addr", ln.Addr().String())
	if !isLoopback(ln.Addr().String()) {
		log.Warn("profiles are served on an address other than loopback; they reveal the process's memory and code", "pprof_addr", ln.Addr().String())
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("profile server stopped", "error", err)
		}
	}()
	return func() { srv.Close() }
}
