package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Headers that instances of a cluster send each other and their clients.
const (
	// HeaderHop marks a request sent by a peer, with the name of that
	// peer. An instance serves such a request itself and never forwards
	// it again, so a request crosses at most one hop. It counts only
	// together with the cluster secret in HeaderSecret. NGINX clears it
	// on client requests.
	HeaderHop = "X-Linkbolt-Hop"

	// HeaderSecret carries the cluster secret that every shard shares.
	// NGINX clears it on client requests.
	HeaderSecret = "X-Linkbolt-Cluster-Secret"

	// HeaderInstance names the instance that produced a response.
	HeaderInstance = "X-Linkbolt-Instance"

	// HeaderForwarded is "true" when the instance that received the
	// request forwarded it to the instance named by HeaderInstance, and
	// "false" otherwise.
	HeaderForwarded = "X-Linkbolt-Forwarded"

	// HeaderForwardedBy names the instance that forwarded a request.
	HeaderForwardedBy = "X-Linkbolt-Forwarded-By"
)

// DefaultTimeout bounds one request to a peer.
const DefaultTimeout = 10 * time.Second

// ErrPeerDown is returned when a peer cannot be reached or does not respond
// in time.
var ErrPeerDown = errors.New("peer is not reachable")

// PeerError is a failed request to a peer; it wraps ErrPeerDown.
type PeerError struct {
	Peer string
	Err  error
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("shard %s is not reachable: %v", e.Peer, e.Err)
}

func (e *PeerError) Unwrap() []error { return []error{ErrPeerDown, e.Err} }

// Response is a buffered response of a peer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// MinSecretLength is the shortest cluster secret accepted, in bytes.
const MinSecretLength = 16

// CheckSecret rejects a cluster secret that is shorter than
// MinSecretLength or contains a character that an HTTP header cannot carry.
func CheckSecret(secret string) error {
	if len(secret) < MinSecretLength {
		return fmt.Errorf("the cluster secret has %d bytes; use at least %d, such as the output of: openssl rand -hex 32",
			len(secret), MinSecretLength)
	}
	for _, c := range []byte(secret) {
		if c < 0x21 || c > 0x7e {
			return errors.New("the cluster secret contains a space, a control character or a non-ASCII byte; use printable ASCII, such as hex digits")
		}
	}
	return nil
}

// SecretMatches reports whether got is the cluster secret want, in time
// that depends on neither value. An empty want matches nothing.
func SecretMatches(got, want string) bool {
	if want == "" || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Client sends requests to the peers of a cluster, marked with HeaderHop
// and the cluster secret. It is safe for concurrent use.
type Client struct {
	self   string
	secret string
	http   *http.Client
}

// NewClient returns a client that names itself self in HeaderHop and sends
// secret in HeaderSecret. A zero timeout means DefaultTimeout.
func NewClient(self, secret string, timeout time.Duration) *Client {
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{
		self:   self,
		secret: secret,
		http: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// A redirect is the response itself, never something
			// to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// maxResponseBytes bounds a buffered peer response. Bulk results, pages of
// 1000 records and exported links fit well within it.
const maxResponseBytes = 256 << 20

// Do sends one request to peer and buffers the response. uri is the path
// with its query. header, if not nil, is copied onto the request. Errors
// that mean the peer is down are *PeerError.
func (c *Client) Do(ctx context.Context, peer, method, uri string, header http.Header, body []byte) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+peer+uri, rd)
	if err != nil {
		return nil, fmt.Errorf("request to %s: %w", peer, err)
	}
	for k, vs := range header {
		if hopByHop[http.CanonicalHeaderKey(k)] {
			continue
		}
		req.Header[k] = vs
	}
	req.Header.Set(HeaderHop, c.self)
	req.Header.Set(HeaderSecret, c.secret)

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &PeerError{Peer: peer, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, &PeerError{Peer: peer, Err: err}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// hopByHop are headers that belong to one connection and are not copied
// between requests (RFC 9110, section 7.6.1), plus those the transport
// sets itself.
var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Transfer-Encoding":   true,
	"Te":                  true,
	"Trailer":             true,
	"Upgrade":             true,
	"Content-Length":      true,
	"Proxy-Authorization": true,
	"Accept-Encoding":     true,
}

// CopyResponse writes a peer's response to w, without hop-by-hop headers,
// and marks it as forwarded by self.
func CopyResponse(w http.ResponseWriter, resp *Response, self string) {
	h := w.Header()
	for k, vs := range resp.Header {
		if hopByHop[k] {
			continue
		}
		h[k] = vs
	}
	h.Set(HeaderForwarded, "true")
	h.Set(HeaderForwardedBy, self)
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}
