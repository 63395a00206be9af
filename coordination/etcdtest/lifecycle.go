package etcdtest

import (
	"context"
	"testing"
)

// Stop stops member i, keeping its data, and returns once it no longer
// accepts connections. Stopping the leader hands leadership over first, as
// a member being shut down in production does.
func (c *Cluster) Stop(tb testing.TB, i int) {
	tb.Helper()
	m := c.member(tb, i)
	if c.etcdOf(m) == nil {
		tb.Fatalf("etcdtest: Stop(%d): %s is already stopped", i, m.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.stop(ctx, m, true); err != nil {
		tb.Fatalf("etcdtest: Stop(%d): %v", i, err)
	}
	if err := refusesConnections(ctx, m); err != nil {
		tb.Fatalf("etcdtest: Stop(%d): %v", i, err)
	}
}

// StopAll stops every running member at once, keeping their data, and
// returns once none accepts connections: etcd unreachable, as after a
// whole-cluster outage. Nobody hands leadership over, and stopping them
// together costs one member's stop time rather than one per member.
func (c *Cluster) StopAll(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.stopAll(ctx); err != nil {
		tb.Fatalf("etcdtest: StopAll: %v", err)
	}
	c.mu.Lock()
	members := c.members
	c.mu.Unlock()
	for _, m := range members {
		if err := refusesConnections(ctx, m); err != nil {
			tb.Fatalf("etcdtest: StopAll: %v", err)
		}
	}
}

// Restart starts member i again with its data and the same URLs. When the
// members now running form a quorum it returns once they all serve;
// otherwise (say the first of three restarted after all stopped) it returns
// once member i has started, since serving needs a quorum that is not
// there: use RestartAll to bring several members back.
func (c *Cluster) Restart(tb testing.TB, i int) {
	tb.Helper()
	m := c.member(tb, i)
	if c.etcdOf(m) != nil {
		tb.Fatalf("etcdtest: Restart(%d): %s is running", i, m.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.restartAll(ctx, []*member{m}); err != nil {
		tb.Fatalf("etcdtest: Restart(%d): %v", i, err)
	}
	if !c.hasQuorum() {
		return
	}
	if err := c.awaitServing(ctx); err != nil {
		tb.Fatalf("etcdtest: Restart(%d): %v", i, err)
	}
}

// RestartAll starts every stopped member concurrently, with their data, and
// returns once all members serve.
func (c *Cluster) RestartAll(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.restartAll(ctx, c.stopped()); err != nil {
		tb.Fatalf("etcdtest: RestartAll: %v", err)
	}
	if err := c.awaitServing(ctx); err != nil {
		tb.Fatalf("etcdtest: RestartAll: %v", err)
	}
}

// member returns member i, failing the test when there is none.
func (c *Cluster) member(tb testing.TB, i int) *member {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.members) {
		tb.Fatalf("etcdtest: no member %d in a cluster of %d", i, len(c.members))
	}
	return c.members[i]
}

// stopped returns the members that are down, in member order.
func (c *Cluster) stopped() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var down []*member
	for _, m := range c.members {
		if m.etcd == nil {
			down = append(down, m)
		}
	}
	return down
}

// hasQuorum reports whether a majority of members is running.
func (c *Cluster) hasQuorum() bool {
	n := len(c.running())
	c.mu.Lock()
	defer c.mu.Unlock()
	return n > len(c.members)/2
}
