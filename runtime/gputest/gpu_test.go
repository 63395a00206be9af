//go:build gpu

package gputest

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// image is a batch of rows PP-OCR inputs with a fixed pattern.
func image(rows int64) tensor.Tensor {
	shape := []int64{rows, 3, 48, 192}
	b := make([]byte, 4*tensor.Elements(shape))
	for i := 0; i < len(b); i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(i/4%255)/255-0.5))
	}
	return tensor.Tensor{Name: "x", DataType: tensor.FP32, Shape: shape, Data: b}
}

func load(t *testing.T, cfg runtime.SessionConfig) *runtime.Model {
	t.Helper()
	ortest.InitGPU(t)
	m, err := runtime.Load(ortest.PPOCR(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// probabilities runs a batch of 4 on every instance and returns instance
// 0's softmax, checking each row sums to 1 on every instance.
func probabilities(t *testing.T, m *runtime.Model) []float32 {
	t.Helper()
	var first []float32
	for i := range m.Instances() {
		items := []runtime.BatchItem{{Inputs: []tensor.Tensor{image(4)}}}
		if _, err := m.RunBatch(context.Background(), i, items, nil); err != nil {
			t.Fatalf("instance %d on %v: %v", i, m.Placements()[i], err)
		}
		out := items[0].Outputs[0].Data
		p := make([]float32, len(out)/4)
		for k := range p {
			p[k] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*k:]))
		}
		for r := 0; r+1 < len(p); r += 2 {
			if s := p[r] + p[r+1]; math.Abs(float64(s)-1) > 1e-3 {
				t.Errorf("instance %d row %d: %v sums to %v, want 1", i, r/2, p[r:r+2], s)
			}
		}
		if i == 0 {
			first = p
		}
	}
	return first
}

func gpuConfig(provider string, gpus []int) runtime.SessionConfig {
	cfg := runtime.DefaultSessionConfig()
	cfg.Provider, cfg.Fallback, cfg.Instances, cfg.GPUs = provider, runtime.FallbackFail, 1, gpus
	return cfg
}

// visible is the device ids of the GPUs CUDA numbers here, at least [0].
func visible() []int {
	n := max(runtime.ProbeGPUs().Visible(os.LookupEnv("CUDA_VISIBLE_DEVICES")), 1)
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestGPUBuildRunsOnTheCPU(t *testing.T) {
	m := load(t, runtime.DefaultSessionConfig())
	if v := runtime.Version(); v != runtime.GPUORTVersion {
		t.Errorf("loaded onnx runtime %q, want the GPU build's %q", v, runtime.GPUORTVersion)
	}
	probabilities(t, m)
}

func TestCUDAServesOnEveryGPU(t *testing.T) {
	gpus := visible()
	m := load(t, gpuConfig(runtime.ProviderCUDA, gpus))
	want := make([]runtime.Placement, len(gpus))
	for i, g := range gpus {
		want[i] = runtime.Placement{Provider: runtime.ProviderCUDA, GPU: g}
	}
	if !slices.Equal(m.Placements(), want) || m.Fallback() != "" {
		t.Fatalf("placements %v (fallback %q), want %v", m.Placements(), m.Fallback(), want)
	}
	onGPU := probabilities(t, m)
	onCPU := probabilities(t, load(t, runtime.DefaultSessionConfig()))
	for i := range onCPU {
		if math.Abs(float64(onGPU[i]-onCPU[i])) > 1e-3 {
			t.Fatalf("gpu %v and cpu %v differ at %d", onGPU, onCPU, i)
		}
	}
}

func TestCUDAAbsentDeviceIsUnavailable(t *testing.T) {
	ortest.InitGPU(t)
	absent := len(visible())
	_, err := runtime.Load(ortest.PPOCR(t), gpuConfig(runtime.ProviderCUDA, []int{absent}))
	var pe *runtime.ProviderError
	if tensor.KindOf(err) != tensor.Unavailable || !errors.As(err, &pe) || pe.GPU != absent {
		t.Errorf("gpu %d: err = %v, want unavailable naming that device", absent, err)
	}
}

// TensorRT serves where its libraries are installed, and is refused naming
// them where they are not.
func TestTensorRTServesOrNamesItsLibraries(t *testing.T) {
	ortest.InitGPU(t)
	trt := runtime.LocateLibrary("libnvinfer.so.10").Err == nil && runtime.LocateLibrary("libnvonnxparser.so.10").Err == nil
	m, err := runtime.Load(ortest.PPOCR(t), gpuConfig(runtime.ProviderTensorRT, nil))
	if !trt {
		if err == nil || !strings.Contains(err.Error(), "libnvinfer.so.10") {
			t.Fatalf("without TensorRT 10: err = %v, want a refusal naming libnvinfer.so.10", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	probabilities(t, m)
}
