package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/linkbolt/linkbolt/cache"
	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/server"
	"github.com/linkbolt/linkbolt/store"
)

// Defaults of the serve command.
const (
	defaultAddr = "127.0.0.1:8080"
	defaultDB   = "linkbolt.db"

	// defaultShutdownTimeout bounds the wait for requests in flight.
	defaultShutdownTimeout = 15 * time.Second

	// maxClickQueue bounds --click-queue. The queue is allocated whole at
	// startup, and at 80 bytes a click on 64-bit platforms this bound
	// takes about 800 MB.
	maxClickQueue = 10_000_000

	// maxClickFlush bounds --click-flush, the part of the window of clicks
	// that a crash loses which the operator chooses.
	maxClickFlush = time.Minute

	// minRateLimit and maxRateLimit bound a --rate-limit that is not 0.
	// At the lower bound a client that used its burst waits 1,000 s for
	// its next write. The upper bound keeps the default burst, which is
	// the rate rounded up, a small integer.
	minRateLimit = 0.001
	maxRateLimit = 1_000_000

	rateLimitRange = "requests per second from 0.001 to 1000000, or 0 to turn the limit off"
)

// serveOptions are the flags of the serve command.
type serveOptions struct {
	addr            string
	db              string
	cacheSize       int
	redirectStatus  int
	clickQueue      int
	clickFlush      time.Duration
	shutdownTimeout time.Duration
	accessLog       bool
	apiKeysFile     string
	rateLimit       float64
	rateBurst       int
	trustedProxies  []string
	pprofAddr       string
	peers           string
	self            string
	clusterSecret   secretOptions

	// maxDBSize and spaceProbe are hidden flags, so that tests can stand
	// in for a full disk with a real process.
	maxDBSize  int
	spaceProbe time.Duration

	// flags are the flags bound to the options; errors name a value set
	// from the environment by its variable.
	flags *pflag.FlagSet
}

// flagName returns the name that an error message gives to a serve flag.
func (o *serveOptions) flagName(name string) string {
	return flagName(o.flags, name)
}

