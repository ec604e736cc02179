package server

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// maxRateClients bounds the number of clients whose request rate is
// tracked; the least recently seen are forgotten first.
const maxRateClients = 100_000

// RateLimit configures the per-client limit on write requests. A zero
// PerSecond turns it off.
type RateLimit struct {
	// PerSecond is the sustained number of write requests a client may
	// make per second.
	PerSecond float64

	// Burst is the number of requests a client may make at once; zero
	// means max(1, PerSecond).
	Burst int

	// TrustedProxies are the networks of the proxies (such as NGINX) whose
	// X-Forwarded-For header names the client. From any other peer the
	// header is ignored.
	TrustedProxies []netip.Prefix
}

// rateLimiter keeps one token bucket per client address.
type rateLimiter struct {
	cfg     RateLimit
	clients *lru.Cache[netip.Addr, *rate.Limiter]
}

func newRateLimiter(cfg RateLimit) (*rateLimiter, error) {
	if cfg.PerSecond <= 0 {
		return nil, nil
	}
	if cfg.Burst <= 0 {
		cfg.Burst = int(math.Max(1, math.Ceil(cfg.PerSecond)))
	}
	clients, err := lru.New[netip.Addr, *rate.Limiter](maxRateClients)
	if err != nil {
		return nil, err
	}
	return &rateLimiter{cfg: cfg, clients: clients}, nil
}

// allow takes a token of the client's bucket. When it is empty it returns
// false and the seconds until the next token.
func (rl *rateLimiter) allow(client netip.Addr) (bool, int) {
	lim, ok := rl.clients.Get(client)
	if !ok {
		lim = rate.NewLimiter(rate.Limit(rl.cfg.PerSecond), rl.cfg.Burst)
		rl.clients.Add(client, lim)
	}
	res := lim.Reserve()
	delay := res.Delay()
	if delay == 0 {
		return true, 0
	}
	res.Cancel()
	return false, int(math.Ceil(delay.Seconds()))
}

// limitRate wraps a write handler with the per-client rate limit.
func (s *Server) limitRate(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.rates == nil {
			return h(w, r)
		}
		ok, retry := s.rates.allow(clientAddr(r, s.rates.cfg.TrustedProxies))
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, retry)))
			return &apiError{status: http.StatusTooManyRequests, message: "too many write requests from this client; retry after the number of seconds in Retry-After"}
		}
		return h(w, r)
	}
}

// clientAddr returns the address of the client of r. When the peer is a
// trusted proxy, X-Forwarded-For is read from the right, skipping trusted
// proxies, and the first other address is the client.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := peerAddr(r)
	if !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A malformed entry cannot be trusted, and neither can
			// anything to its left.
			return peer
		}
		addr = addr.Unmap()
		if !isTrusted(addr, trusted) {
			return addr
		}
		peer = addr
	}
	return peer
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	return addr.Unmap()
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
