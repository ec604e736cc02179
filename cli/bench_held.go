package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// heldTransport is an http.RoundTripper over a fixed set of keep-alive
// connections, opened before the load starts. Idle connections wait in a
// FIFO queue, so requests take them in turn and every connection stays in
// use: at a rate of r requests per second over n connections, each carries
// a request every n/r seconds. A connection that fails leaves an empty
// slot in the queue, and the request that takes the slot opens a new
// connection. A slot whose new connection fails stays empty, so the load
// goes on over new connections once the server accepts them again.
type heldTransport struct {
	addr string
	dial func(ctx context.Context, network, address string) (net.Conn, error)
	// idle contains the connections waiting for a request, and a nil for
	// each empty slot.
	idle  chan *heldConn
	mu    sync.Mutex
	conns map[*heldConn]bool
	// redials counts the connections opened to replace failed ones.
	redials int
}

type heldConn struct {
	net.Conn
	reader *bufio.Reader
}

// newHeldTransport opens n connections to addr (host:port) and returns the
// transport that uses them.
func newHeldTransport(ctx context.Context, guard *dialGuard, addr string, n int) (*heldTransport, error) {
	t := &heldTransport{
		addr:  addr,
		dial:  guard.DialContext,
		idle:  make(chan *heldConn, n),
		conns: make(map[*heldConn]bool, n),
	}
	for i := range n {
		c, err := t.open(ctx)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("opening connection %d of %d to %s: %w", i+1, n, addr, err)
		}
		t.idle <- c
	}
	return t, nil
}

func (t *heldTransport) open(ctx context.Context) (*heldConn, error) {
	conn, err := t.dial(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	c := &heldConn{Conn: conn, reader: bufio.NewReader(conn)}
	t.mu.Lock()
	t.conns[c] = true
	t.mu.Unlock()
	return c, nil
}

// RoundTrip sends req over the connection that has waited longest, or
// over a new one when that slot is empty.
func (t *heldTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var c *heldConn
	select {
	case c = <-t.idle:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c == nil {
		fresh, err := t.open(ctx)
		if err != nil {
			t.idle <- nil
			return nil, err
		}
		t.mu.Lock()
		t.redials++
		t.mu.Unlock()
		c = fresh
	}
	deadline, _ := ctx.Deadline()
	if err := c.SetDeadline(deadline); err != nil {
		t.drop(c)
		return nil, err
	}
	if err := req.Write(c); err != nil {
		t.drop(c)
		return nil, err
	}
	resp, err := http.ReadResponse(c.reader, req)
	if err != nil {
		t.drop(c)
		return nil, err
	}
	resp.Body = &heldBody{ReadCloser: resp.Body, transport: t, conn: c, reuse: !resp.Close}
	return resp, nil
}

// drop closes a failed connection and leaves its slot empty, for the
// next request that takes it to fill.
func (t *heldTransport) drop(c *heldConn) {
	c.Close()
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.idle <- nil
}

func (t *heldTransport) reconnects() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.redials
}

// close closes every connection.
func (t *heldTransport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		c.Close()
	}
	clear(t.conns)
}

// heldBody returns its connection to the queue once the response body is
// read to its end and closed.
type heldBody struct {
	io.ReadCloser
	transport *heldTransport
	conn      *heldConn
	reuse     bool
	once      sync.Once
}

func (b *heldBody) Close() error {
	_, err := io.Copy(io.Discard, b.ReadCloser)
	closeErr := b.ReadCloser.Close()
	b.once.Do(func() {
		if err != nil || closeErr != nil || !b.reuse {
			b.transport.drop(b.conn)
			return
		}
		b.transport.idle <- b.conn
	})
	return errors.Join(err, closeErr)
}