func newServeCommand(g *globalOptions) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP server on a database file",
		Long: "Run the HTTP server. The database file is created when missing. SIGINT or SIGTERM\n" +
			"stops the server cleanly: requests in flight finish and queued clicks are written.",
		Args:        noArgs,
		Annotations: map[string]string{stopAnnotation: stopBySelf},
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), g)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, o, log, nil)
		},
	}

	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.addr, "addr", defaultAddr, "listen address, host:port (env LINKBOLT_ADDR)")
	f.StringVar(&o.db, "db", defaultDB, "database file, created when missing (env LINKBOLT_DB)")
	f.IntVar(&o.cacheSize, "cache-size", cache.DefaultSize, "links held in the redirect cache (env LINKBOLT_CACHE_SIZE)")
	f.IntVar(&o.redirectStatus, "redirect-status", server.DefaultRedirectStatus, "status of redirects whose link sets none: 301, 302, 307 or 308 (env LINKBOLT_REDIRECT_STATUS)")
	f.IntVar(&o.clickQueue, "click-queue", server.DefaultClickQueue, "clicks queued for writing before new ones are dropped (env LINKBOLT_CLICK_QUEUE)")
	f.DurationVar(&o.clickFlush, "click-flush", server.DefaultClickFlush, "longest wait before queued clicks are written (env LINKBOLT_CLICK_FLUSH)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "longest wait for requests in flight at shutdown (env LINKBOLT_SHUTDOWN_TIMEOUT)")
	f.BoolVar(&o.accessLog, "access-log", false, "log every request; redirects at debug level (env LINKBOLT_ACCESS_LOG)")
	f.StringVar(&o.apiKeysFile, "api-keys-file", "", "file of API keys, one per line; LINKBOLT_API_KEYS (comma-separated) adds more (env LINKBOLT_API_KEYS_FILE)")
	f.Float64Var(&o.rateLimit, "rate-limit", 0, "write requests per second allowed per client; 0 turns the limit off (env LINKBOLT_RATE_LIMIT)")
	f.IntVar(&o.rateBurst, "rate-burst", 0, "write requests a client may send at once; 0 means the rate limit rounded up (env LINKBOLT_RATE_BURST)")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxies", nil, "addresses or CIDR networks of proxies whose X-Forwarded-For names the client (env LINKBOLT_TRUSTED_PROXIES)")
	f.StringVar(&o.pprofAddr, "pprof-addr", "", "serve Go profiles (net/http/pprof) on this host:port; off when empty; keep it on loopback (env LINKBOLT_PPROF_ADDR)")
	f.StringVar(&o.peers, "peers", "", "comma-separated host:port of every shard of a cluster, exactly as in the NGINX upstream; off when empty (env LINKBOLT_PEERS)")
	f.StringVar(&o.self, "self", "", "this server's entry in --peers (env LINKBOLT_SELF)")
	o.clusterSecret.addFlags(f)
	f.IntVar(&o.maxDBSize, "max-db-size", 0, "largest size of the database file in bytes; writes that need more answer 503 as on a full disk; 0 means no cap")
	f.DurationVar(&o.spaceProbe, "space-probe-interval", store.DefaultSpaceProbeInterval, "how often a full store checks whether space was freed; 0 means the default")
	for _, name := range []string{"max-db-size", "space-probe-interval"} {
		if err := f.MarkHidden(name); err != nil {
			panic(err)
		}
	}
	describeRanges(f, map[string]string{
		"cache-size":           fmt.Sprintf("an integer from %d to %d", cache.MinSize, math.MaxInt),
		"redirect-status":      "301, 302, 307 or 308",
		"click-queue":          fmt.Sprintf("an integer from 1 to %d, or 0 for the default of %d", maxClickQueue, server.DefaultClickQueue),
		"click-flush":          fmt.Sprintf("a duration up to %s such as 10ms, or 0 for the default of %s", maxClickFlush, server.DefaultClickFlush),
		"shutdown-timeout":     positiveDurationRange("15s"),
		"rate-limit":           rateLimitRange,
		"rate-burst":           fmt.Sprintf("an integer from 0 to %d (0 means the rate limit rounded up)", math.MaxInt),
		"max-db-size":          fmt.Sprintf("a size in bytes from 0 to %d (0 means no cap)", math.MaxInt),
		"space-probe-interval": fmt.Sprintf("a duration such as 5s, or 0 for the default of %s", store.DefaultSpaceProbeInterval),
	})
	bindEnv(f, map[string]string{
		"peers":               "LINKBOLT_PEERS",
		"self":                "LINKBOLT_SELF",
		"cluster-secret":      "LINKBOLT_CLUSTER_SECRET",
		"cluster-secret-file": "LINKBOLT_CLUSTER_SECRET_FILE",
		"pprof-addr":          "LINKBOLT_PPROF_ADDR",
		"api-keys-file":       "LINKBOLT_API_KEYS_FILE",
		"rate-limit":          "LINKBOLT_RATE_LIMIT",
		"rate-burst":          "LINKBOLT_RATE_BURST",
		"trusted-proxies":     "LINKBOLT_TRUSTED_PROXIES",
		"addr":                "LINKBOLT_ADDR",
		"db":                  "LINKBOLT_DB",
		"cache-size":          "LINKBOLT_CACHE_SIZE",
		"redirect-status":     "LINKBOLT_REDIRECT_STATUS",
		"click-queue":         "LINKBOLT_CLICK_QUEUE",
		"click-flush":         "LINKBOLT_CLICK_FLUSH",
		"shutdown-timeout":    "LINKBOLT_SHUTDOWN_TIMEOUT",
		"access-log":          "LINKBOLT_ACCESS_LOG",
	})
	return cmd
}

// checkListenAddr checks that addr, the value of flag, is host:port with
// a port from 0 to 65535, so that a bad value fails before the database
// file is opened rather than when the listener starts.
func checkListenAddr(flag, addr string) error {
	// The resolver would look a host with spaces up as a name and fail
	// with "no such host", which hides the typo.
	if strings.ContainsFunc(addr, unicode.IsSpace) {
		return fmt.Errorf("invalid %s %q: remove the spaces; use host:port such as 127.0.0.1:8080", flag, addr)
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		return fmt.Errorf("invalid %s %q: use host:port with a port from 0 to 65535, such as 127.0.0.1:8080 or :8080", flag, addr)
	}
	return nil
}

// listenAddrsOverlap reports whether two valid listen addresses take the
// same port on the same host, or on every address. Hosts are compared
// without a DNS lookup: localhost counts as 127.0.0.1, the IPv4 address
// that net.Listen prefers for it, and other names only match themselves.
// Port 0 picks a free port, so it never overlaps.
func listenAddrsOverlap(a, b string) bool {
	hostA, portA, _ := net.SplitHostPort(a)
	hostB, portB, _ := net.SplitHostPort(b)
	if portA != portB || portA == "0" {
		return false
	}
	if strings.EqualFold(hostA, hostB) {
		return true
	}
	ipA, errA := parseListenHost(hostA)
	ipB, errB := parseListenHost(hostB)
	if errA != nil || errB != nil {
		return false
	}
	return ipA == ipB || ipA.IsUnspecified() || ipB.IsUnspecified()
}

