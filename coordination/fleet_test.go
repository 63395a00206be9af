package coordination_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/coordination"
	"github.com/sluice-serving/sluice/coordination/etcdtest"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// replica is one Sluice replica as serve wires it, minus HTTP: a registry
// over its own copy of the repository, its rollout controller analysing
// every 50 ms, and its coordinator.
type replica struct {
	name  string
	reg   *registry.Registry
	ctl   *rollout.Controller
	coord *coordination.Coordinator
	stop  func() // stops the coordinator and the analysis loop, as a killed process's would
	once  sync.Once
}

// fleetRepo lays out student-success version 1 (stable) and v2, a model
// file ("" for student-success's own version 2), both served, with spec
// as the model's default rollout.
func fleetRepo(t *testing.T, v2, spec string) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, ortest.Path(t, "models/student-success/1/model.onnx"), filepath.Join(dir, "student", "1", "model.onnx"))
	src := ortest.Path(t, "models/student-success/2/model.onnx")
	if v2 != "" {
		src = ortest.Fixture(t, v2)
	}
	copyFile(t, src, filepath.Join(dir, "student", "2", "model.onnx"))
	cfg := "version_policy: all\ninstances: 1\nmax_batch_size: 16\ntraffic:\n  stable: 1\nrollout:\n" + spec
	if err := os.WriteFile(filepath.Join(dir, "student", "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fastSpec advances a step after 300 ms and 10 canary calls, and holds
// latency and errors to limits a loaded test machine meets.
const fastSpec = "  steps: [20, 50, 100]\n  min_step_duration: 300ms\n  min_step_calls: 10\n  max_error_rate: 0.5\n  max_latency_ratio: 1000\n  failure_limit: 3\n  breaker_failures: 1000\n"

func coordConfig(endpoints []string, name string) coordination.Config {
	c := coordination.DefaultConfig()
	c.Endpoints, c.Replica, c.Prefix = endpoints, name, "/sluice-test"
	c.LeaseTTL, c.PublishInterval, c.DialTimeout = 2*time.Second, 100*time.Millisecond, time.Second
	return c
}

// startReplica starts replica name over its own copy of repo; with, when
// given, wires its coordinator before it runs.
func startReplica(t *testing.T, name, repo string, endpoints []string, with func(*coordination.Coordinator)) *replica {
	t.Helper()
	ortest.Init(t)
	dir := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dir, os.DirFS(repo)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := registry.DefaultConfig()
	cfg.Path, cfg.ControlMode = dir, registry.ModeExplicit
	reg, err := registry.New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.CheckRolloutSpecs(rollout.CheckConfig)
	ctl, err := rollout.New(reg, filepath.Join(dir, ".sluice"), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	coord, err := coordination.New(coordConfig(endpoints, name), reg, ctl, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl.WithFleet(coord)
	if with != nil {
		with(coord)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { coord.Run(ctx) })
	ticker := time.NewTicker(50 * time.Millisecond)
	wg.Go(func() { ctl.Run(ctx, ticker.C) })
	r := &replica{name: name, reg: reg, ctl: ctl, coord: coord}
	r.stop = func() {
		r.once.Do(func() {
			cancel()
			wg.Wait()
			ticker.Stop()
			coord.Close()
		})
	}
	t.Cleanup(func() {
		r.stop()
		ctl.Close()
		reg.Close(context.Background())
	})
	return r
}

func startFleet(t *testing.T, cluster *etcdtest.Cluster, repo string, n int) []*replica {
	t.Helper()
	return startFleetWith(t, cluster, repo, n, nil)
}

// startFleetWith starts n replicas, wiring replica i's coordinator with
// with(i, coordinator) when with is given, and waits until they form a
// fleet with one leader.
func startFleetWith(t *testing.T, cluster *etcdtest.Cluster, repo string, n int, with func(int, *coordination.Coordinator)) []*replica {
	t.Helper()
	var rs []*replica
	for i := range n {
		var wire func(*coordination.Coordinator)
		if with != nil {
			wire = func(c *coordination.Coordinator) { with(i, c) }
		}
		rs = append(rs, startReplica(t, fmt.Sprintf("replica-%d", i), repo, cluster.AllEndpoints(), wire))
	}
	// Every replica sees every other, and one leads.
	waitFor(t, 20*time.Second, "every replica to see the whole fleet and one leader", func() bool {
		leaders := 0
		for _, r := range rs {
			if len(r.coord.Members()) != n || !r.coord.Connected() {
				return false
			}
			if r.coord.Leading() {
				leaders++
			}
		}
		return leaders == 1
	})
	return rs
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(d); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
	}
}

func leader(rs []*replica) *replica {
	for _, r := range rs {
		if r.coord.Leading() {
			return r
		}
	}
	return nil
}

// load sends calls to the replicas in turn until stop, counting failures;
// x0 is the first feature (student-broken fails on any |x0| >= 0.01).
type load struct {
	calls, failed atomic.Int64
	stop          context.CancelFunc
	done          chan struct{}
}

func startLoad(rs []*replica, x0 float32, only *replica) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ctx.Err() == nil; i++ {
			r := rs[i%len(rs)]
			if only != nil {
				r = only
			}
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := r.reg.Infer(cctx, "student", "", "", studentCall(x0))
			ccancel()
			if ctx.Err() != nil {
				return
			}
			l.calls.Add(1)
			if err != nil {
				l.failed.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) end() (calls, failed int64) {
	l.stop()
	<-l.done
	return l.calls.Load(), l.failed.Load()
}

func studentCall(x0 float32) *tensor.Request {
	data := make([]byte, 32)
	binary.LittleEndian.PutUint32(data, math.Float32bits(x0))
	for i := 1; i < 8; i++ {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(0.5))
	}
	return &tensor.Request{Inputs: []tensor.Tensor{{Name: "features", DataType: tensor.FP32, Shape: []int64{1, 8}, Data: data}}}
}

func weights(rs []*replica) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		t, _ := r.reg.Traffic("student")
		out[i] = t.Weight
		if t.Canary == 0 && t.Stable == 2 {
			out[i] = 100 // promoted: every call on the old canary
		}
	}
	return out
}

func states(rs []*replica) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		st, _, _ := r.ctl.Status("student")
		out[i] = st.State
	}
	return out
}

