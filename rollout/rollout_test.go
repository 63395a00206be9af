package rollout_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
)

func TestCanaryShareFollowsTheWeight(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "", ""))
	if err := c.SetTraffic(context.Background(), "student", registry.Traffic{Stable: 1, Canary: 2, Weight: 30}); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	canary := 0
	for range n {
		resp, err := r.Infer(context.Background(), "student", "", "", studentCall(0.5))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ModelVersion == "2" {
			canary++
		}
	}
	// Binomial(10000, 0.3): sigma = 45.8; allow 5 sigma.
	sigma := math.Sqrt(n * 0.3 * 0.7)
	if math.Abs(float64(canary)-0.3*n) > 5*sigma {
		t.Errorf("canary served %d of %d calls, want %v ± %.0f", canary, n, 0.3*n, 5*sigma)
	}
	t.Logf("canary share %.4f at weight 30%%", float64(canary)/n)
	// A named version bypasses the split.
	if resp, _ := r.Infer(context.Background(), "student", "1", "", studentCall(0.5)); resp.ModelVersion != "1" {
		t.Errorf("versioned call went to %s", resp.ModelVersion)
	}
}

func TestRoutingKeysAreSticky(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "", ""))
	onCanary := map[string]bool{}
	for _, w := range []float64{10, 25, 50, 90} {
		if err := c.SetTraffic(context.Background(), "student", registry.Traffic{Stable: 1, Canary: 2, Weight: w}); err != nil {
			t.Fatal(err)
		}
		count := 0
		for k := range 2000 {
			key := fmt.Sprintf("user-%d", k)
			resp, err := r.Infer(context.Background(), "student", "", key, studentCall(0.5))
			if err != nil {
				t.Fatal(err)
			}
			c := resp.ModelVersion == "2"
			if onCanary[key] && !c {
				t.Fatalf("key %s flipped back to stable when the weight grew to %v", key, w)
			}
			onCanary[key] = c
			if c {
				count++
			}
		}
		t.Logf("weight %v: %d of 2000 keys on the canary", w, count)
	}
}

func TestManualPromoteAndAbort(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "", ""))
	ctx := context.Background()
	steps := spec(func(s *rollout.Spec) { *s = rollout.DefaultSpec(); s.Steps = []float64{50, 100} })
	st, err := c.Start(ctx, "student", steps, 2)
	if err != nil || st.State != rollout.Progressing || st.Weight != 50 || st.Stable != 1 {
		t.Fatalf("start: %+v %v", st, err)
	}
	if _, err := c.Start(ctx, "student", steps, 2); err == nil {
		t.Error("a second rollout started over the first")
	}
	if st, err = c.Action(ctx, "student", "promote"); err != nil || st.State != rollout.Promoted {
		t.Fatalf("promote: %+v %v", st, err)
	}
	if resp, _ := r.Infer(ctx, "student", "", "", studentCall(0.5)); resp.ModelVersion != "2" {
		t.Errorf("after promotion unversioned calls go to %s", resp.ModelVersion)
	}
	// Roll version 1 out again, then abort.
	if _, err := c.Start(ctx, "student", steps, 1); err != nil {
		t.Fatal(err)
	}
	if st, err = c.Action(ctx, "student", "abort"); err != nil || st.State != rollout.Aborted || st.Weight != 0 || !strings.Contains(st.Reason, "by hand") {
		t.Fatalf("abort: %+v %v", st, err)
	}
	for range 50 {
		if resp, _ := r.Infer(ctx, "student", "", "", studentCall(0.5)); resp.ModelVersion != "2" {
			t.Fatalf("after abort a call went to %s", resp.ModelVersion)
		}
	}
}

func TestAnalysisRollsBackAFailingCanary(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "student-broken", ""))
	ctx := context.Background()
	if _, err := c.Start(ctx, "student", spec((func(*rollout.Spec) {})), 2); err != nil {
		t.Fatal(err)
	}
	// failure_limit 2: two independent analyses, each on its own calls.
	for range 2 {
		drive(r, 100)
		c.Evaluate(ctx, time.Now())
	}
	st, tr, _ := c.Status("student")
	if st.State != rollout.Aborted || !strings.Contains(st.Reason, "canary error rate") || tr.Weight != 0 || tr.Stable != 1 {
		t.Fatalf("after failed analyses: %+v traffic %+v", st, tr)
	}
	if failed := drive(r, 50); failed != 0 {
		t.Errorf("%d calls failed after the rollback", failed)
	}
}

