package server

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener serves at most limit connections at once. One more is
// answered 503 naming server.max_connections and closed at once, so a
// flood of connections costs an accept and a write each, never a
// goroutine with its buffers.
type limitListener struct {
	net.Listener
	limit   int64
	open    atomic.Int64
	refused prometheus.Counter
	// refusal is the whole answer to a connection over the limit.
	refusal []byte
}

// newLimitListener limits ln; a TLS server's refusal is the close alone,
// since a plain answer would mean nothing to a client mid-handshake.
func newLimitListener(ln net.Listener, limit int, plain bool, refused prometheus.Counter) *limitListener {
	l := &limitListener{Listener: ln, limit: int64(limit), refused: refused}
	if plain {
		body := `{"error":"too many connections: server.max_connections is ` + strconv.Itoa(limit) + `; retry later"}`
		l.refusal = []byte("HTTP/1.1 503 Service Unavailable\r\nServer: sluice\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	return l
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.limit {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.refused.Inc()
		if l.refusal != nil {
			// The refusal fits any socket buffer: the write does not
			// block the accept loop on a client that does not read.
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			_, _ = c.Write(l.refusal)
		}
		_ = c.Close()
	}
}

// limitedConn gives its place back when closed, once.
type limitedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
