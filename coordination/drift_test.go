package coordination_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-serving/sluice/coordination"
	"github.com/sluice-serving/sluice/coordination/etcdtest"
	"github.com/sluice-serving/sluice/drift"
)

// driftSource is a drift monitor's measurements, set by the test.
type driftSource struct {
	mu   sync.Mutex // guards sets
	sets map[string]drift.WindowSet
}

func (s *driftSource) DriftMeasurements() map[string]drift.WindowSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sets)
}

func (s *driftSource) set(key string, w drift.WindowSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets[key] = w
}

func (s *driftSource) drop(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sets, key)
}

// windowSet is a set told apart from others by its rows.
func windowSet(rows int64) drift.WindowSet {
	return drift.WindowSet{Profile: "sha256:ab12", Slot: 1718000000, Rows: rows,
		Counts: []int64{rows - 3, 2, 1, 0}, Sums: []float64{float64(rows) / 4, 0.5}}
}

// rowsSeen is the rows of each set r sees for key, in replica order.
func rowsSeen(r *replica, key string) []int64 {
	var out []int64
	for _, w := range r.coord.DriftWindows(key) {
		out = append(out, w.Rows)
	}
	return out
}

// waitRows waits until each replica sees, for key, the sets of the given
// rows.
func waitRows(t *testing.T, what, key string, rs []*replica, want ...[]int64) {
	t.Helper()
	waitFor(t, 10*time.Second, what, func() bool {
		for i, r := range rs {
			if !slices.Equal(rowsSeen(r, key), want[i]) {
				return false
			}
		}
		return true
	})
}

// modRev is key's revision in etcd, 0 when absent.
func modRev(t *testing.T, cli *clientv3.Client, key string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0
	}
	return resp.Kvs[0].ModRevision
}

// TestFleetDriftWindows: each replica sees the other replicas' drift
// window sets and not its own; an unchanged set is not written again; a
// changed one spreads; a set no longer measured and the sets of a replica
// that died disappear.
func TestFleetDriftWindows(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	srcs := make([]*driftSource, 3)
	for i := range srcs {
		srcs[i] = &driftSource{sets: map[string]drift.WindowSet{"student/1": windowSet(int64(100 * (i + 1)))}}
	}
	srcs[0].set("student/2", windowSet(7))
	rs := startFleetWith(t, cluster, fleetRepo(t, "", fastSpec), 3, func(i int, c *coordination.Coordinator) { c.WithDrift(srcs[i]) })

	waitRows(t, "every replica to see the others' sets of student/1", "student/1", rs, []int64{200, 300}, []int64{100, 300}, []int64{100, 200})
	waitRows(t, "replicas 1 and 2 to see replica 0's set of student/2", "student/2", rs, nil, []int64{7}, []int64{7})
	if got := rs[1].coord.DriftWindows("student/2"); !reflect.DeepEqual(got, []drift.WindowSet{windowSet(7)}) {
		t.Errorf("replica 1 sees student/2 as %+v, want replica 0's set as published %+v", got, windowSet(7))
	}
	mine := rs[0].coord.DriftWindows("student/1")
	mine[0].Counts[0] = -1 // the caller's own copy
	if got := rs[0].coord.DriftWindows("student/1")[0].Counts[0]; got != 197 {
		t.Errorf("changing a returned set changed the coordinator's: counts[0] %d, want 197", got)
	}

	cli := cluster.Client(t)
	driftKey, memberKey := "/sluice-test/drift/student/1/replica-0", "/sluice-test/members/replica-0"
	before := modRev(t, cli, driftKey)
	publishes, last := 0, modRev(t, cli, memberKey)
	waitFor(t, 10*time.Second, "replica 0 to publish its view three more times", func() bool {
		if r := modRev(t, cli, memberKey); r != last {
			publishes, last = publishes+1, r
		}
		return publishes >= 3
	})
	if after := modRev(t, cli, driftKey); before == 0 || after != before {
		t.Errorf("replica 0's unchanged set of student/1 was at revision %d, then %d after three publishes: want it written once", before, after)
	}

	srcs[1].set("student/1", windowSet(250))
	waitRows(t, "replica 1's changed set to spread", "student/1", rs, []int64{250, 300}, []int64{100, 300}, []int64{100, 250})

	srcs[0].drop("student/2")
	waitRows(t, "replica 0's set of student/2 to disappear", "student/2", rs, nil, nil, nil)
	if r := modRev(t, cli, "/sluice-test/drift/student/2/replica-0"); r != 0 {
		t.Errorf("the key of a version replica 0 no longer measures is still in etcd (revision %d)", r)
	}

	rs[2].coord.Close() // no revoke reaches etcd: the lease must expire
	rs[2].stop()
	waitRows(t, "the dead replica's set to disappear with its lease", "student/1", rs[:2], []int64{250}, []int64{100})
}

