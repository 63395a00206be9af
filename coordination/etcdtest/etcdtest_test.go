package etcdtest

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// opTimeout bounds each request a test makes of a cluster that should be
// serving; generous because -race slows etcd several times over.
const opTimeout = 10 * time.Second

func put(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := cli.Put(ctx, key, val); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func mustGet(t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
		t.Fatalf("get %s = %v, want %q", key, resp.Kvs, want)
	}
}

func TestThreeMembersSurviveStops(t *testing.T) {
	c := Start(t, 3)
	cli := c.Client(t)
	put(t, cli, "a", "1")
	mustGet(t, cli, "a", "1")

	c.Stop(t, 0)
	if got := len(c.Endpoints()); got != 2 {
		t.Fatalf("Endpoints after one stop = %d, want 2", got)
	}
	put(t, cli, "b", "2")
	mustGet(t, cli, "b", "2")

	c.Stop(t, 1)
	c.Stop(t, 2)
	if eps := c.Endpoints(); len(eps) != 0 {
		t.Fatalf("Endpoints with all stopped = %v, want none", eps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := cli.Get(ctx, "a")
	cancel()
	if err == nil {
		t.Fatal("get with every member stopped succeeded")
	}

	c.RestartAll(t)
	mustGet(t, cli, "a", "1")
	mustGet(t, cli, "b", "2")
}

func TestRestartRejoinsAndCatchesUp(t *testing.T) {
	c := Start(t, 3)
	cli := c.Client(t)
	c.Stop(t, 2)
	put(t, cli, "while-down", "x")
	c.Restart(t, 2)

	// A client of member 2 alone must see the write it missed.
	solo, err := c.newClient(c.AllEndpoints()[2:])
	if err != nil {
		t.Fatal(err)
	}
	defer solo.Close()
	mustGet(t, solo, "while-down", "x")
}

func TestRestartOneOfThreeWithoutQuorumReturns(t *testing.T) {
	c := Start(t, 3)
	put(t, c.Client(t), "k", "v")
	c.StopAll(t)
	if eps := c.Endpoints(); len(eps) != 0 {
		t.Fatalf("Endpoints after StopAll = %v, want none", eps)
	}
	c.Restart(t, 0) // no quorum: must return once started, not hang
	c.Restart(t, 1) // quorum again: returns once serving
	mustGet(t, c.Client(t), "k", "v")
}

func TestSingleMember(t *testing.T) {
	c := Start(t, 1)
	cli := c.Client(t)
	put(t, cli, "k", "v")
	c.Stop(t, 0)
	c.Restart(t, 0)
	mustGet(t, cli, "k", "v")
	if eps := c.AllEndpoints(); len(eps) != 1 || !strings.HasPrefix(eps[0], "unix:///") {
		t.Fatalf("AllEndpoints = %v, want one unix:/// URL", eps)
	}
}

// TestCleanupLeavesNoGoroutines runs a cluster through stops and restarts
// in a subtest and checks that its cleanup took every etcd goroutine with
// it. It polls because a stopped member's peer connections can outlive
// Close by up to etcd's 5 s peer read timeout (see Stop); the deadline
// bounds the wait.
func TestCleanupLeavesNoGoroutines(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		c := Start(t, 3)
		put(t, c.Client(t), "k", "v")
		c.Stop(t, 1)
		c.Restart(t, 1)
	})
	start := time.Now()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		leaked := etcdGoroutines()
		if leaked == "" {
			t.Logf("etcd goroutines gone %v after cleanup", time.Since(start))
			return
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("etcd goroutines left %v after cleanup:\n%s", waitTimeout, leaked)
		}
	}
}

// etcdGoroutines returns the stacks of goroutines running etcd code.
func etcdGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "go.etcd.io/") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

func TestStopTwiceFails(t *testing.T) {
	c := Start(t, 1)
	c.Stop(t, 0)
	ft := <-goRecording(t, func(tb testing.TB) { c.Stop(tb, 0) })
	if !strings.Contains(ft.fatal, "already stopped") {
		t.Fatalf("second Stop of the same member: fatal = %q, want it to say already stopped", ft.fatal)
	}
}

// fatalRecorder records a Fatalf instead of failing the real test, so a
// test can check that a helper refuses misuse; everything else goes to T.
type fatalRecorder struct {
	*testing.T
	fatal string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// goRecording runs f on a goroutine of its own, since Fatalf ends the
// goroutine it runs on, and hands its recorder over when f returns or
// fails; the caller owns the goroutine and must receive, which f's own
// bounded waits keep finite.
func goRecording(t *testing.T, f func(tb testing.TB)) <-chan *fatalRecorder {
	ft := &fatalRecorder{T: t}
	done := make(chan *fatalRecorder, 1)
	go func() {
		defer func() { done <- ft }()
		f(ft)
	}()
	return done
}

// TestRestartWaitsForPeerPort holds a stopped member's peer port with
// another listener, as a stray socket might, and checks that Restart keeps
// trying until the port is free instead of failing. The blocker is released
// once the member's log shows a failed bind, so the test knows Restart
// really met the busy port.
func TestRestartWaitsForPeerPort(t *testing.T) {
	c := Start(t, 1)
	c.Stop(t, 0)
	m := c.member(t, 0)
	blocker, err := net.Listen("tcp", m.peer.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	restarted := goRecording(t, func(tb testing.TB) { c.Restart(tb, 0) })
	waitForLog(t, c, "creating peer listener failed")
	_ = blocker.Close()
	if ft := <-restarted; ft.fatal != "" { // bounded: Restart gives up after waitTimeout
		t.Fatal(ft.fatal)
	}
	put(t, c.Client(t), "k", "v")
}

// waitForLog waits until the cluster's log sink holds s.
func waitForLog(t *testing.T, c *Cluster, s string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !c.logs.contains(s) {
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("log never showed %q within %v", s, waitTimeout)
		}
	}
}