// parseListenHost returns the address of a listen host: the unspecified
// address for an empty host, and 127.0.0.1 for localhost. A host name
// other than localhost is an error.
func parseListenHost(host string) (netip.Addr, error) {
	switch {
	case host == "":
		return netip.IPv4Unspecified(), nil
	case strings.EqualFold(host, "localhost"):
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	ip, err := netip.ParseAddr(host)
	return ip.Unmap(), err
}

// validate checks the options that need no file or cache, and names the
// flag and its allowed range on failure.
func (o *serveOptions) validate() error {
	if err := checkListenAddr(o.flagName("addr"), o.addr); err != nil {
		return err
	}
	if o.pprofAddr != "" {
		if err := checkListenAddr(o.flagName("pprof-addr"), o.pprofAddr); err != nil {
			return err
		}
		if listenAddrsOverlap(o.addr, o.pprofAddr) {
			return fmt.Errorf("invalid %s %s: it clashes with %s %s, which listens on the same port; give the profiles another port",
				o.flagName("pprof-addr"), o.pprofAddr, o.flagName("addr"), o.addr)
		}
	}
	if o.db == "" {
		return fmt.Errorf("missing %s FILE: the database file to serve", o.flagName("db"))
	}
	if o.shutdownTimeout <= 0 {
		return fmt.Errorf("invalid %s %s: must be positive", o.flagName("shutdown-timeout"), o.shutdownTimeout)
	}
	if !store.ValidRedirectStatus(o.redirectStatus) {
		return fmt.Errorf("invalid %s %d: use 301, 302, 307 or 308", o.flagName("redirect-status"), o.redirectStatus)
	}
	if o.clickQueue < 0 || o.clickQueue > maxClickQueue {
		return fmt.Errorf("invalid %s %d: use 1 to %d, or 0 for the default of %d",
			o.flagName("click-queue"), o.clickQueue, maxClickQueue, server.DefaultClickQueue)
	}
	if o.clickFlush < 0 || o.clickFlush > maxClickFlush {
		return fmt.Errorf("invalid %s %s: use 0 to %s; 0 means the default of %s",
			o.flagName("click-flush"), o.clickFlush, maxClickFlush, server.DefaultClickFlush)
	}
	if o.rateLimit != 0 && !(o.rateLimit >= minRateLimit && o.rateLimit <= maxRateLimit) {
		return fmt.Errorf("invalid %s %g: use %s", o.flagName("rate-limit"), o.rateLimit, rateLimitRange)
	}
	if o.rateBurst < 0 {
		return fmt.Errorf("invalid %s %d: must be at least 0 (0 means the rate limit rounded up)", o.flagName("rate-burst"), o.rateBurst)
	}
	if o.rateBurst > 0 && o.rateLimit == 0 {
		return fmt.Errorf("invalid %s %d: it needs a --rate-limit above 0", o.flagName("rate-burst"), o.rateBurst)
	}
	if o.maxDBSize < 0 {
		return fmt.Errorf("invalid --max-db-size %d: must be at least 0 (0 means no cap)", o.maxDBSize)
	}
	if o.spaceProbe < 0 {
		return fmt.Errorf("invalid --space-probe-interval %s: must not be negative; 0 means the default of %s",
			o.spaceProbe, store.DefaultSpaceProbeInterval)
	}
	_, err := o.clusterOptions()
	return err
}

// profileListenError describes a failed listen on --pprof-addr. A port
// in use that --addr also names may be taken by the API's own listener,
// as with --addr localhost:8080 --pprof-addr 127.0.0.1:8080.
func (o *serveOptions) profileListenError(err error) error {
	flag := o.flagName("pprof-addr")
	_, port, _ := net.SplitHostPort(o.pprofAddr)
	_, apiPort, _ := net.SplitHostPort(o.addr)
	if errors.Is(err, syscall.EADDRINUSE) && port == apiPort {
		return fmt.Errorf("listen on %s %s: %w; it may clash with %s %s, which listens on the same port",
			flag, o.pprofAddr, err, o.flagName("addr"), o.addr)
	}
	return fmt.Errorf("listen on %s %s: %w", flag, o.pprofAddr, err)
}

// clusterOptions returns the cluster options of --peers and --self, or nil
// without --peers.
func (o *serveOptions) clusterOptions() (*server.ClusterOptions, error) {
	// Peers are trimmed when parsed, so --self is trimmed the same way.
	o.self = strings.TrimSpace(o.self)
	if o.peers == "" && o.self == "" {
		return nil, nil
	}
	if o.peers == "" {
		return nil, fmt.Errorf("--self %q needs --peers, the list of every shard", o.self)
	}
	peers, err := cluster.ParsePeers(o.peers)
	if err != nil {
		return nil, fmt.Errorf("invalid --peers: %w", err)
	}
	if o.self == "" {
		return nil, errors.New("missing --self: name this server's entry in --peers")
	}
	if !slices.Contains(peers, o.self) {
		return nil, fmt.Errorf("invalid --self %q: it is not one of --peers %s", o.self, strings.Join(peers, ","))
	}
	secret, err := o.clusterSecret.load()
	if err != nil {
		return nil, err
	}
	return &server.ClusterOptions{Peers: peers, Self: o.self, Secret: secret}, nil
}

// serve runs the server until ctx ends. started, if not nil, receives the
// listen address once the server accepts connections.
func serve(ctx context.Context, o *serveOptions, log *slog.Logger, started chan<- string) error {
	// Every option is checked before the database file is opened, so that
	// a mistyped flag neither creates nor locks the file.
	c, err := cache.New(o.cacheSize, 0)
	if err != nil || o.cacheSize == 0 {
		return usageError{fmt.Errorf("invalid %s %d: must be at least %d", o.flagName("cache-size"), o.cacheSize, cache.MinSize)}
	}
	if err := o.validate(); err != nil {
		return usageError{err}
	}
	keys, err := loadAPIKeys(o.apiKeysFile)
	if err != nil {
		return usageError{err}
	}
	proxies, err := parsePrefixes(o.trustedProxies)
	if err != nil {
		return usageError{fmt.Errorf("invalid %s: %w", o.flagName("trusted-proxies"), err)}
	}

	// Listening before the database is opened turns a port clash into a
	// startup error that leaves no new file behind.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s %s: %w", o.flagName("addr"), o.addr, err)
	}
	defer ln.Close()
	var profiles net.Listener
	if o.pprofAddr != "" {
		if profiles, err = net.Listen("tcp", o.pprofAddr); err != nil {
			return o.profileListenError(err)
		}
		defer profiles.Close()
	}

	clusterOpts, _ := o.clusterOptions()
	var storeOpts *store.Options
	if clusterOpts != nil {
		if storeOpts, err = server.ShardStoreOptions(*clusterOpts); err != nil {
			return usageError{err}
		}
		log.Info("joining cluster", "self", clusterOpts.Self, "peers", strings.Join(clusterOpts.Peers, ","),
			"id_first", storeOpts.IDs.First, "id_last", storeOpts.IDs.Last)
	}

	log.Info("opening database", "db", o.db)
	// A path that cannot be a database file is an invalid command line,
	// as for every command that reads a named file.
	if err := checkDatabasePath(o.flagName("db"), o.db, "serve runs only on a regular database file"); err != nil {
		return err
	}
	if storeOpts == nil {
		storeOpts = &store.Options{}
	}
	storeOpts.MaxSize = o.maxDBSize
	storeOpts.SpaceProbeInterval = o.spaceProbe
	st, err := store.Open(o.db, storeOpts)
	if err != nil {
		return err
	}
	if problem := st.MetaProblem(); problem != "" {
		log.Warn("database meta page invalid", "db", o.db, "problem", problem)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing database failed", "error", err, "db", o.db)
			return
		}
		log.Info("database closed", "db", o.db)
	}()

	srv, err := server.New(server.Options{
		Store:          st,
		Cache:          c,
		Log:            log,
		Version:        version,
		RedirectStatus: o.redirectStatus,
		Clicks:         server.RecorderOptions{Queue: o.clickQueue, Flush: o.clickFlush},
		AccessLog:      o.accessLog,
		APIKeys:        keys,
		RateLimit:      server.RateLimit{PerSecond: o.rateLimit, Burst: o.rateBurst, TrustedProxies: proxies},
		Listener:       ln,
		Cluster:        clusterOpts,
	})
	if err != nil {
		return usageError{err}
	}

	counts, err := st.Counts()
	if err != nil {
		return err
	}
	log.Info("linkbolt started", "version", version, "addr", srv.Addr(), "db", o.db,
		"users", counts.Users, "urls", counts.URLs, "events", counts.Events,
		"api_keys", len(keys), "rate_limit", o.rateLimit)
	if len(keys) == 0 && !isLoopback(srv.Addr()) {
		log.Warn("the API is open to anyone who can reach this address; set LINKBOLT_API_KEYS or --api-keys-file", "addr", srv.Addr())
	}

	if profiles != nil {
		defer serveProfiles(profiles, log)()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	if started != nil {
		started <- srv.Addr()
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("http server stopped: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", o.shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("server stopped")
	return nil
}
