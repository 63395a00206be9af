package rollout_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"testing"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// studentRepo lays out student-success version 1 (stable) and the given
// fixture ("": student-success version 2) as version 2, both served.
func studentRepo(t testing.TB, v2 string, extra string) string {
	t.Helper()
	ortest.Init(t)
	src := ortest.Path(t, "models/student-success/2/model.onnx")
	if v2 != "" {
		src = ortest.Fixture(t, v2)
	}
	return rollout.StudentFolder(t, src, "version_policy: all\ninstances: 1\nmax_batch_size: 16\n"+extra)
}

// gateway is a registry over dir with its rollout controller, as `serve`
// wires them.
func gateway(t testing.TB, dir string) (*registry.Registry, *rollout.Controller) {
	t.Helper()
	ortest.Init(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := registry.DefaultConfig()
	cfg.Path = dir
	r, err := registry.New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.CheckRolloutSpecs(rollout.CheckConfig)
	c, err := rollout.New(r, filepath.Join(dir, ".sluice"), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Restore(context.Background())
	t.Cleanup(func() {
		c.Close()
		r.Close(context.Background())
	})
	return r, c
}

func studentCall(x0 float32) *tensor.Request {
	data := make([]byte, 32)
	for i := range 8 {
		v := math.Float32bits(x0 + float32(i)*0.1)
		data[4*i], data[4*i+1], data[4*i+2], data[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	return &tensor.Request{Inputs: []tensor.Tensor{{Name: "features", DataType: tensor.FP32, Shape: []int64{1, 8}, Data: data}}}
}

// drive sends n unversioned calls and counts the failures.
func drive(r *registry.Registry, n int) (failed int) {
	for i := range n {
		if _, err := r.Infer(context.Background(), "student", "", "", studentCall(0.5+float32(i%7))); err != nil {
			failed++
		}
	}
	return failed
}

func spec(mod func(*rollout.Spec)) []byte {
	s := rollout.DefaultSpec()
	s.Steps, s.MinStepDuration, s.MinStepCalls, s.FailureLimit, s.BreakerFailures = []float64{50, 100}, 0, 20, 2, 1000
	mod(&s)
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}
