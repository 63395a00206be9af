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
			if got, _, ok := r.coord.LastTrigger("student"); !ok || !reflect.DeepEqual(got, want) {
				return false
			}
		}
		return true
	})
}

// TestDriftTriggerCompareAndSwap: two replicas that read the same record
// write theirs at once; exactly one lands, every replica reads it, and the
// other lands only after reading it. The revision a replica read is the
// key's in etcd, and a write answers the key's new one.
func TestDriftTriggerCompareAndSwap(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	rs := startFleet(t, cluster, fleetRepo(t, "", fastSpec), 3)
	if got, rev, ok := rs[0].coord.LastTrigger("student"); ok || rev != 0 {
		t.Fatalf("a new fleet has a trigger record: %+v at revision %d", got, rev)
	}
	cli := cluster.Client(t)
	a, b := rs[0], rs[1]
	for round := range 3 {
		ta, tb := trigger(fmt.Sprintf("a-%d", round), int64(1718000000+round)), trigger(fmt.Sprintf("b-%d", round), int64(1718000000+round))
		_, ra, _ := a.coord.LastTrigger("student")
		_, rb, _ := b.coord.LastTrigger("student")
		if want := modRev(t, cli, "/sluice-test/drift-triggers/student"); ra != want || rb != want {
			t.Fatalf("round %d: the replicas read revisions %d and %d, want the key's %d", round, ra, rb, want)
		}
		errs, revs := make([]error, 2), make([]int64, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, w := range []struct {
			r   *replica
			t   drift.Trigger
			rev int64
		}{{a, ta, ra}, {b, tb, rb}} {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				revs[i], errs[i] = w.r.coord.WriteTrigger(ctx, "student", w.t, w.rev)
			})
		}
		close(start)
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: both writes from the same read: errors %v and %v, want exactly one to land", round, errs[0], errs[1])
		}
		won, lost, loser, wonRev := ta, tb, b, revs[0]
		if errs[0] != nil {
			won, lost, loser, wonRev = tb, ta, a, revs[1]
		}
		if got := modRev(t, cli, "/sluice-test/drift-triggers/student"); wonRev != got {
			t.Errorf("round %d: the write that landed answered revision %d, the key is at %d", round, wonRev, got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := loser.coord.WriteTrigger(ctx, "student", lost, ra); err == nil {
			t.Fatalf("round %d: %s tried again on the old read and wrote over %q", round, loser.name, won.ID)
		}
		waitTrigger(t, rs, won)
		got, rev, ok := loser.coord.LastTrigger("student")
		if !ok || got.ID != won.ID || rev != wonRev {
			t.Fatalf("round %d: %s reads %+v at revision %d after losing, want %q at %d", round, loser.name, got, rev, won.ID, wonRev)
		}
		_, err := loser.coord.WriteTrigger(ctx, "student", lost, rev)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %s read %q and then could not write: %v", round, loser.name, won.ID, err)
		}
		waitTrigger(t, rs, lost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.coord.WriteTrigger(ctx, "a/b", trigger("x", 1), 0); err == nil {
		t.Error("a trigger for model \"a/b\" was written; want it refused: a model name has no \"/\"")
	}
}

// TestDriftTriggerDeleted: a deleted trigger record is forgotten by every
// replica, and the next write expects no record.
func TestDriftTriggerDeleted(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	rs := startFleet(t, cluster, fleetRepo(t, "", fastSpec), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := trigger("student-1-1718000000", 1718000300)
	if _, err := rs[0].coord.WriteTrigger(ctx, "student", first, 0); err != nil {
		t.Fatal(err)
	}
	waitTrigger(t, rs, first)
	if _, err := cluster.Client(t).Delete(ctx, "/sluice-test/drift-triggers/student"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every replica to forget the deleted record", func() bool {
		for _, r := range rs {
			if _, rev, ok := r.coord.LastTrigger("student"); ok || rev != 0 {
				return false
			}
		}
		return true
	})
	next := trigger("student-1-1718009000", 1718009300)
	if _, err := rs[1].coord.WriteTrigger(ctx, "student", next, 0); err != nil {
		t.Fatalf("writing the first record after the delete: %v", err)
	}
	waitTrigger(t, rs, next)
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
	_, rev, _ := old.coord.LastTrigger("student")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := old.coord.WriteTrigger(ctx, "student", want, rev); err != nil {
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
	if got, _, ok := leader(rest).coord.LastTrigger("student"); !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("the new leader reads %+v (%v), want the old leader's %+v", got, ok, want)
	}
	late := startReplica(t, "replica-late", repo, cluster.AllEndpoints(), nil)
	waitTrigger(t, []*replica{late}, want)
	_, lateRev, _ := late.coord.LastTrigger("student")

	resp, err := cluster.Client(t).Get(ctx, "/sluice-test/drift-triggers/student")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading the trigger record: %v, %d keys", err, len(resp.Kvs))
	}
	if lease := resp.Kvs[0].Lease; lease != 0 {
		t.Errorf("the trigger record is held by lease %x, want none: it must outlive every replica", lease)
	}

	next := trigger("student-1-1718009000", 1718009300)
	nl := leader(rest)
	_, rev, _ = nl.coord.LastTrigger("student")
	if _, err := nl.coord.WriteTrigger(ctx, "student", next, rev); err != nil {
		t.Fatalf("the new leader recording the next episode's trigger: %v", err)
	}
	if _, err := late.coord.WriteTrigger(ctx, "student", want, lateRev); err == nil { // late last read the old leader's record
		t.Errorf("%s wrote over the new leader's record after reading only the old one; want its compare-and-swap refused", late.name)
	}
	waitTrigger(t, append(rest, late), next)
}
