package rollout_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// A client that sends a short "timeout" gets a deadline error from the
// canary, but that is the client's doing: the breaker must not trip and
// the analysis must not count it.
func TestBreakerIgnoresDeadlinesTheClientShortened(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "student-slow", "default_timeout: 10s\n"))
	ctx := context.Background()
	if _, err := c.Start(ctx, "student", spec(func(s *rollout.Spec) { s.Steps, s.BreakerFailures = []float64{100}, 2 }), 2); err != nil {
		t.Fatal(err)
	}
	expired := 0
	for range 20 {
		req := studentCall(0.5)
		req.Parameters = tensor.Parameters{"timeout": int64(1)} // one microsecond
		_, err := r.Infer(ctx, "student", "", "", req)
		if tensor.KindOf(err) == tensor.DeadlineExceeded {
			expired++
		}
	}
	if expired == 0 {
		t.Fatal("no call expired; the test needs client deadlines to pass")
	}
	c.Evaluate(ctx, time.Now())
	st, tr, _ := c.Status("student")
	if st.State != rollout.Progressing || tr.Weight != 100 {
		t.Fatalf("after %d client-shortened deadlines: %+v traffic %+v", expired, st, tr)
	}
	if st.Checks[0].Value != 0 || st.StepCalls != 0 {
		t.Errorf("client deadlines counted against the canary: %+v", st.Checks)
	}
}

// Reloading the canary while calls flow makes some attempts meet a closing
// version; they are retried, and neither the retries nor the reload count
// against the canary.
func TestBreakerIgnoresCanaryReloads(t *testing.T) {
	dir := studentRepo(t, "", "")
	r, c := gateway(t, dir)
	ctx := context.Background()
	if _, err := c.Start(ctx, "student", spec(func(s *rollout.Spec) { s.BreakerFailures, s.MinStepDuration = 1, registry.Duration(time.Hour) }), 2); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	failures := make([]int, 4)
	for i := range failures {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				failures[i] += drive(r, 1)
			}
		})
	}
	for i := range 8 {
		// A new config changes the content hash: both versions reload.
		cfg := "version_policy: all\ninstances: 1\nmax_batch_size: " + string(rune('2'+i)) + "\n"
		if err := os.WriteFile(filepath.Join(dir, "student", "config.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := r.Load(ctx, "student", nil); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i, f := range failures {
		if f != 0 {
			t.Errorf("caller %d saw %d failed calls across reloads", i, f)
		}
	}
	c.Evaluate(ctx, time.Now())
	if st, tr, _ := c.Status("student"); st.State != rollout.Progressing || tr.Weight != 50 || st.Checks[0].Value != 0 {
		t.Fatalf("after reloads: %+v traffic %+v", st, tr)
	}
}

// Each failed analysis must be judged on calls no earlier analysis saw: a
// second pass with no new calls holds instead of counting the same window
// twice.
func TestFailedAnalysesCountIndependentWindows(t *testing.T) {
	r, c := gateway(t, studentRepo(t, "student-broken", ""))
	ctx := context.Background()
	if _, err := c.Start(ctx, "student", spec(func(s *rollout.Spec) { s.FailureLimit = 2 }), 2); err != nil {
		t.Fatal(err)
	}
	drive(r, 100)
	for range 3 {
		c.Evaluate(ctx, time.Now())
	}
	st, _, _ := c.Status("student")
	if st.State != rollout.Progressing || st.Failures != 1 {
		t.Fatalf("three passes over one window: %+v, want progressing with 1 failed analysis", st)
	}
	drive(r, 100)
	c.Evaluate(ctx, time.Now())
	if st, _, _ = c.Status("student"); st.State != rollout.Aborted || st.Failures != 2 {
		t.Fatalf("a second failing window: %+v, want aborted after 2 failed analyses", st)
	}
}

// A rollout's abort, pause and traffic changes wait for nothing another
// model does: they complete while a slow model is still loading.
func TestControlOfOneModelIgnoresAnotherModelsLoad(t *testing.T) {
	dir := studentRepo(t, "", "")
	r, c := gateway(t, dir)
	ctx := context.Background()
	if _, err := c.Start(ctx, "student", spec(func(s *rollout.Spec) {}), 2); err != nil {
		t.Fatal(err)
	}
	slowModel(t, dir, "slow")
	loaded := make(chan error, 1)
	go func() { loaded <- r.Load(ctx, "slow", nil) }()
	waitState(t, r, "slow", registry.StateLoading)
	start := time.Now()
	if _, err := c.Action(ctx, "student", "pause"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Action(ctx, "student", "abort"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTraffic(ctx, "student", registry.Traffic{Stable: 1, Canary: 2, Weight: 10}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if st := stateOf(r, "slow"); st != registry.StateLoading {
		t.Errorf("the slow model finished loading (%s) before the control calls were measured; make it slower", st)
	}
	t.Logf("pause, abort and a traffic change took %v while another model loaded", took)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
}

// slowModel lays out a model whose warm-up takes seconds: student-slow's
// thousand matrix products at a batch of 1024 rows.
func slowModel(t *testing.T, dir, name string) {
	t.Helper()
	src, err := os.ReadFile(ortest.Fixture(t, "student-slow"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, name, "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, "1", "model.onnx"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte("instances: 1\nmax_batch_size: 1024\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func stateOf(r *registry.Registry, name string) string {
	for _, e := range r.Index(false) {
		if e.Name == name {
			return e.State
		}
	}
	return ""
}

// waitState polls the index until the model's version is in state, or
// fails after a generous deadline.
func waitState(t *testing.T, r *registry.Registry, name, state string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if stateOf(r, name) == state {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("model %q never reached %s (index %+v)", name, state, r.Index(false))
}
