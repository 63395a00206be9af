package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTVersion is the ONNX Runtime release that `make ort` installs.
const ORTVersion = "1.30.0"

// GPUORTVersion is the ONNX Runtime release of the GPU build that `make
// ort-gpu` installs, with its CUDA and TensorRT providers beside it.
const GPUORTVersion = "1.29.0"

// cachedLibrary is where scripts/fetch-ort.sh puts the library, relative to
// the repository root.
var cachedLibrary = filepath.Join(".cache", "onnxruntime", ORTVersion, "libonnxruntime.so.1")

// cachedGPULibrary is where scripts/fetch-ort-gpu.sh puts the GPU build.
var cachedGPULibrary = filepath.Join(".cache", "onnxruntime-gpu", GPUORTVersion, "libonnxruntime.so")

// GPULibraryHint is where `make ort-gpu` puts the GPU build, for messages.
var GPULibraryHint = cachedGPULibrary

// envMu guards envPath and ortAPI: ORT allows one environment per
// process, so a second Init must agree with the first about which library
// it loaded, and the API table found in it lives as long as it does.
var (
	envMu   sync.Mutex
	envPath string
)

// logger takes the runtime's warnings, such as a version running on the
// CPU because its GPU provider cannot; slog.Default() until SetLogger.
var logger atomic.Pointer[slog.Logger]

// SetLogger sends the runtime's warnings to l.
func SetLogger(l *slog.Logger) { logger.Store(l) }

func warnLog() *slog.Logger {
	if l := logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// Init loads the ONNX Runtime shared library at libPath and creates the
// process's environment. Calling it again with the same path is a no-op, so
// tests and the binary can both call it; another path is an error.
func Init(libPath string) error {
	envMu.Lock()
	defer envMu.Unlock()
	if envPath != "" {
		if envPath != libPath {
			return fmt.Errorf("onnx runtime already loaded from %s, cannot load %s too", envPath, libPath)
		}
		return nil
	}
	if _, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("onnx runtime library %s: %w (run `make ort` or set ONNXRUNTIME_LIB)", libPath, err)
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("initialising onnx runtime from %s: %w", libPath, err)
	}
	envPath = libPath
	return nil
}

// Shutdown destroys the environment; every Model must be closed first.
func Shutdown() error {
	envMu.Lock()
	defer envMu.Unlock()
	if envPath == "" {
		return nil
	}
	envPath, ortAPI = "", nil
	return ort.DestroyEnvironment()
}

// LibraryPath is the library Init loaded; empty before Init.
func LibraryPath() string {
	envMu.Lock()
	defer envMu.Unlock()
	return envPath
}

// Version is the version string of the loaded ONNX Runtime library.
func Version() string { return ort.GetVersion() }

// FindLibrary looks for the library `make ort` installs in dir and each of its
// parents, so the binary and tests run from any folder of the repository.
func FindLibrary(dir string) (string, error) {
	return findUp(dir, cachedLibrary, "run `make ort`, or set ONNXRUNTIME_LIB to the library's path")
}

// FindGPULibrary is FindLibrary for the GPU build that `make ort-gpu`
// installs.
func FindGPULibrary(dir string) (string, error) {
	return findUp(dir, cachedGPULibrary, "run `make ort-gpu`")
}

func findUp(dir, rel, fix string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", errors.New("onnx runtime library " + rel + " not found in " + abs + " or above: " + fix)
}
