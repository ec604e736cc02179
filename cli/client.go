package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Defaults and limits of the commands that talk to a server.
const (
	defaultServer = "http://127.0.0.1:8080"

	// defaultTimeout bounds one API request, or the wait for the next bytes
	// of an upload or a download.
	defaultTimeout = 30 * time.Second

	// apiKeyEnv names the environment variable that holds the API key. The
	// key never comes from a flag, which would show it in the process list.
	apiKeyEnv = "LINKBOLT_API_KEY"

	// maxResponseBytes bounds a JSON response held in memory. A page of
	// 1000 links of the longest URL the server accepts (8192 bytes) stays
	// well below it.
	maxResponseBytes = 64 << 20

	// maxErrorBytes bounds the error body read from a failed request.
	maxErrorBytes = 1 << 20

	// maxPerPage is the largest page the server sends.
	maxPerPage = 1000

	// maxListedRows is the number of invalid rows of a rejected upload that
	// an error message lists.
	maxListedRows = 10
)

// clientOptions are the flags shared by the commands that talk to a server.
type clientOptions struct {
	server  string
	timeout time.Duration
	output  outputFormat

	// progress receives progress bars; nil shows none.
	progress io.Writer

	// flags are the flags bound to the options; errors name a value set
	// from the environment by its variable.
	flags *pflag.FlagSet
}

// flagName returns the name that an error message gives to a client flag.
func (o *clientOptions) flagName(name string) string {
	return flagName(o.flags, name)
}

// addClientFlags binds the flags of clientOptions to f.
func addClientFlags(f *pflag.FlagSet, o *clientOptions) {
	o.output = outputTable
	o.flags = f
	f.StringVar(&o.server, "server", defaultServer, "base URL of the linkbolt server (env LINKBOLT_SERVER)")
	f.DurationVar(&o.timeout, "timeout", defaultTimeout, "longest wait for a response, or for the next bytes of an upload or download (env LINKBOLT_TIMEOUT)")
	f.VarP(&o.output, "output", "o", "output format: table or json (env LINKBOLT_OUTPUT)")
	describeRanges(f, map[string]string{"timeout": positiveDurationRange("30s")})
	bindEnv(f, map[string]string{
		"server":  "LINKBOLT_SERVER",
		"timeout": "LINKBOLT_TIMEOUT",
		"output":  "LINKBOLT_OUTPUT",
	})
}

// clientHelp ends the long help of every command that talks to a server.
const clientHelp = "The API key, when the server requires one, comes from the environment variable\n" +
	"LINKBOLT_API_KEY and is sent as Authorization: Bearer <key>."

// changedFlags returns the names of the flags given on the command line.
// Flags set from the environment are not in it.
func changedFlags(cmd *cobra.Command) map[string]bool {
	set := make(map[string]bool)
	cmd.Flags().Visit(func(f *pflag.Flag) { set[f.Name] = true })
	return set
}

// serverError is a response with a status other than 2xx, with the fields
// of the server's JSON error body.
type serverError struct {
	op      string // method and path of the request
	status  int
	message string
	field   string
	rows    []serverRowError
}

// serverRowError is one invalid row of a rejected bulk upload.
type serverRowError struct {
	Line   int    `json:"line"`
	ID     uint64 `json:"id"`
	Reason string `json:"reason"`
}

