package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// The CPU build that `make ort` fetches carries no GPU provider library,
// so these tests see, on any host, what a GPU config does without one.

func TestGPUProviderWithFallbackFailIsUnavailable(t *testing.T) {
	ortest.Init(t)
	for _, provider := range []string{"cuda", "tensorrt"} {
		t.Run(provider, func(t *testing.T) {
			cfg := runtime.DefaultSessionConfig()
			cfg.Provider, cfg.Instances = provider, 1
			_, err := runtime.Load(ortest.PPOCR(t), cfg)
			var pe *runtime.ProviderError
			if tensor.KindOf(err) != tensor.Unavailable || !errors.As(err, &pe) || pe.Provider != provider {
				t.Fatalf("err = %v (kind %v), want an unavailable ProviderError for %s", err, tensor.KindOf(err), provider)
			}
			for _, want := range []string{"provider " + provider + ": ", "libonnxruntime_providers_" + provider + ".so", "make ort-gpu"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to name %q", err, want)
				}
			}
		})
	}
}

func TestGPUProviderWithFallbackCPUServesOnCPU(t *testing.T) {
	ortest.Init(t)
	var logged bytes.Buffer
	runtime.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { runtime.SetLogger(nil) })
	cfg := runtime.DefaultSessionConfig()
	cfg.Provider, cfg.Fallback, cfg.Instances, cfg.GPUs = "cuda", "cpu", 1, []int{0, 1}
	m := loadPPOCR(t, cfg)
	if m.Instances() != 2 || !slices.Equal(m.Placements(), []runtime.Placement{{Provider: "cpu", GPU: -1}, {Provider: "cpu", GPU: -1}}) {
		t.Errorf("placements = %v, want the 2 planned sessions on the cpu", m.Placements())
	}
	if !strings.Contains(m.Fallback(), "libonnxruntime_providers_cuda.so") {
		t.Errorf("Fallback() = %q, want the reason naming the missing provider library", m.Fallback())
	}
	if log := logged.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "running on the CPU") || !strings.Contains(log, "provider=cuda") {
		t.Errorf("log = %q, want a warning that cuda fell back to the CPU", log)
	}
	in := fp32Tensor("x", []int64{2, 3, 48, 192}, func(i int) float32 { return float32(i%7) / 7 })
	for i := range m.Instances() {
		items := []runtime.BatchItem{{Inputs: []tensor.Tensor{in}}}
		if _, err := m.RunBatch(context.Background(), i, items, nil); err != nil || !tensor.SameShape(items[0].Outputs[0].Shape, []int64{2, 2}) {
			t.Errorf("instance %d: outputs %v, err %v; want [2,2] probabilities", i, items[0].Outputs, err)
		}
	}
}

func TestCPUProviderDoesNotFallBack(t *testing.T) {
	m := loadPPOCR(t, runtime.DefaultSessionConfig())
	if m.Fallback() != "" || m.Placements()[0] != (runtime.Placement{Provider: "cpu", GPU: -1}) {
		t.Errorf("cpu model: fallback %q, placements %v; want none and cpu", m.Fallback(), m.Placements())
	}
}

func TestCUDAGraphNeedsFixedShapes(t *testing.T) {
	ortest.Init(t)
	cfg := runtime.DefaultSessionConfig()
	cfg.Provider, cfg.Fallback, cfg.CUDA.EnableCUDAGraph = "cuda", "cpu", true
	_, err := runtime.Load(ortest.PPOCR(t), cfg)
	if tensor.KindOf(err) != tensor.InvalidArgument || !strings.HasPrefix(err.Error(), "cuda.enable_cuda_graph:") || !strings.Contains(err.Error(), "[-1,3,-1,-1]") {
		t.Errorf("err = %v (kind %v), want invalid argument naming cuda.enable_cuda_graph and the open input", err, tensor.KindOf(err))
	}
}

func TestProvidersListsCPU(t *testing.T) {
	ortest.Init(t)
	got, err := runtime.Providers()
	if err != nil || !slices.Contains(got, "CPUExecutionProvider") {
		t.Errorf("Providers() = %v, %v; want CPUExecutionProvider among them", got, err)
	}
}

func TestCheckProvider(t *testing.T) {
	ortest.Init(t)
	if err := runtime.CheckProvider("cpu"); err != nil {
		t.Errorf("cpu: %v, want nil", err)
	}
	err := runtime.CheckProvider("tensorrt")
	if tensor.KindOf(err) != tensor.Unavailable || !strings.Contains(err.Error(), "libonnxruntime_providers_tensorrt.so") {
		t.Errorf("tensorrt on the CPU build: %v, want unavailable naming its provider library", err)
	}
}

func TestLocateLibrary(t *testing.T) {
	ld, home := t.TempDir(), t.TempDir()
	const name = "libsluice-absent.so.7"
	wheel := filepath.Join(home, ".local", "lib", "python3.12", "site-packages", "nvidia", "cublas", "lib")
	for _, dir := range []string{ld, wheel} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a library"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("LD_LIBRARY_PATH", ld)
	t.Setenv("HOME", home)
	st := runtime.LocateLibrary(name)
	if st.Err == nil || !slices.Contains(st.Found, filepath.Join(ld, name)) || !slices.Contains(st.Found, filepath.Join(wheel, name)) {
		t.Errorf("LocateLibrary = %+v, want a load error and both copies found", st)
	}
	if !slices.Contains(runtime.WheelLibraryDirs(), wheel) {
		t.Errorf("WheelLibraryDirs = %v, want %s", runtime.WheelLibraryDirs(), wheel)
	}
	if st := runtime.LocateLibrary("libc.so.6"); st.Err != nil {
		t.Errorf("libc.so.6: %v, want loadable", st.Err)
	}
}

func TestVisibleGPUs(t *testing.T) {
	two := runtime.GPUs{Names: []string{"GPU 0: A", "GPU 1: B"}}
	tests := []struct {
		name  string
		gpus  runtime.GPUs
		value string
		set   bool
		want  int
	}{
		{"none found", runtime.GPUs{}, "", false, 0},
		{"all found", two, "", false, 2},
		{"device nodes only", runtime.GPUs{Devices: []string{"/dev/nvidia0"}}, "", false, 1},
		{"narrowed", two, "1", true, 1},
		{"hidden", two, "", true, 0},
		{"more listed than present", two, "0,1,2,3", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.gpus.Visible(tt.value, tt.set); got != tt.want {
				t.Errorf("Visible(%q, %v) = %d, want %d", tt.value, tt.set, got, tt.want)
			}
		})
	}
}
