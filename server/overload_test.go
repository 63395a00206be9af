package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/server"
)

// rawConn is a loopback connection to s for requests written by hand.
func rawConn(t *testing.T, s *testServer) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, bufio.NewReader(conn)
}

func readAnswer(t *testing.T, r *bufio.Reader) (int, http.Header, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, string(b)
}

// fillSlowQueue sends long calls (a fraction of a second each) to a
// one-instance model whose queue holds one until one runs and one waits:
// the next call meets a full queue. A call that arrives while its
// predecessor is still queued is refused, so it tops the queue up as the
// instance takes calls. wait blocks until every call it sent is answered.
func fillSlowQueue(t *testing.T, s *testServer) (wait func()) {
	t.Helper()
	s.addModel(t, "slow", "student-slow", "instances: 1\nmax_batch_size: 256\nmax_queue_size: 1\n")
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	call := []byte(ortest.FeaturesCall(256))
	var wg sync.WaitGroup
	send := func() { wg.Go(func() { _, _, _, _ = s.try("POST", "/v2/models/slow/infer", call, nil) }) }
	var st string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the slow model's statistics: %s", st)
		}
	})
	sent := 0
	waitFor(t, "one slow call to run and one to wait", func() bool {
		st = s.statsOf(t, "slow")
		if strings.Contains(st, `"queue_depth":1,`) && strings.Contains(st, `"inflight":1,`) {
			return true
		}
		if strings.Contains(st, `"queue_depth":0,`) && sent < 100 {
			send()
			sent++
		}
		return false
	})
	return wg.Wait
}

// A call that meets a full queue is refused from its headers: the answer
// comes while most of its body is still unsent, so the server cannot have
// waited for it.
func TestFullQueueRefusesBeforeTheBodyIsRead(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	wait := fillSlowQueue(t, s)
	defer wait()
	conn, r := rawConn(t, s)
	// 1 MiB declared, 8 KB sent (what fasthttp waits for before the
	// handler runs); the rest never comes.
	fmt.Fprintf(conn, "POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat(" ", 8<<10))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, h, body := readAnswer(t, r)
	if status != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "queue full") || !strings.Contains(body, "max_queue_size is 1") {
		t.Errorf("got %d (Retry-After %q) %s; want 503 with Retry-After naming the full queue", status, h.Get("Retry-After"), body)
	}
}