// Error names the request, the status and the server's message, field and
// rows, with a hint for a missing API key.
func (e *serverError) Error() string {
	var b strings.Builder
	verb := "the server rejected the request"
	switch {
	case e.status >= 500:
		verb = "the server failed"
	case e.status < 400:
		// linkbolt's API never redirects, so a 3xx comes from a proxy or
		// from another server.
		verb = "the server redirected the request, which linkbolt's API never does; check that --server or LINKBOLT_SERVER names linkbolt itself"
	}
	fmt.Fprintf(&b, "%s: %s (%d %s)", e.op, verb, e.status, http.StatusText(e.status))
	if e.message != "" {
		b.WriteString(": " + e.message)
	}
	if e.field != "" {
		b.WriteString(" (field " + e.field + ")")
	}
	for i, row := range e.rows {
		if i == maxListedRows {
			fmt.Fprintf(&b, "; and %d more of the %d rows listed", len(e.rows)-i, len(e.rows))
			break
		}
		// A conflict's message already gives the reason of its one row.
		if len(e.rows) == 1 && strings.Contains(e.message, row.Reason) {
			break
		}
		switch {
		case row.Line > 0:
			fmt.Fprintf(&b, "; line %d: %s", row.Line, row.Reason)
		case row.ID > 0:
			fmt.Fprintf(&b, "; id %d: %s", row.ID, row.Reason)
		default:
			b.WriteString("; " + row.Reason)
		}
	}
	if e.status == http.StatusUnauthorized {
		b.WriteString("; set " + apiKeyEnv + " to a key that the server accepts")
	}
	return b.String()
}

// unavailableError is a request that got no usable response: the server
// could not be reached, did not respond in time, or sent a body that could
// not be read.
type unavailableError struct {
	op  string // method and URL of the request
	err error

	// responded is set when a server responded, but with a body that the
	// command cannot use, such as a backup that fails its check.
	responded bool
}

func (e *unavailableError) Error() string {
	if e.responded {
		return fmt.Sprintf("%s: %v; check that --server or LINKBOLT_SERVER names linkbolt itself, not a proxy, "+
			"and run linkbolt check on the server's database file", e.op, e.err)
	}
	return fmt.Sprintf("%s: %v; check that the server runs and that --server or LINKBOLT_SERVER names it", e.op, e.err)
}

func (e *unavailableError) Unwrap() error { return e.err }

// apiClient sends requests to one linkbolt server. The caller calls close
// when done, to release idle connections.
type apiClient struct {
	base    *url.URL
	key     string
	timeout time.Duration
	http    *http.Client
}