func same[T comparable](xs []T) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

// watchWeights records, for each weight any replica takes, how long the
// last replica took to follow the first.
type weightWatch struct {
	mu     sync.Mutex
	spread map[float64]time.Duration
	stop   context.CancelFunc
	done   chan struct{}
}

func watchWeights(rs []*replica) *weightWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &weightWatch{spread: map[float64]time.Duration{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		first := map[float64]time.Time{}
		for ctx.Err() == nil {
			ws := weights(rs)
			now := time.Now()
			for _, x := range ws {
				if _, ok := first[x]; !ok {
					first[x] = now
				}
			}
			if same(ws) {
				w.mu.Lock()
				if _, ok := w.spread[ws[0]]; !ok {
					w.spread[ws[0]] = now.Sub(first[ws[0]])
				}
				w.mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *weightWatch) end() map[float64]time.Duration {
	w.stop()
	<-w.done
	return w.spread
}

func startRollout(t *testing.T, via *replica) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := via.ctl.Start(ctx, "student", nil, 0); err != nil {
		t.Fatalf("starting the rollout through %s: %v", via.name, err)
	}
}

// TestFleetRolloutAdvancesAndPromotes: a rollout started through one
// replica advances on the leader's merged analysis and promotes, every
// replica taking each step's weight within a second of the first.
func TestFleetRolloutAdvancesAndPromotes(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	rs := startFleet(t, cluster, fleetRepo(t, "", fastSpec), 3)
	l := startLoad(rs, 0.5, nil)
	w := watchWeights(rs)
	startRollout(t, rs[2])
	waitFor(t, 30*time.Second, "the rollout to promote on every replica", func() bool {
		st := states(rs)
		return same(st) && st[0] == rollout.Promoted
	})
	spread := w.end()
	calls, failed := l.end()
	for _, weight := range []float64{20, 50, 100} {
		d, ok := spread[weight]
		if !ok {
			t.Errorf("weight %v was never on every replica at once", weight)
			continue
		}
		t.Logf("weight %v: the last replica followed the first within %v", weight, d)
		if d > time.Second {
			t.Errorf("weight %v: replicas differed for %v, want under 1s", weight, d)
		}
	}
	if failed != 0 || calls == 0 {
		t.Errorf("%d of %d calls failed", failed, calls)
	}
}

// slowSpec keeps each step for 2 s, so a test can act mid-rollout.
const slowSpec = "  steps: [20, 50, 100]\n  min_step_duration: 2s\n  min_step_calls: 10\n  max_error_rate: 0.5\n  max_latency_ratio: 1000\n  failure_limit: 3\n  breaker_failures: 1000\n"

// TestLeaderDiesMidRollout: the leader's etcd connection is cut and the
// process stops, as a crash does (its lease is not revoked); another
// replica takes over once the lease expires, resumes from the stored step
// with fresh windows, and the rollout completes.
func TestLeaderDiesMidRollout(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	rs := startFleet(t, cluster, fleetRepo(t, "", slowSpec), 3)
	l := startLoad(rs, 0.5, nil)
	startRollout(t, rs[0])
	waitFor(t, 20*time.Second, "the rollout to reach step 1 everywhere", func() bool {
		ws := weights(rs)
		return same(ws) && ws[0] == 50
	})
	old := leader(rs)
	var rest []*replica
	for _, r := range rs {
		if r != old {
			rest = append(rest, r)
		}
	}
	killed := time.Now()
	old.coord.Close() // no revoke can reach etcd now: the lease must expire
	old.stop()
	waitFor(t, 20*time.Second, "another replica to lead", func() bool { return leader(rest) != nil })
	t.Logf("leader %s killed; %s leads %v later (lease_ttl 2s)", old.name, leader(rest).name, time.Since(killed))
	l.stop()
	<-l.done
	l2 := startLoad(rest, 0.5, nil)
	waitFor(t, 30*time.Second, "the rollout to promote on the survivors", func() bool {
		st := states(rest)
		return same(st) && st[0] == rollout.Promoted
	})
	if calls, failed := l2.end(); failed != 0 || calls == 0 {
		t.Errorf("%d of %d calls failed after the handover", failed, calls)
	}
	if d := time.Since(killed); d > 25*time.Second {
		t.Errorf("the rollout took %v to complete after the leader died", d)
	}
}

// TestAbortThroughAnyReplica: an abort sent to a replica that does not
// lead reaches every replica within a second.
func TestAbortThroughAnyReplica(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	rs := startFleet(t, cluster, fleetRepo(t, "", slowSpec), 3)
	l := startLoad(rs, 0.5, nil)
	startRollout(t, rs[1])
	waitFor(t, 10*time.Second, "the first step everywhere", func() bool {
		ws := weights(rs)
		return same(ws) && ws[0] == 20
	})
	var via *replica
	for _, r := range rs {
		if !r.coord.Leading() {
			via = r
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := time.Now()
	if _, err := via.ctl.Action(ctx, "student", "abort"); err != nil {
		t.Fatalf("abort through %s: %v", via.name, err)
	}
	took := waitFor(t, 5*time.Second, "every replica to abort", func() bool {
		st, ws := states(rs), weights(rs)
		return same(st) && st[0] == rollout.Aborted && same(ws) && ws[0] == 0
	})
	t.Logf("abort through %s: on every replica %v after it was sent", via.name, time.Since(sent))
	if took > time.Second {
		t.Errorf("the abort took %v to reach every replica, want under 1s", took)
	}
	if calls, failed := l.end(); failed != 0 || calls == 0 {
		t.Errorf("%d of %d calls failed", failed, calls)
	}
}

// TestBreakerTripAbortsFleetWide: the canary (student-broken) faults on
// one replica's calls; its breaker sends that replica to stable at once
// and aborts the rollout on every replica.
func TestBreakerTripAbortsFleetWide(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	spec := "  steps: [50, 100]\n  min_step_duration: 1m\n  min_step_calls: 1000\n  max_error_rate: 1\n  max_latency_ratio: 1000\n  failure_limit: 3\n  breaker_failures: 3\n"
	rs := startFleet(t, cluster, fleetRepo(t, "student-broken", spec), 3)
	startRollout(t, rs[0])
	waitFor(t, 10*time.Second, "the first step everywhere", func() bool {
		ws := weights(rs)
		return same(ws) && ws[0] == 50
	})
	faulting := rs[2]
	l := startLoad(rs, 0.9, faulting) // |x0| >= 0.01: the broken canary fails
	tripped := waitFor(t, 10*time.Second, "the faulting replica to send its calls to stable", func() bool {
		t, _ := faulting.reg.Traffic("student")
		return t.Weight == 0
	})
	took := waitFor(t, 5*time.Second, "every replica to abort", func() bool {
		st, ws := states(rs), weights(rs)
		return same(st) && st[0] == rollout.Aborted && same(ws) && ws[0] == 0
	})
	t.Logf("breaker tripped on %s after %v of load; every replica had aborted %v after the trip was seen (polled every 10 ms)", faulting.name, tripped, took)
	if took > time.Second {
		t.Errorf("the abort took %v to reach every replica after the trip, want under 1s", took)
	}
	l.end()
	st, _, _ := rs[0].ctl.Status("student")
	if st.Reason == "" {
		t.Errorf("aborted without a reason: %+v", st)
	}
}

// TestRoutingKeySameVersionOnEveryReplica: a key keeps its version
// whichever replica answers.
func TestRoutingKeySameVersionOnEveryReplica(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	spec := "  steps: [50, 100]\n  min_step_duration: 1m\n  min_step_calls: 100000\n  max_error_rate: 1\n  max_latency_ratio: 1000\n  failure_limit: 3\n  breaker_failures: 1000\n"
	rs := startFleet(t, cluster, fleetRepo(t, "", spec), 3)
	startRollout(t, rs[0])
	waitFor(t, 10*time.Second, "the 50% step everywhere", func() bool {
		ws := weights(rs)
		return same(ws) && ws[0] == 50
	})
	seen := map[string]bool{}
	for k := range 40 {
		key := fmt.Sprintf("user-%d", k)
		var versions []string
		for _, r := range rs {
			resp, err := r.reg.Infer(context.Background(), "student", "", key, studentCall(0.5))
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, resp.ModelVersion)
		}
		if !same(versions) {
			t.Errorf("key %s: versions %v across the replicas", key, versions)
		}
		seen[versions[0]] = true
	}
	if !seen["1"] || !seen["2"] {
		t.Errorf("40 keys at 50%% all went to %v", seen)
	}
}

// TestEtcdLosses: losing one of three members changes nothing; losing all
// of them keeps every call answered and pauses the rollout (the
// replicas say they are disconnected); their return resumes it.
func TestEtcdLosses(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	rs := startFleet(t, cluster, fleetRepo(t, "", slowSpec), 3)
	l := startLoad(rs, 0.5, nil)
	startRollout(t, rs[0])
	cluster.Stop(t, 0)
	waitFor(t, 15*time.Second, "step 1 everywhere with one member down", func() bool {
		ws := weights(rs)
		return same(ws) && ws[0] == 50
	})
	cluster.Stop(t, 1)
	cluster.Stop(t, 2)
	waitFor(t, 15*time.Second, "every replica to see etcd gone", func() bool {
		for _, r := range rs {
			if r.coord.Connected() {
				return false
			}
		}
		return true
	})
	// Paused: the weight stays while etcd is away, past the 2 s step.
	frozen := weights(rs)
	time.Sleep(3 * time.Second) // the step's minimum duration and more: the step would have passed
	if ws := weights(rs); !same(ws) || ws[0] != frozen[0] {
		t.Errorf("weights moved from %v to %v while etcd was away", frozen, ws)
	}
	cluster.RestartAll(t)
	waitFor(t, 20*time.Second, "every replica to reconnect", func() bool {
		for _, r := range rs {
			if !r.coord.Connected() {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "the rollout to promote after etcd returned", func() bool {
		st := states(rs)
		return same(st) && st[0] == rollout.Promoted
	})
	if calls, failed := l.end(); failed != 0 || calls == 0 {
		t.Errorf("%d of %d calls failed", failed, calls)
	}
}
