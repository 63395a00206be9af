package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// tritonModel lays out one model of testdata/triton in repo: its
// config.pbtxt as committed, and each version's model file copied from the
// committed fixture named, so no model file is committed twice.
func tritonModel(t *testing.T, repo, name string, versions map[string]string) {
	t.Helper()
	cfg, err := os.ReadFile(ortest.Path(t, filepath.Join("testdata", "triton", name, "config.pbtxt")))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(repo, name, configPbtxt), cfg)
	for v, src := range versions {
		b, err := os.ReadFile(ortest.Path(t, src))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(repo, name, v, "model.onnx"), b)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// logBuffer collects a registry's log; batchers log from their own
// goroutines, so writes and reads are locked.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(containing string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, containing) {
			out = append(out, line)
		}
	}
	return out
}

// tritonRegistry is a registry over repo logging into log, loaded, and
// closed when the test ends.
func tritonRegistry(t *testing.T, repo string, log *logBuffer) *Registry {
	t.Helper()
	ortest.Init(t)
	cfg := DefaultConfig()
	cfg.Path = repo
	r, err := New(cfg, slog.New(slog.NewTextHandler(log, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	if err := r.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

const ignoredWarning = "config.pbtxt sets fields Sluice does not support"

// A repository laid out as Triton documents it serves: each config.pbtxt
// gives the batching, queue, instances, version policy and tensors, calls
// run through the real ONNX Runtime, and the one field Sluice ignores
// (model_warmup) is named in one warning however many versions load.
func TestServesATritonRepository(t *testing.T) {
	repo := t.TempDir()
	student := map[string]string{"1": "models/student-success/1/model.onnx", "2": "models/student-success/2/model.onnx"}
	tritonModel(t, repo, "student-success", student)
	mlp := filepath.Join("testdata", "models", "mlp", "1", "model.onnx")
	tritonModel(t, repo, "mlp", map[string]string{"1": mlp, "2": mlp})
	log := &logBuffer{}
	r := tritonRegistry(t, repo, log)

	var ready []string
	for _, e := range r.Index(true) {
		ready = append(ready, e.Name+"/"+e.Version)
	}
	if want := []string{"mlp/1", "student-success/1", "student-success/2"}; !slices.Equal(ready, want) {
		t.Errorf("ready versions %v, want %v (all of student-success, mlp's specific version 1)", ready, want)
	}
	checkStudentConfig(t, r)
	resp := infer(t, r, "student-success", "2", tensor.Tensor{Name: "features", DataType: tensor.FP32, Shape: []int64{2, 8}, Data: floats(16, 0.5)})
	if len(resp.Outputs) != 2 || !slices.Equal(resp.Outputs[0].Shape, []int64{2, 1}) || resp.Outputs[1].DataType != tensor.Int64 {
		t.Errorf("student-success outputs %+v, want probability [2 1] and an INT64 label", resp.Outputs)
	}
	resp = infer(t, r, "mlp", "", tensor.Tensor{Name: "x", DataType: tensor.FP32, Shape: []int64{3, 16}, Data: floats(48, 0.25)})
	if sum := rowSum(resp.Outputs[0].Data[:16]); len(resp.Outputs) != 1 || !slices.Equal(resp.Outputs[0].Shape, []int64{3, 4}) || math.Abs(sum-1) > 1e-5 {
		t.Errorf("mlp outputs %+v (first row sums to %v), want probs [3 4] summing to 1 by row", resp.Outputs, sum)
	}

	warned := log.lines(ignoredWarning)
	if len(warned) != 1 || !strings.Contains(warned[0], "model=student-success") || !strings.Contains(warned[0], "fields=model_warmup") {
		t.Errorf("warnings %q, want one naming student-success's model_warmup", warned)
	}
	if err := r.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(log.lines(ignoredWarning)); n != 1 {
		t.Errorf("%d warnings after a poll that loaded nothing, want still 1", n)
	}
}

// checkStudentConfig checks student-success's config.pbtxt arrived whole,
// and is described back as it was written.
func checkStudentConfig(t *testing.T, r *Registry) {
	t.Helper()
	v, err := r.Lookup("student-success", "2")
	if err != nil {
		t.Fatal(err)
	}
	cfg := v.Config()
	if cfg.MaxBatchSize != 64 || !slices.Equal(cfg.PreferredBatchSizes, []int{8, 16}) || cfg.MaxQueueDelay != Duration(100*time.Microsecond) ||
		cfg.MaxQueueSize != 512 || cfg.DefaultTimeout != Duration(2*time.Second) || !cfg.VersionPolicy.All || v.Instances() != 2 {
		t.Errorf("config %+v with %d sessions, want config.pbtxt's batching, queue, version policy and 2 CPU instances", cfg, v.Instances())
	}
	tc := v.TritonConfig()
	if in := tc.Input[0]; in.Name != "features" || in.DataType != tritonpb.DataType_TYPE_FP32 || !slices.Equal(in.Dims, []int64{8}) {
		t.Errorf("described input %v, want features TYPE_FP32 [8]", in)
	}
	if out := tc.Output[1]; out.Name != "label" || out.DataType != tritonpb.DataType_TYPE_INT64 || !slices.Equal(out.Dims, []int64{1}) {
		t.Errorf("described output %v, want label TYPE_INT64 [1]", out)
	}
	if g := tc.InstanceGroup[0]; g.Kind != tritonpb.ModelInstanceGroup_KIND_CPU || g.Count != 2 || tc.GetVersionPolicy().GetAll() == nil {
		t.Errorf("described instance group %v, version policy %v; want 2 KIND_CPU, all", g, tc.VersionPolicy)
	}
}

func infer(t *testing.T, r *Registry, model, version string, in tensor.Tensor) *tensor.Response {
	t.Helper()
	v, err := r.Lookup(model, version)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := v.Infer(context.Background(), &tensor.Request{Inputs: []tensor.Tensor{in}})
	if err != nil {
		t.Fatalf("%s: %v", model, err)
	}
	return resp
}

func floats(n int, f float32) []byte {
	b := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func rowSum(b []byte) float64 {
	var s float64
	for i := 0; i+4 <= len(b); i += 4 {
		s += float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
	}
	return s
}

// A folder with both config files is refused, naming both, and a
// config.pbtxt whose data type is not the model's is refused at load,
// naming both types; neither version serves.
func TestTritonConfigRefusedAtLoad(t *testing.T) {
	repo := t.TempDir()
	tritonModel(t, repo, "student-success", map[string]string{"1": "models/student-success/1/model.onnx"})
	writeFile(t, filepath.Join(repo, "student-success", configYAML), []byte("max_batch_size: 8\n"))
	tritonModel(t, repo, "mlp", map[string]string{"1": filepath.Join("testdata", "models", "mlp", "1", "model.onnx")})
	pb := filepath.Join(repo, "mlp", configPbtxt)
	b, _ := os.ReadFile(pb)
	writeFile(t, pb, bytes.Replace(b, []byte("data_type: TYPE_FP32\n    dims: [ -1, 16 ]"), []byte("data_type: TYPE_FP64\n    dims: [ -1, 16 ]"), 1))
	r := tritonRegistry(t, repo, &logBuffer{})

	reasons := map[string]string{}
	for _, e := range r.Index(false) {
		reasons[e.Name] = e.State + ": " + e.Reason
	}
	if got := reasons["student-success"]; !strings.Contains(got, "config.yaml and config.pbtxt are both in") || !strings.Contains(got, "keep one") {
		t.Errorf("student-success: %q, want a refusal naming both files", got)
	}
	if got := reasons["mlp"]; !strings.Contains(got, `config.pbtxt: inputs[0].data_type: FP64, but the model's "x" is FP32`) {
		t.Errorf("mlp: %q, want a refusal naming TYPE_FP64 against the model's FP32", got)
	}
	if _, _, err := ReadModelConfig(filepath.Join(repo, "student-success")); err == nil || !strings.Contains(err.Error(), "config.yaml and config.pbtxt") {
		t.Errorf("ReadModelConfig: %v, want the both-files refusal", err)
	}
}
