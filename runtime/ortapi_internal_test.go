package runtime

import (
	"reflect"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// initForInternal loads the `make ort` library; ortest cannot be used from
// inside the package it imports.
func initForInternal(t *testing.T) {
	t.Helper()
	lib, err := FindLibrary(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := Init(lib); err != nil {
		t.Fatal(err)
	}
}

// TestSessionOptionsLayout holds optionsPtr's assumption: onnxruntime_go's
// SessionOptions is one pointer to the C object.
func TestSessionOptionsLayout(t *testing.T) {
	typ := reflect.TypeFor[ort.SessionOptions]()
	if typ.NumField() != 1 || typ.Field(0).Type.Kind() != reflect.Pointer {
		t.Fatalf("ort.SessionOptions is %v; optionsPtr expects a struct of one C pointer", typ)
	}
}

// The two ways into the CUDA provider, on a build without its library:
// each must reach ONNX Runtime and come back with its refusal, which
// shows the options API is called and the legacy API table slots are right.
func TestAppendCUDAReachesONNXRuntime(t *testing.T) {
	initForInternal(t)
	// ORT logs each refusal too; the test reads the returned errors.
	if err := ort.SetEnvironmentLogLevel(ort.LoggingLevelFatal); err != nil {
		t.Fatal(err)
	}
	defer ort.SetEnvironmentLogLevel(ort.LoggingLevelError)
	tests := []struct {
		name   string
		append func(*ort.SessionOptions) error
		want   string
	}{
		{"options API", func(o *ort.SessionOptions) error { return appendCUDA(o, DefaultSessionConfig().CUDA, 0) }, "libonnxruntime_providers_shared.so"},
		{"legacy struct", func(o *ort.SessionOptions) error { return appendCUDALegacy(o, DefaultSessionConfig().CUDA, 0) }, "AppendExecutionProvider_Cuda: Failed to load shared library"},
		{"legacy tensorrt", func(o *ort.SessionOptions) error { return appendTensorRTLegacy(o, TensorRTConfig{FP16: true}, 0) }, "AppendExecutionProvider_TensorRT: Failed to load shared library"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ort.NewSessionOptions()
			if err != nil {
				t.Fatal(err)
			}
			defer o.Destroy()
			if err := tt.append(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ONNX Runtime's %q", err, tt.want)
			}
		})
	}
}

func TestLegacyRefusesCUDAGraphs(t *testing.T) {
	c := DefaultSessionConfig().CUDA
	c.EnableCUDAGraph = true
	err := appendCUDALegacy(nil, c, 0)
	if err == nil || !strings.HasPrefix(err.Error(), "cuda.enable_cuda_graph:") {
		t.Errorf("err = %v, want a refusal naming cuda.enable_cuda_graph", err)
	}
}

func TestProviderOptionKeys(t *testing.T) {
	c := CUDAConfig{GPUMemLimit: 1 << 30, ArenaExtendStrategy: "same_as_requested", CudnnConvAlgoSearch: "heuristic", EnableCUDAGraph: true}
	want := map[string]string{"device_id": "1", "gpu_mem_limit": "1073741824", "arena_extend_strategy": "kSameAsRequested",
		"cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "0", "enable_cuda_graph": "1"}
	if got := cudaOptions(c, 1); !reflect.DeepEqual(got, want) {
		t.Errorf("cudaOptions = %v, want %v", got, want)
	}
	tr := TensorRTConfig{FP16: true, EngineCachePath: "/cache", MaxWorkspaceSize: 1 << 20}
	wantTRT := map[string]string{"device_id": "0", "trt_fp16_enable": "1", "trt_engine_cache_enable": "1",
		"trt_engine_cache_path": "/cache", "trt_max_workspace_size": "1048576"}
	if got := tensorRTOptions(tr, 0); !reflect.DeepEqual(got, wantTRT) {
		t.Errorf("tensorRTOptions = %v, want %v", got, wantTRT)
	}
}

func TestShortORT(t *testing.T) {
	long := "/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc:154 std::conditional_t<THRW, void> onnxruntime::CudaCall() [with ERRTYPE = cudaError] CUDA failure 100: no CUDA-capable device is detected ; GPU=-1 ; hostname=vm ; expr=cudaSetDevice(info_.device_id); "
	if got := shortORT(errString(long)); got != "CUDA failure 100: no CUDA-capable device is detected" {
		t.Errorf("shortORT = %q", got)
	}
	plain := "Load model from x failed: protobuf parsing failed"
	if got := shortORT(errString(plain)); got != plain {
		t.Errorf("shortORT(%q) = %q, want it unchanged", plain, got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
