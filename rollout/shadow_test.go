package rollout

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// twoVersions loads the student model's versions 1 and 2 and returns the
// registry, its folder and both versions.
func twoVersions(t *testing.T) (*registry.Registry, string, *registry.Version, *registry.Version) {
	t.Helper()
	dir := studentFolder(t, ortest.Path(t, "models/student-success/2/model.onnx"), "version_policy: all\ninstances: 1\n")
	cfg := registry.DefaultConfig()
	cfg.Path = dir
	r, err := registry.New(cfg, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	v1, err1 := r.Lookup("student", "1")
	v2, err2 := r.Lookup("student", "2")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return r, dir, v1, v2
}

func call() (*tensor.Request, *tensor.Response) {
	req := &tensor.Request{Inputs: []tensor.Tensor{{Name: "features", DataType: tensor.FP32, Shape: []int64{1, 8}, Data: make([]byte, 32)}}}
	return req, &tensor.Response{Outputs: []tensor.Tensor{{Name: "probability", DataType: tensor.FP32, Shape: []int64{1, 1}, Data: make([]byte, 4)}}}
}

func shadowing(t *testing.T) *live {
	s := DefaultSpec()
	s.ShadowFraction = 1
	l := newLive(Status{Model: "student", Stable: 1, Canary: 2, Spec: s}, nil, func() {})
	return l
}

// A copy that finds the rollout's shadow queue full is dropped before
// anything is cloned: shedding costs the primary call nothing.
func TestShadowAdmitsBeforeItClones(t *testing.T) {
	_, _, v1, v2 := twoVersions(t)
	l := shadowing(t)
	l.shadows = &shadowQueue{slots: make(chan struct{}), jobs: make(chan shadowJob)} // always full
	req, resp := call()
	if allocs := testing.AllocsPerRun(100, func() { l.Shadow(v1, v2, req, resp) }); allocs != 0 {
		t.Errorf("a dropped shadow copy made %v allocations, want 0", allocs)
	}
}

// A candidate drained mid-rollout says nothing of its answers: the copy is
// skipped, not counted as a disagreement.
func TestShadowOfADrainedCandidateIsSkipped(t *testing.T) {
	r, dir, v1, v2 := twoVersions(t)
	if err := os.RemoveAll(filepath.Join(dir, "student", "2")); err != nil {
		t.Fatal(err)
	}
	if err := r.Poll(context.Background()); err != nil { // version 2 drains and closes
		t.Fatal(err)
	}
	l := shadowing(t)
	req, _ := call()
	resp, err := v1.Infer(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	l.runShadow(context.Background(), shadowJob{candidate: v2, req: *req, primary: resp.Outputs}, quiet)
	if in := l.measure(time.Now()); in.Shadows.Compared != 0 {
		t.Errorf("a drained candidate was compared: %+v", in.Shadows)
	}
	l.runShadow(context.Background(), shadowJob{candidate: v1, req: *req, primary: resp.Outputs}, quiet)
	if in := l.measure(time.Now()); in.Shadows.Compared != 1 || in.Shadows.Agreed != 1 || math.IsInf(in.Shadows.MaxDiff, 1) {
		t.Errorf("a served candidate: %+v, want one comparison", in.Shadows)
	}
}

// A panic while running or comparing a shadow copy is contained: the
// worker logs it and serves the next copy.
func TestShadowWorkerSurvivesAPanic(t *testing.T) {
	_, _, v1, v2 := twoVersions(t)
	l := shadowing(t)
	l.startShadows(quiet)
	defer l.stopShadows()
	req, resp := call()
	l.shadows.slots <- struct{}{}
	l.shadows.jobs <- shadowJob{candidate: nil, req: *req, primary: resp.Outputs} // panics: no candidate
	for range 3 {
		l.Shadow(v1, v2, req, resp)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if l.measure(time.Now()).Shadows.Compared == 3 {
			return
		}
	}
	t.Fatalf("after a panicking copy the worker compared %d of 3 copies", l.measure(time.Now()).Shadows.Compared)
}

// Each rollout has its own bounded shadow queue: one model's backlog never
// keeps another model's copies out.
func TestShadowQueuesAreIsolatedPerRollout(t *testing.T) {
	_, _, v1, v2 := twoVersions(t)
	busy, other := shadowing(t), shadowing(t)
	busy.shadows = &shadowQueue{slots: make(chan struct{}), jobs: make(chan shadowJob)} // saturated
	other.startShadows(quiet)
	defer other.stopShadows()
	req, resp := call()
	busy.Shadow(v1, v2, req, resp)
	other.Shadow(v1, v2, req, resp)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if other.measure(time.Now()).Shadows.Compared == 1 {
			return
		}
	}
	t.Fatal("the other rollout's copy never ran while the first's queue was full")
}
