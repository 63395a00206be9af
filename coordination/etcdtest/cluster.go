package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Cluster is n embedded etcd members forming one cluster.
type Cluster struct {
	logs           *logSink
	logger         *zap.Logger
	token          string // the cluster's InitialClusterToken
	sockDir        string
	initialCluster string // written by boot before any member starts

	mu      sync.Mutex // guards members and each member's etcd
	members []*member
}

// Start starts n members (1 or 3 in practice), waits until a leader is
// elected and the cluster answers a linearizable read, and stops everything
// at tb's cleanup.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("etcdtest: Start needs at least one member, got %d", n)
	}
	c := &Cluster{logs: &logSink{}}
	c.logger = c.logs.logger()
	// Registered first so it runs last, after the members' shutdown logs.
	tb.Cleanup(func() { c.logs.dumpIfFailed(tb) })
	dir, err := newSocketDir(n)
	if err != nil {
		tb.Fatalf("etcdtest: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	c.sockDir, c.token = dir, filepath.Base(dir)
	tb.Cleanup(func() { c.closeAll(tb) })

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err = c.boot(ctx, tb, n)
	if isAddrInUse(err) {
		// Another process took a reserved port between its release and
		// etcd's bind; fresh ports and data folders start over cleanly.
		c.closeAll(tb)
		err = c.boot(ctx, tb, n)
	}
	if err != nil {
		tb.Fatalf("etcdtest: start %d members: %v", n, err)
	}
	if err := c.awaitServing(ctx); err != nil {
		tb.Fatalf("etcdtest: start %d members: %v", n, err)
	}
	return c
}

// boot makes n members with fresh ports and folders and starts them all
// without waiting for quorum, since each member's readiness needs the
// others to be up.
func (c *Cluster) boot(ctx context.Context, tb testing.TB, n int) error {
	ports, err := reservePorts(n)
	if err != nil {
		return err
	}
	members := make([]*member, n)
	peers := make([]string, n)
	for i := range members {
		dir := tb.TempDir()
		// etcd warns at every start about a data folder others may read.
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
		m := &member{
			name:    "m" + strconv.Itoa(i),
			dataDir: dir,
			peer:    peerURL(ports[i]),
			client:  clientURL(filepath.Join(c.sockDir, socketName(i))),
		}
		members[i], peers[i] = m, m.name+"="+m.peer.String()
	}
	c.mu.Lock()
	c.members, c.initialCluster = members, strings.Join(peers, ",")
	c.mu.Unlock()
	// One after another: a new member first asks each peer whether it was
	// already bootstrapped, and a peer that is bound but not yet serving
	// holds that question for etcd's one-second timeout, so starting all
	// at once costs two seconds where this costs milliseconds.
	for _, m := range members {
		e, err := c.startMember(ctx, m)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		c.setEtcd(m, e)
	}
	return nil
}

// restartAll restarts stopped members concurrently and records the ones
// that started. Restarted members have a WAL, so they skip the bootstrap
// question that makes boot go one at a time.
func (c *Cluster) restartAll(ctx context.Context, members []*member) error {
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			e, err := c.restartMember(ctx, m)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", m.name, err)
				return
			}
			c.setEtcd(m, e)
		})
	}
	wg.Wait() // bounded: restartMember gives up when ctx ends
	return errors.Join(errs...)
}

// closeAll stops every running member; it is the cluster's cleanup and
// the reset between boot attempts.
func (c *Cluster) closeAll(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.stopAll(ctx); err != nil {
		tb.Errorf("etcdtest: close cluster: %v", err)
	}
}

// stopAll stops every running member concurrently, without handing
// leadership over.
func (c *Cluster) stopAll(ctx context.Context) error {
	running := c.running()
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, m := range running {
		wg.Go(func() { errs[i] = c.stop(ctx, m, false) })
	}
	wg.Wait() // bounded: stopMember gives up when ctx ends
	return errors.Join(errs...)
}

// stop stops m's etcd and forgets it; handOver is stopMember's.
func (c *Cluster) stop(ctx context.Context, m *member, handOver bool) error {
	if err := stopMember(ctx, m.name, c.etcdOf(m), handOver); err != nil {
		return err
	}
	c.setEtcd(m, nil)
	return nil
}

// awaitServing waits until every running member is ready and the cluster
// answers a linearizable read through them. A read rather than a write
// leaves a test's keyspace and revisions as it made them; readiness already
// needed a committed raft entry.
func (c *Cluster) awaitServing(ctx context.Context) error {
	for _, m := range c.running() {
		if err := awaitReady(ctx, m.name, c.etcdOf(m)); err != nil {
			return err
		}
	}
	cli, err := c.newClient(c.Endpoints())
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Get(ctx, "etcdtest/probe"); err != nil {
		return fmt.Errorf("cluster does not answer: %w", err)
	}
	return nil
}

// Endpoints returns the client URLs of the members that are up, for
// clientv3.Config.Endpoints.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.running() {
		eps = append(eps, m.client.String())
	}
	return eps
}

// AllEndpoints returns every member's client URL, up or not: what a replica
// is configured with.
func (c *Cluster) AllEndpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.client.String()
	}
	return eps
}

// Client returns a client of every member, closed at tb's cleanup (before
// the members stop, cleanups running last-in first-out).
func (c *Cluster) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	cli, err := c.newClient(c.AllEndpoints())
	if err != nil {
		tb.Fatalf("etcdtest: new client: %v", err)
	}
	// Close's error is dropped: it only says the test closed it already.
	tb.Cleanup(func() { _ = cli.Close() })
	return cli
}

// newClient makes a client of eps that logs into the cluster's log sink.
// gRPC's default reconnect backoff grows to two minutes, so a client that
// saw every member go down would wait seconds after they come back; tests
// want it back within a fraction of a second. clientv3.New does not dial,
// so it does not block.
func (c *Cluster) newClient(eps []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints: eps,
		Logger:    c.logger.Named("client"),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   500 * time.Millisecond,
			},
			MinConnectTimeout: 5 * time.Second,
		})},
	})
}

// running returns the members that are up, in member order.
func (c *Cluster) running() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var up []*member
	for _, m := range c.members {
		if m.etcd != nil {
			up = append(up, m)
		}
	}
	return up
}

// etcdOf returns m's etcd, nil while m is stopped.
func (c *Cluster) etcdOf(m *member) *embed.Etcd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.etcd
}

// setEtcd records m's etcd, nil once stopped.
func (c *Cluster) setEtcd(m *member, e *embed.Etcd) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.etcd = e
}
