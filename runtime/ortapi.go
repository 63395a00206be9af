package runtime

/*
#cgo LDFLAGS: -ldl

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The few parts of ONNX Runtime's C API (onnxruntime_c_api.h, API version
// 24, which onnxruntime_go v1.27.0 is built against) that onnxruntime_go
// does not wrap. OrtApi is a table of function pointers that only ever
// grows, so these slots hold in every library that serves version 24.
enum {
	slAPIVersion = 24,
	slGetErrorMessage = 2,
	slReleaseStatus = 93,
	slGetAvailableProviders = 125,
	slReleaseAvailableProviders = 126,
	slAppendCUDA = 152,
	slAppendTensorRT = 159,
};

typedef struct OrtStatus OrtStatus;
typedef struct { const void** (*GetApi)(uint32_t); const char* (*GetVersionString)(void); } slApiBase;

// The legacy provider option structs, frozen by ONNX Runtime.
typedef struct {
	int device_id;
	int cudnn_conv_algo_search;
	size_t gpu_mem_limit;
	int arena_extend_strategy;
	int do_copy_in_default_stream;
	int has_user_compute_stream;
	void* user_compute_stream;
	void* default_memory_arena_cfg;
	int tunable_op_enable;
	int tunable_op_tuning_enable;
	int tunable_op_max_tuning_duration_ms;
} slCUDAOptions;

typedef struct {
	int device_id;
	int has_user_compute_stream;
	void* user_compute_stream;
	int trt_max_partition_iterations;
	int trt_min_subgraph_size;
	size_t trt_max_workspace_size;
	int trt_fp16_enable;
	int trt_int8_enable;
	const char* trt_int8_calibration_table_name;
	int trt_int8_use_native_calibration_table;
	int trt_dla_enable;
	int trt_dla_core;
	int trt_dump_subgraphs;
	int trt_engine_cache_enable;
	const char* trt_engine_cache_path;
	int trt_engine_decryption_enable;
	const char* trt_engine_decryption_lib_path;
	int trt_force_sequential_engine_build;
} slTensorRTOptions;

// sl_api finds the API table of the library at path, which must be loaded
// already (RTLD_NOLOAD): onnxruntime_go holds it open.
static const void** sl_api(const char* path) {
	void* h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
	if (!h) return NULL;
	const slApiBase* (*base)(void) = (const slApiBase* (*)(void))dlsym(h, "OrtGetApiBase");
	const void** api = base ? base()->GetApi(slAPIVersion) : NULL;
	dlclose(h);
	return api;
}

// sl_message returns a status's message (malloc'ed) and releases it.
static char* sl_message(const void** api, OrtStatus* st) {
	if (!st) return NULL;
	const char* (*msg)(const OrtStatus*) = (const char* (*)(const OrtStatus*))api[slGetErrorMessage];
	void (*release)(OrtStatus*) = (void (*)(OrtStatus*))api[slReleaseStatus];
	char* out = strdup(msg(st));
	release(st);
	return out;
}

static char* sl_providers(const void** api, char*** names, int* n) {
	OrtStatus* (*get)(char***, int*) = (OrtStatus* (*)(char***, int*))api[slGetAvailableProviders];
	return sl_message(api, get(names, n));
}

static void sl_release_providers(const void** api, char** names, int n) {
	OrtStatus* (*rel)(char**, int) = (OrtStatus* (*)(char**, int))api[slReleaseAvailableProviders];
	free(sl_message(api, rel(names, n)));
}

static char* sl_append_cuda(const void** api, void* so, slCUDAOptions* o) {
	OrtStatus* (*f)(void*, const slCUDAOptions*) = (OrtStatus* (*)(void*, const slCUDAOptions*))api[slAppendCUDA];
	return sl_message(api, f(so, o));
}

static char* sl_append_tensorrt(const void** api, void* so, slTensorRTOptions* o) {
	OrtStatus* (*f)(void*, const slTensorRTOptions*) = (OrtStatus* (*)(void*, const slTensorRTOptions*))api[slAppendTensorRT];
	return sl_message(api, f(so, o));
}

// sl_loadable says why the dynamic loader cannot open name (malloc'ed), or
// NULL when it can.
static char* sl_loadable(const char* name) {
	void* h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
	if (!h) return strdup(dlerror());
	dlclose(h);
	return NULL;
}
*/
import "C"