// newAPIClient checks the client flags and builds a client. The API key
// comes from LINKBOLT_API_KEY.
func newAPIClient(o *clientOptions) (*apiClient, error) {
	base, err := parseServerURL(o.server, o.flagName("server"))
	if err != nil {
		return nil, usageError{err}
	}
	if o.timeout <= 0 {
		return nil, usageError{fmt.Errorf("invalid %s %v: must be positive", o.flagName("timeout"), o.timeout)}
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: o.timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: o.timeout,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &apiClient{
		base:    base,
		key:     strings.TrimSpace(os.Getenv(apiKeyEnv)),
		timeout: o.timeout,
		http: &http.Client{
			Transport: transport,
			// The API never redirects, and a redirect must not carry the key
			// elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// hidePassword returns a --server value for messages. A value with an @
// may carry a password before it in any of the forms that URL parsers
// disagree on, so everything between the scheme and the last @ becomes
// xxxxx. A value with something that decodes or normalizes to an @, such
// as %40, %2540, %25%34%30 or a full-width @, is masked after the scheme.
func hidePassword(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 && !hidesAt(raw) {
		return raw
	}
	start := 0
	if i := strings.Index(raw, ":"); i > 0 && isSchemeName(raw[:i]) && (at < 0 || i < at) {
		start = i + 1
		for start < len(raw) && start-i <= 2 && raw[start] == '/' {
			start++
		}
	}
	if at < 0 {
		return raw[:start] + "xxxxx"
	}
	return raw[:start] + "xxxxx" + raw[at:]
}

// atLookalikes are the characters that Unicode normalization turns into @.
var atLookalikes = []string{"@", "\uFF20", "\uFE6B"}

// hidesAt reports whether s, or s percent-decoded up to four times,
// contains an @ or a character that normalizes to one. A value that still
// decodes further after that counts as hiding one.
func hidesAt(s string) bool {
	for range 5 {
		for _, at := range atLookalikes {
			if strings.Contains(s, at) {
				return true
			}
		}
		decoded := percentDecode(s)
		if decoded == s {
			return false
		}
		s = decoded
	}
	return true
}

// percentDecode replaces each %XX of two hex digits with its byte and
// keeps every other character, where url.PathUnescape would fail.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// notHostChar reports whether c cannot appear in a host name, an IP
// address or its port.
func notHostChar(c rune) bool {
	letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	return !letter && !strings.ContainsRune(".-_:[]", c)
}

// isSchemeName reports whether s has the form of a URL scheme.
func isSchemeName(s string) bool {
	for i, c := range s {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// parseServerURL checks a --server value: an http or https URL with a host,
// possibly with a path prefix, and no query or fragment. flag names the
// source of the value in the error.
func parseServerURL(raw, flag string) (*url.URL, error) {
	u, err := url.Parse(raw)
	masked := hidePassword(raw)
	hidden := masked != raw
	raw = masked // from here on only for messages
	if urlErr, ok := errors.AsType[*url.Error](err); ok && !hidden {
		// The inner error names the part at fault. It may quote the
		// password, so a value with one gets the general message.
		return nil, fmt.Errorf("invalid %s %q: %v; use an http or https URL such as %s", flag, raw, urlErr.Err, defaultServer)
	}
	valid := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	if !valid {
		return nil, fmt.Errorf("invalid %s %q: use an http or https URL such as %s", flag, raw, defaultServer)
	}
	var part string
	switch {
	case strings.ContainsFunc(u.Host, notHostChar):
		part = "escapes and other characters from the host, which takes ASCII letters, digits, ., - and _ or an IP address (an international name in its xn-- form)"
	case u.User != nil:
		part = "user name and password (the API key goes in " + apiKeyEnv + ")"
	case strings.HasSuffix(u.Host, ":"):
		part = "colon after the host, or add the port"
	case u.ForceQuery || u.RawQuery != "":
		part = "query string"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		part = "fragment"
	}
	if part != "" {
		return nil, fmt.Errorf("invalid %s %q: remove the %s; a server URL is a scheme, a host and an optional port and path, such as %s",
			flag, raw, part, defaultServer)
	}

	// url.Parse takes any digits as a port; the dial would fail later.
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("invalid %s %q: port %s is outside 1 to 65535", flag, raw, port)
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func (c *apiClient) close() {
	c.http.CloseIdleConnections()
}

// endpoint returns the URL of an API path with its query.
func (c *apiClient) endpoint(path string, query url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	return u.String()
}

// shortURL returns the redirect URL of a short code on this server.
func (c *apiClient) shortURL(code string) string {
	return c.endpoint("/"+url.PathEscape(code), nil)
}

// send sends one request and returns the response of a 2xx status, whose
// body the caller closes. Another status is returned as a *serverError, and
// a request that got no response as an *unavailableError.
func (c *apiClient) send(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, query), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "linkbolt-cli/"+version)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unavailable(ctx, method, path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	// The path sent, so that a --server with a path names it too.
	return nil, readServerError(method+" "+req.URL.EscapedPath(), resp)
}

// unavailable wraps the error of a request that got no usable response. A
// canceled context gives its cause, which names the timeout, and a signal
// gives the error of interruptedRequest.
func (c *apiClient) unavailable(ctx context.Context, method, path string, err error) error {
	cause := context.Cause(ctx)
	if interrupted, ok := errors.AsType[*interruptedError](cause); ok {
		return interruptedRequest(interrupted, method, c.endpoint(path, nil))
	}
	if cause != nil {
		err = cause
	} else if urlErr, ok := errors.AsType[*url.Error](err); ok {
		// url.Error repeats the method and URL that op already names.
		err = urlErr.Err
	}
	return &unavailableError{op: method + " " + c.endpoint(path, nil), err: err}
}

// readServerError decodes the JSON error body of a failed request. A body
// that is not the API's JSON is quoted in part.
func readServerError(op string, resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	e := &serverError{op: op, status: resp.StatusCode}
	var body struct {
		Error string           `json:"error"`
		Field string           `json:"field"`
		Rows  []serverRowError `json:"rows"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != "" {
		e.message, e.field, e.rows = body.Error, body.Field, body.Rows
		return e
	}
	e.message = truncateText(strings.Join(strings.Fields(string(data)), " "), 200)
	return e
}

// timeoutError is the cause of a request canceled by the client's timeout.
type timeoutError struct{ d time.Duration }

func (e timeoutError) Error() string {
	return fmt.Sprintf("no response within %v; raise --timeout if the server is slow", e.d)
}

// call sends a request with in as its JSON body (nil for none) and returns
// the response body and headers. The timeout bounds the whole exchange.
func (c *apiClient) call(ctx context.Context, method, path string, query url.Values, in any) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, timeoutError{c.timeout})
	defer cancel()

	var body io.Reader
	contentType := ""
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, nil, err
		}
		body, contentType = bytes.NewReader(data), "application/json"
	}
	resp, err := c.send(ctx, method, path, query, body, contentType)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, nil, c.unavailable(ctx, method, path, err)
	}
	if len(data) > maxResponseBytes {
		return nil, nil, c.unavailable(ctx, method, path, fmt.Errorf("response is larger than %d bytes", maxResponseBytes))
	}
	return data, resp.Header, nil
}

// callJSON is call that also decodes the response into out.
func (c *apiClient) callJSON(ctx context.Context, method, path string, query url.Values, in, out any) ([]byte, http.Header, error) {
	data, header, err := c.call(ctx, method, path, query, in)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, nil, c.unavailable(ctx, method, path, fmt.Errorf("invalid JSON response: %w", err))
	}
	return data, header, nil
}

// pageRequest selects the pages of a list to fetch.
type pageRequest struct {
	page    int  // first page, from 1
	perPage int  // 0 for the server's default
	all     bool // follow the pages until the end of the list
}

// eachPage fetches pages of a list and calls each with the items of every
// page and the X-Total-Count of all matches, -1 when the server sent none.
// With all set it follows the pages until one is empty or the items seen
// reach the total.
//
// NOTE: pages are read one request at a time, so a record deleted while the
// pages are read moves later records one place up, and one of them may be
// missed.
func (c *apiClient) eachPage(ctx context.Context, path string, query url.Values, pr pageRequest, each func(items []json.RawMessage, total int64) error) error {
	seen := int64(0)
	for page := pr.page; ; page++ {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("page", strconv.Itoa(page))
		if pr.perPage > 0 {
			q.Set("per_page", strconv.Itoa(pr.perPage))
		}

		var items []json.RawMessage
		_, header, err := c.callJSON(ctx, http.MethodGet, path, q, nil, &items)
		if err != nil {
			return err
		}
		total, err := strconv.ParseInt(header.Get("X-Total-Count"), 10, 64)
		if err != nil {
			total = -1
		}
		if err := each(items, total); err != nil {
			return err
		}

		seen += int64(len(items))
		if !pr.all || len(items) == 0 || (total >= 0 && seen >= total) {
			return nil
		}
	}
}

// collect fetches pages of a list into one slice and returns the
// X-Total-Count of the last page.
func (c *apiClient) collect(ctx context.Context, path string, query url.Values, pr pageRequest) ([]json.RawMessage, int64, error) {
	all := []json.RawMessage{}
	var total int64
	err := c.eachPage(ctx, path, query, pr, func(items []json.RawMessage, n int64) error {
		all = append(all, items...)
		total = n
		return nil
	})
	return all, total, err
}

// clientExitCode maps the errors of a request to the server to an exit
// code: exitRejected for a 4xx status, exitUnavailable for any other error
// status (a 3xx or a 5xx) or no usable response.
func clientExitCode(err error) (int, bool) {
	if se, ok := errors.AsType[*serverError](err); ok {
		if se.status >= 400 && se.status < 500 {
			return exitRejected, true
		}
		return exitUnavailable, true
	}
	if _, ok := errors.AsType[*unavailableError](err); ok {
		return exitUnavailable, true
	}
	if _, ok := errors.AsType[*shardDownError](err); ok {
		return exitUnavailable, true
	}
	return 0, false
}