// A refused call whose whole body was sent leaves its keep-alive
// connection usable: the server discards the unread body, so the next
// request on the connection is read from its first byte.
func TestARefusedCallKeepsItsConnection(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	wait := fillSlowQueue(t, s)
	defer wait()
	conn, r := rawConn(t, s)
	call := ortest.FeaturesCall(64)
	pad := strings.Repeat(" ", 100<<10) // JSON allows trailing space: a 100 KB body
	fmt.Fprintf(conn, "POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s%s", len(call)+len(pad), call, pad)
	if status, _, body := readAnswer(t, r); status != 503 {
		t.Fatalf("over a full queue: %d %s, want 503", status, body)
	}
	fmt.Fprintf(conn, "POST /v2/models/rowid/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(rowidCall), rowidCall)
	if status, h, body := readAnswer(t, r); status != 200 || h.Get("Connection") == "close" {
		t.Errorf("the next call on the same connection: %d (Connection %q) %s, want 200 on a kept connection", status, h.Get("Connection"), body)
	}
}

// Bodies held at once are bounded by server.max_body_bytes_in_flight: a
// call whose body would pass it while another runs is refused with 503
// naming the key, and served once the first has finished.
func TestBodyBytesInFlightAreBounded(t *testing.T) {
	cfg := server.DefaultConfig()
	call := ortest.FeaturesCall(64) // about 2.1 KB: two do not fit in 4 KB
	cfg.MaxBodyBytes, cfg.MaxBodyBytesInFlight = 4096, 4096
	s := startServer(t, cfg, "rowid")
	s.addModel(t, "slow", "student-slow", "instances: 1\nmax_batch_size: 64\n")
	if err := s.reg.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := make(chan int, 1)
	go func() {
		status, _, _, _ := s.try("POST", "/v2/models/slow/infer", []byte(call), nil)
		first <- status
	}()
	waitFor(t, "the first slow call to run", func() bool {
		return strings.Contains(s.statsOf(t, "slow"), `"inflight":1,`)
	})
	status, h, body := s.do(t, "POST", "/v2/models/slow/infer", []byte(call), nil)
	if status != 503 || h.Get("Retry-After") == "" || !strings.Contains(string(body), "server.max_body_bytes_in_flight (4096 bytes)") {
		t.Errorf("a second body while the first is held: %d (Retry-After %q) %s; want 503 naming max_body_bytes_in_flight", status, h.Get("Retry-After"), body)
	}
	if _, _, m := s.do(t, "GET", "/metrics", nil, nil); !strings.Contains(string(m), `sluice_http_refused_total{reason="body_bytes"} 1`) {
		t.Error(`/metrics does not count the refusal as sluice_http_refused_total{reason="body_bytes"} 1`)
	}
	if st := <-first; st != 200 {
		t.Errorf("the first call: %d", st)
	}
	if status, _, body := s.do(t, "POST", "/v2/models/slow/infer", []byte(call), nil); status != 200 {
		t.Errorf("the same call once the first is done: %d %s", status, body)
	}
}

// A chunked body (no Content-Length) is read as it comes, within
// server.max_body_bytes.
func TestChunkedBodies(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.MaxBodyBytes = 4096
	s := startServer(t, cfg, "rowid")
	send := func(body string) (int, string) {
		conn, r := rawConn(t, s)
		fmt.Fprintf(conn, "POST /v2/models/rowid/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
		for len(body) > 0 {
			n := min(len(body), 700)
			fmt.Fprintf(conn, "%x\r\n%s\r\n", n, body[:n])
			body = body[n:]
		}
		fmt.Fprintf(conn, "0\r\n\r\n")
		status, _, b := readAnswer(t, r)
		return status, b
	}
	if status, body := send(string(rowidCall)); status != 200 || !strings.Contains(body, `"outputs"`) {
		t.Errorf("a chunked call: %d %s, want 200", status, body)
	}
	big := string(rowidCall) + strings.Repeat(" ", 5000)
	if status, body := send(big); status != 413 || !strings.Contains(body, "server.max_body_bytes (4096 bytes)") {
		t.Errorf("a chunked body over the limit: %d %s, want 413 naming the limit", status, body)
	}
}

// Connections past server.max_connections are answered 503 naming the key
// and closed; once one closes, a new one is served.
func TestConnectionsOverTheLimitAreRefused(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.MaxConnections = 2
	s := startServer(t, cfg, "rowid")
	ready := "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
	var held []net.Conn
	for range 2 {
		conn, r := rawConn(t, s)
		fmt.Fprint(conn, ready)
		if status, _, body := readAnswer(t, r); status != 200 {
			t.Fatalf("a connection within the limit: %d %s", status, body)
		}
		held = append(held, conn)
	}
	conn, r := rawConn(t, s)
	status, h, body := readAnswer(t, r)
	if status != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "server.max_connections is 2") {
		t.Errorf("a third connection: %d (Retry-After %q) %s; want 503 naming server.max_connections", status, h.Get("Retry-After"), body)
	}
	conn.Close()
	held[0].Close()
	held[1].Close() // the scrape below needs a place of its own
	// Scrapes refused while the places free up count too: at least one.
	waitFor(t, "the refusal counted", func() bool {
		status, _, m, err := s.try("GET", "/metrics", nil, nil)
		return err == nil && status == 200 && strings.Contains(string(m), `sluice_http_refused_total{reason="connections"} `) &&
			!strings.Contains(string(m), `sluice_http_refused_total{reason="connections"} 0`)
	})
	// The server sees the close when its read returns; until then the
	// place is still taken.
	waitFor(t, "a place to free up", func() bool {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprint(c, ready)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