func trigger(id string, at int64) drift.Trigger {
	return drift.Trigger{ID: id, Model: "student", Version: 1, Reason: "version 1 drifting for 5m0s: sem1_grade PSI 0.41 > 0.25",
		Outcome: "sent", Time: time.Unix(at, 0).UTC()}
}

// waitTrigger waits until every replica's record of student's last
// trigger is want.
func waitTrigger(t *testing.T, rs []*replica, want drift.Trigger) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("every replica to read trigger %q", want.ID), func() bool {
		for _, r := range rs {
			if got, ok := r.coord.LastTrigger("student"); !ok || !reflect.DeepEqual(got, want) {
				return false
			}
		}
		return true
	})
}

// TestDriftTriggerCompareAndSwap: two replicas that read the same record
// write theirs at once; exactly one lands, every replica reads it, and the
// other lands only after reading it.
func TestDriftTriggerCompareAndSwap(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	rs := startFleet(t, cluster, fleetRepo(t, "", fastSpec), 3)
	if got, ok := rs[0].coord.LastTrigger("student"); ok {
		t.Fatalf("a new fleet has a trigger record: %+v", got)
	}
	a, b := rs[0], rs[1]
	for round := range 3 {
		ta, tb := trigger(fmt.Sprintf("a-%d", round), int64(1718000000+round)), trigger(fmt.Sprintf("b-%d", round), int64(1718000000+round))
		a.coord.LastTrigger("student")
		b.coord.LastTrigger("student")
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, w := range []struct {
			r *replica
			t drift.Trigger
		}{{a, ta}, {b, tb}} {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				errs[i] = w.r.coord.WriteTrigger(ctx, "student", w.t)
			})
		}
		close(start)
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: both writes from the same read: errors %v and %v, want exactly one to land", round, errs[0], errs[1])
		}
		won, lost, loser := ta, tb, b
		if errs[0] != nil {
			won, lost, loser = tb, ta, a
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := loser.coord.WriteTrigger(ctx, "student", lost); err == nil {
			t.Fatalf("round %d: %s tried again without reading and wrote over %q", round, loser.name, won.ID)
		}
		waitTrigger(t, rs, won)
		if got, ok := loser.coord.LastTrigger("student"); !ok || got.ID != won.ID {
			t.Fatalf("round %d: %s reads %+v after losing, want %q", round, loser.name, got, won.ID)
		}
		err := loser.coord.WriteTrigger(ctx, "student", lost)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %s read %q and then could not write: %v", round, loser.name, won.ID, err)
		}
		waitTrigger(t, rs, lost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.coord.WriteTrigger(ctx, "a/b", trigger("x", 1)); err == nil {
		t.Error("a trigger for model \"a/b\" was written; want it refused: a model name has no \"/\"")
	}
}

// TestDriftTriggerOutlivesLeader: the leader records a trigger and stops;
// the new leader, and a replica that starts afterwards, read the record,
// which is held by no lease.
func TestDriftTriggerOutlivesLeader(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	repo := fleetRepo(t, "", fastSpec)
	rs := startFleet(t, cluster, repo, 3)
	old := leader(rs)
	want := trigger("student-1-1718000000", 1718000300)
	old.coord.LastTrigger("student")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.coord.WriteTrigger(ctx, "student", want); err != nil {
		t.Fatalf("the leader recording a trigger: %v", err)
	}
	waitTrigger(t, rs, want)

	var rest []*replica
	for _, r := range rs {
		if r != old {
			rest = append(rest, r)
		}
	}
	old.stop()
	waitFor(t, 20*time.Second, "another replica to lead", func() bool { return leader(rest) != nil })
	if got, ok := leader(rest).coord.LastTrigger("student"); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("the new leader reads %+v (%v), want the old leader's %+v", got, ok, want)
	}
	late := startReplica(t, "replica-late", repo, cluster.AllEndpoints(), nil)
	waitTrigger(t, []*replica{late}, want)

	resp, err := cluster.Client(t).Get(ctx, "/sluice-test/drift-triggers/student")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading the trigger record: %v, %d keys", err, len(resp.Kvs))
	}
	if lease := resp.Kvs[0].Lease; lease != 0 {
		t.Errorf("the trigger record is held by lease %x, want none: it must outlive every replica", lease)
	}

	next := trigger("student-1-1718009000", 1718009300)
	nl := leader(rest)
	nl.coord.LastTrigger("student")
	if err := nl.coord.WriteTrigger(ctx, "student", next); err != nil {
		t.Fatalf("the new leader recording the next episode's trigger: %v", err)
	}
	if err := late.coord.WriteTrigger(ctx, "student", want); err == nil { // late last read the old leader's record
		t.Errorf("%s wrote over the new leader's record after reading only the old one; want its compare-and-swap refused", late.name)
	}
	waitTrigger(t, append(rest, late), next)
}