import (
	"errors"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// ortAPI is the loaded library's API table; it lives as long as the
// environment (envMu guards it, Shutdown clears it).
var ortAPI *unsafe.Pointer

// api returns the API table of the loaded library.
func api() (*unsafe.Pointer, error) {
	envMu.Lock()
	defer envMu.Unlock()
	if envPath == "" {
		return nil, errors.New("onnx runtime is not initialised: call runtime.Init first")
	}
	if ortAPI == nil {
		p := C.CString(envPath)
		defer C.free(unsafe.Pointer(p))
		ortAPI = C.sl_api(p)
		if ortAPI == nil {
			return nil, errors.New("onnx runtime " + envPath + ": no API table of version 24")
		}
	}
	return ortAPI, nil
}

// cfree turns a malloc'ed C message into a Go error and frees it.
func cfree(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return errors.New(C.GoString(msg))
}

// Providers lists the execution providers compiled into the loaded
// library (ORT's GetAvailableProviders). A provider listed here may still
// lack its library or the CUDA libraries; see CheckProvider.
func Providers() ([]string, error) {
	a, err := api()
	if err != nil {
		return nil, err
	}
	var names **C.char
	var n C.int
	if err := cfree(C.sl_providers(a, &names, &n)); err != nil {
		return nil, err
	}
	defer C.sl_release_providers(a, names, n)
	out := make([]string, int(n))
	for i, s := range unsafe.Slice(names, int(n)) {
		out[i] = C.GoString(s)
	}
	return out, nil
}

// optionsPtr is the OrtSessionOptions behind o. onnxruntime_go keeps it in
// the struct's one unexported field; TestSessionOptionsLayout holds that
// true for the pinned version.
func optionsPtr(o *ort.SessionOptions) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(o))
}

// appendCUDALegacy adds the CUDA provider through the legacy options
// struct: the only way into a core built without CUDA, such as the
// com.github.asus4.onnxruntime 1.29 core. That struct has no CUDA graphs.
func appendCUDALegacy(o *ort.SessionOptions, c CUDAConfig, gpu int) error {
	if c.EnableCUDAGraph {
		return errors.New("cuda.enable_cuda_graph: this ONNX Runtime core takes CUDA options only through its legacy interface, which has no CUDA graphs; drop the key or use a core built with CUDA (docs/gpu.md)")
	}
	a, err := api()
	if err != nil {
		return err
	}
	opts := C.slCUDAOptions{
		device_id:                 C.int(gpu),
		cudnn_conv_algo_search:    C.int(convSearchIndex[c.CudnnConvAlgoSearch]),
		gpu_mem_limit:             C.size_t(^uint64(0)),
		arena_extend_strategy:     C.int(arenaIndex[c.ArenaExtendStrategy]),
		do_copy_in_default_stream: C.int(boolInt(c.DoCopyInDefaultStream)),
	}
	if c.GPUMemLimit > 0 {
		opts.gpu_mem_limit = C.size_t(c.GPUMemLimit)
	}
	return cfree(C.sl_append_cuda(a, optionsPtr(o), &opts))
}

// appendTensorRTLegacy adds the TensorRT provider through the legacy
// options struct, with ONNX Runtime's defaults where Sluice sets nothing.
func appendTensorRTLegacy(o *ort.SessionOptions, t TensorRTConfig, gpu int) error {
	a, err := api()
	if err != nil {
		return err
	}
	path := C.CString(t.EngineCachePath)
	defer C.free(unsafe.Pointer(path))
	opts := C.slTensorRTOptions{
		device_id:                    C.int(gpu),
		trt_max_partition_iterations: 1000,
		trt_min_subgraph_size:        1,
		trt_max_workspace_size:       C.size_t(t.MaxWorkspaceSize),
		trt_fp16_enable:              C.int(boolInt(t.FP16)),
		trt_engine_cache_enable:      C.int(boolInt(t.EngineCachePath != "")),
		trt_engine_cache_path:        path,
	}
	return cfree(C.sl_append_tensorrt(a, optionsPtr(o), &opts))
}

// The legacy struct's enum values, in ONNX Runtime's order.
var (
	convSearchIndex = map[string]int{"exhaustive": 0, "heuristic": 1, "default": 2}
	arenaIndex      = map[string]int{"next_power_of_two": 0, "same_as_requested": 1}
)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Loadable says why the dynamic loader cannot open the library called name
// (a soname such as libcublasLt.so.13, searched as dlopen searches), or nil.
func Loadable(name string) error {
	p := C.CString(name)
	defer C.free(unsafe.Pointer(p))
	return cfree(C.sl_loadable(p))
}
