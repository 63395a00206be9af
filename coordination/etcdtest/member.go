package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Raft timing scaled down from etcd's 100/1000 ms so elections take a
// fraction of a second, yet 2.5 times the 10 ms ticks of etcd's own
// integration tests, leaving room for a loaded machine running -race to
// keep up with heartbeats instead of churning leaders.
const (
	tickMs     = 25
	electionMs = 250
)

// waitTimeout bounds every wait in this package: a three-member start takes
// well under a second, so reaching this means something is wrong, and the
// test fails saying what it waited for.
const waitTimeout = 20 * time.Second

// rebindInterval spaces out retries of a restarted member's bind while
// another socket still holds its peer port.
const rebindInterval = 50 * time.Millisecond

// member is one etcd server of a Cluster. Its URLs and folder outlive its
// process, so a restart finds its data and its peers find it.
type member struct {
	name    string
	dataDir string
	peer    url.URL     // http://127.0.0.1:port
	client  url.URL     // unix:///socket/path
	etcd    *embed.Etcd // nil while stopped; guarded by Cluster.mu
}

// config is m's etcd configuration. It is built afresh for every start
// because embed.StartEtcd keeps and mutates the one it is given.
func (c *Cluster) config(m *member) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dataDir
	cfg.ListenPeerUrls = []url.URL{m.peer}
	cfg.AdvertisePeerUrls = []url.URL{m.peer}
	cfg.ListenClientUrls = []url.URL{m.client}
	cfg.AdvertiseClientUrls = []url.URL{m.client}
	// Ignored once the member has a WAL, so restarts reuse it unchanged.
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.InitialCluster = c.initialCluster
	// Unique per cluster, so a member of another cluster that happens to
	// reuse one of this cluster's ports is refused, never merged.
	cfg.InitialClusterToken = c.token
	cfg.TickMs, cfg.ElectionMs = tickMs, electionMs
	// Data need only survive a Stop inside this process, not a power cut.
	cfg.UnsafeNoFsync = true
	// The gateway would add an HTTP/JSON door and a gRPC loopback dial per
	// member; tests use clientv3.
	cfg.EnableGRPCGateway = false
	// The builder's logger sets the level; etcd's LogLevel would only
	// shape the logger etcd builds itself when there is no builder.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(c.logger.Named(m.name))
	return cfg
}

// await runs f on a goroutine it owns and waits for it until ctx ends. On
// expiry f is abandoned, still running: etcd offers no way to interrupt a
// stuck start or close, and the test is failing anyway.
func await[T any](ctx context.Context, what string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned f still returns
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%s did not finish within %v: %w", what, waitTimeout, ctx.Err())
	}
}

// startMember starts m's etcd and returns once its listeners are bound and
// raft runs; it does not wait for quorum.
func (c *Cluster) startMember(ctx context.Context, m *member) (*embed.Etcd, error) {
	return await(ctx, "start "+m.name, func() (*embed.Etcd, error) {
		return embed.StartEtcd(c.config(m))
	})
}

// restartMember is startMember for a member that ran before. A peer port
// still held by some other socket (the member's old connections in
// TIME_WAIT do not count: Go listens with SO_REUSEADDR) is retried until
// ctx ends, since m's peers know it by that port alone.
func (c *Cluster) restartMember(ctx context.Context, m *member) (*embed.Etcd, error) {
	for {
		e, err := c.startMember(ctx, m)
		if !isAddrInUse(err) || !retryBind(ctx) {
			return e, err
		}
	}
}

// retryBind waits rebindInterval and reports whether ctx still allows
// another try.
func retryBind(ctx context.Context) bool {
	t := time.NewTimer(rebindInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopMember stops e and returns once its listeners are closed. With
// handOver, a leader first hands leadership to a peer, as a member shut down
// in production does; without it the member just stops, which is what a
// whole-cluster shutdown wants: handing over to a peer that is stopping too
// waits out etcd's request timeout (5 s and more) for nothing.
func stopMember(ctx context.Context, name string, e *embed.Etcd, handOver bool) error {
	_, err := await(ctx, "stop "+name, func() (struct{}, error) {
		if !handOver || !isReady(e) {
			// Also needed when e is not ready: embed.Etcd.Close waits for
			// the client servers before it stops raft, and those servers
			// only start once the member is ready, which needs quorum, so
			// closing a member that never reached quorum would block
			// forever.
			e.Server.HardStop()
		}
		e.Close()
		return struct{}{}, nil
	})
	return err
}

// isReady reports whether e has served clients, without waiting.
func isReady(e *embed.Etcd) bool {
	select {
	case <-e.Server.ReadyNotify():
		return true
	default:
		return false
	}
}

// awaitReady waits until e serves clients, which needs a leader and the
// member's attributes committed through raft.
func awaitReady(ctx context.Context, name string, e *embed.Etcd) error {
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case <-e.Server.StopNotify():
		return fmt.Errorf("%s stopped before it was ready", name)
	case <-ctx.Done():
		return fmt.Errorf("%s not ready within %v (no quorum?): %w", name, waitTimeout, ctx.Err())
	}
}

// refusesConnections checks that a stopped member's sockets no longer
// accept connections, so "stopped" means unreachable, not merely idle.
func refusesConnections(ctx context.Context, m *member) error {
	var d net.Dialer
	for _, addr := range []struct{ network, address string }{
		{"unix", m.client.Path},
		{"tcp", m.peer.Host},
	} {
		conn, err := d.DialContext(ctx, addr.network, addr.address)
		if err == nil {
			_ = conn.Close()
			return fmt.Errorf("%s still accepts connections on %s after stopping", m.name, addr.address)
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
	}
	return nil
}