func TestAnalysisRollsBackASlowCanary(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "student-slow", ""))
	ctx := context.Background()
	if _, err := c.Start(ctx, "student", spec((func(s *rollout.Spec) { s.MaxLatencyRatio = 2 })), 2); err != nil {
		t.Fatal(err)
	}
	// failure_limit 2: two independent analyses, each on its own calls.
	for range 2 {
		drive(r, 100)
		c.Evaluate(ctx, time.Now())
	}
	st, _, _ := c.Status("student")
	if st.State != rollout.Aborted || !strings.Contains(st.Reason, "canary p99 / stable p99") {
		t.Fatalf("slow canary: %+v", st)
	}
	t.Logf("rolled back: %s", st.Reason)
}

func TestBreakerTripSendsEverythingToStable(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "student-broken", ""))
	ctx := context.Background()
	if _, err := c.Start(ctx, "student", spec((func(s *rollout.Spec) { s.BreakerFailures = 3 })), 2); err != nil {
		t.Fatal(err)
	}
	failed := drive(r, 200)
	if failed != 3 {
		t.Errorf("%d calls failed, want exactly the breaker's threshold (3)", failed)
	}
	_, tr, _ := c.Status("student")
	if tr.Weight != 0 {
		t.Errorf("weight %v after the breaker tripped, want 0 at once", tr.Weight)
	}
	c.Evaluate(ctx, time.Now())
	if st, _, _ := c.Status("student"); st.State != rollout.Aborted || !strings.Contains(st.Reason, "circuit breaker") {
		t.Errorf("after the trip: %+v", st)
	}
}

func TestShadowResultsNeverReachTheCaller(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "student-broken", ""))
	ctx := context.Background()
	sp := spec(func(s *rollout.Spec) { s.Steps, s.ShadowFraction = []float64{1, 100}, 1 })
	if _, err := c.Start(ctx, "student", sp, 2); err != nil {
		t.Fatal(err)
	}
	// Keys whose bucket is past 1 % stay on stable; every such call is
	// copied to the failing canary, and none may see its failure.
	served := 0
	for k := 0; served < 100; k++ {
		resp, err := r.Infer(ctx, "student", "", fmt.Sprintf("k%d", k), studentCall(0.5))
		if err != nil {
			t.Fatalf("a stable call failed: %v", err)
		}
		if resp.ModelVersion == "1" {
			served++
		}
	}
	// The shadow worker has seen failures; analysis notices them.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.Evaluate(ctx, time.Now())
		if st, _, _ := c.Status("student"); len(st.Checks) == 3 && !st.Checks[2].Pass {
			return
		}
	}
	st, _, _ := c.Status("student")
	t.Errorf("shadow agreement never failed for a failing candidate: %+v", st.Checks)
}

func TestRolloutResumesAfterRestart(t *testing.T) {
	dir := studentRepo(t, "", "")
	ctx := context.Background()
	r, c := gateway(t, dir)
	sp := spec(func(s *rollout.Spec) {
		s.Steps, s.MinStepCalls, s.MaxLatencyRatio = []float64{10, 50, 100}, 5, 100
	})
	if _, err := c.Start(ctx, "student", sp, 2); err != nil {
		t.Fatal(err)
	}
	drive(r, 200)
	c.Evaluate(ctx, time.Now())
	if st, _, _ := c.Status("student"); st.Step != 1 || st.Weight != 50 {
		t.Fatalf("did not advance: %+v", st)
	}
	c.Close()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, c2 := gateway(t, dir) // a restarted gateway over the same repository
	st, tr, _ := c2.Status("student")
	if st.State != rollout.Progressing || st.Step != 1 || st.Weight != 50 || tr.Canary != 2 || tr.Weight != 50 {
		t.Fatalf("after restart: %+v traffic %+v", st, tr)
	}
}
