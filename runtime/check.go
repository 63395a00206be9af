package runtime

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-serving/sluice/tensor"
)

// chain is the provider libraries a provider needs, in the order they are
// appended: tensorrt hands what it cannot build to cuda.
func chain(provider string) []string {
	if provider == ProviderTensorRT {
		return []string{ProviderTensorRT, ProviderCUDA}
	}
	return []string{provider}
}

// openedLater are libraries a provider opens itself when a session starts,
// which its ELF header does not name.
var openedLater = map[string][]string{ProviderCUDA: {"libcudnn.so.9"}}

// what says what a missing library is, for the reader who must install it.
var what = map[string]string{
	"libcuda.so.1":          "the NVIDIA driver",
	"libcudart.so.13":       "CUDA 13 runtime",
	"libcublas.so.13":       "CUDA 13 cuBLAS",
	"libcublasLt.so.13":     "CUDA 13 cuBLASLt",
	"libcurand.so.10":       "CUDA 13 cuRAND",
	"libcudnn.so.9":         "cuDNN 9",
	"libnvinfer.so.10":      "TensorRT 10",
	"libnvonnxparser.so.10": "TensorRT 10 ONNX parser",
}

// ProviderLibrary is the path of provider's library beside the loaded
// core: ONNX Runtime loads providers from the core library's folder.
func ProviderLibrary(provider string) string {
	return filepath.Join(filepath.Dir(LibraryPath()), "libonnxruntime_providers_"+provider+".so")
}

// CheckProvider says, without creating a session, why provider cannot run
// with the loaded ONNX Runtime: its provider library is not beside the
// core, or libraries it needs cannot be loaded. Nil means it can be tried;
// a missing device still shows only when a session is created.
func CheckProvider(provider string) error {
	if provider == ProviderCPU {
		return nil
	}
	var missing []string
	for _, p := range append(chain(provider), "shared") {
		lib := ProviderLibrary(p)
		if _, err := os.Stat(lib); err != nil {
			return unavailable(provider, fmt.Sprintf("execution provider %q is not available yet: this ONNX Runtime build (%s) has no %s beside it; run `make ort-gpu` and set runtime.library (or ONNXRUNTIME_LIB) to %s", provider, LibraryPath(), filepath.Base(lib), GPULibraryHint))
		}
		needs, err := neededLibs(lib)
		if err != nil {
			return unavailable(provider, err.Error())
		}
		for _, n := range append(needs, openedLater[p]...) {
			if Loadable(n) != nil && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		return unavailable(provider, missingReason(missing))
	}
	return nil
}

func unavailable(provider, reason string) error {
	return tensor.WithKind(tensor.Unavailable, &ProviderError{Provider: provider, GPU: -1, Reason: reason})
}

// neededLibs are the sonames lib's ELF header asks the loader for.
func neededLibs(lib string) ([]string, error) {
	f, err := elf.Open(lib)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", lib, err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("reading the libraries %s needs: %w", lib, err)
	}
	return libs, nil
}

// missingReason names the missing libraries, what they are, and where a
// copy was seen that the loader does not search.
func missingReason(missing []string) string {
	var kinds []string
	var seen []string
	for _, n := range missing {
		if w := what[n]; w != "" && !slices.Contains(kinds, w) {
			kinds = append(kinds, w)
		}
		if st := LocateLibrary(n); len(st.Found) > 0 {
			seen = append(seen, filepath.Dir(st.Found[0]))
		}
	}
	msg := strings.Join(missing, ", ") + " not found"
	if len(kinds) > 0 {
		msg += " (" + strings.Join(kinds, ", ") + ")"
	}
	if len(seen) > 0 {
		return msg + "; copies are in " + strings.Join(slices.Compact(seen), ", ") + ": add those folders to LD_LIBRARY_PATH"
	}
	return msg + "; install them, or add their folders to LD_LIBRARY_PATH (docs/gpu.md)"
}
