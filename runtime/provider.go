package runtime

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// ProviderError says why an execution provider cannot run here. Load
// returns it with the kind Unavailable; with fallback: cpu it is the
// reason the version runs on the CPU instead.
type ProviderError struct {
	Provider string
	GPU      int // -1 when the reason is not one device's
	Reason   string
}

func (e *ProviderError) Error() string {
	if e.GPU < 0 {
		return "provider " + e.Provider + ": " + e.Reason
	}
	return fmt.Sprintf("provider %s: gpu %d: %s", e.Provider, e.GPU, e.Reason)
}

// providerErr wraps a failure at placement p as an unavailable provider.
func providerErr(p Placement, err error) error {
	return tensor.WithKind(tensor.Unavailable, &ProviderError{Provider: p.Provider, GPU: p.GPU, Reason: shortORT(err)})
}

// appendProvider adds p's execution provider to o; the CPU needs nothing.
// TensorRT goes first with CUDA behind it, so nodes TensorRT cannot build
// run on the GPU rather than the CPU.
func appendProvider(o *ort.SessionOptions, c SessionConfig, p Placement) error {
	var err error
	switch p.Provider {
	case ProviderCPU:
		return nil
	case ProviderTensorRT:
		if err = appendTensorRT(o, c.TensorRT, p.GPU); err == nil {
			err = appendCUDA(o, c.CUDA, p.GPU)
		}
	default:
		err = appendCUDA(o, c.CUDA, p.GPU)
	}
	if err != nil {
		return providerErr(p, err)
	}
	return nil
}

// notEnabled is ORT's answer, in a core built without a provider, to the
// option calls that onnxruntime_go wraps.
func notEnabled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not enabled in this build")
}

// appendCUDA adds the CUDA provider with onnxruntime_go's options API, or
// through the legacy struct where the core was built without CUDA.
func appendCUDA(o *ort.SessionOptions, c CUDAConfig, gpu int) error {
	opts, err := ort.NewCUDAProviderOptions()
	if notEnabled(err) {
		return appendCUDALegacy(o, c, gpu)
	}
	if err != nil {
		return err
	}
	defer opts.Destroy()
	if err := opts.Update(cudaOptions(c, gpu)); err != nil {
		return err
	}
	return o.AppendExecutionProviderCUDA(opts)
}

// cudaOptions is c as ONNX Runtime's CUDA provider option keys.
func cudaOptions(c CUDAConfig, gpu int) map[string]string {
	m := map[string]string{
		"device_id":                 strconv.Itoa(gpu),
		"arena_extend_strategy":     arenaStrategies[c.ArenaExtendStrategy],
		"cudnn_conv_algo_search":    convSearches[c.CudnnConvAlgoSearch],
		"do_copy_in_default_stream": strconv.Itoa(boolInt(c.DoCopyInDefaultStream)),
		"enable_cuda_graph":         strconv.Itoa(boolInt(c.EnableCUDAGraph)),
	}
	if c.GPUMemLimit > 0 {
		m["gpu_mem_limit"] = strconv.FormatInt(c.GPUMemLimit, 10)
	}
	return m
}

// appendTensorRT is appendCUDA's TensorRT counterpart.
func appendTensorRT(o *ort.SessionOptions, t TensorRTConfig, gpu int) error {
	opts, err := ort.NewTensorRTProviderOptions()
	if notEnabled(err) {
		return appendTensorRTLegacy(o, t, gpu)
	}
	if err != nil {
		return err
	}
	defer opts.Destroy()
	if err := opts.Update(tensorRTOptions(t, gpu)); err != nil {
		return err
	}
	return o.AppendExecutionProviderTensorRT(opts)
}

// tensorRTOptions is t as ONNX Runtime's TensorRT provider option keys.
func tensorRTOptions(t TensorRTConfig, gpu int) map[string]string {
	m := map[string]string{
		"device_id":       strconv.Itoa(gpu),
		"trt_fp16_enable": strconv.Itoa(boolInt(t.FP16)),
	}
	if t.EngineCachePath != "" {
		m["trt_engine_cache_enable"] = "1"
		m["trt_engine_cache_path"] = t.EngineCachePath
	}
	if t.MaxWorkspaceSize > 0 {
		m["trt_max_workspace_size"] = strconv.FormatInt(t.MaxWorkspaceSize, 10)
	}
	return m
}

// cudaFailure is the part of ORT's long CUDA error that says what failed,
// e.g. "CUDA failure 100: no CUDA-capable device is detected".
var cudaFailure = regexp.MustCompile(`(CUDA|CUDNN|CUBLAS) failure \d+: [^;]*[^; ]`)

// shortORT keeps what a reader needs of an ORT error: its CUDA failure
// when it has one, else the message after ORT's source location.
func shortORT(err error) string {
	msg := err.Error()
	if m := cudaFailure.FindString(msg); m != "" {
		return m
	}
	if i := strings.LastIndex(msg, "] "); i >= 0 && strings.HasPrefix(msg, "/") {
		return strings.TrimSpace(msg[i+2:])
	}
	return msg
}

// checkCUDAGraph refuses CUDA graphs for a model with open dimensions: a
// graph replays the shapes it was captured with.
func checkCUDAGraph(c SessionConfig, sig Signature) error {
	if c.Provider == ProviderCPU || !c.CUDA.EnableCUDAGraph {
		return nil
	}
	for _, in := range sig.Inputs {
		if slices.Contains(in.Dims, -1) {
			return tensor.Errorf(tensor.InvalidArgument, "cuda.enable_cuda_graph: input %q is %s; CUDA graphs replay the shapes they were captured with, so every input dimension must be fixed in the model", in.Name, tensor.FormatShape(in.Dims))
		}
	}
	return nil
}

// gpuProblem is whether err, from a session on a GPU provider, is the
// provider's fault rather than the model's: then the CPU may still serve.
func gpuProblem(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe)
}
