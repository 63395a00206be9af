package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTVersion is the ONNX Runtime release that `make ort` installs.
const ORTVersion = "1.30.0"

// cachedLibrary is where scripts/fetch-ort.sh puts the library, relative to
// the repository root.
var cachedLibrary = filepath.Join(".cache", "onnxruntime", ORTVersion, "libonnxruntime.so.1")

// envMu guards envPath: ORT allows one environment per process, so a second
// Init must agree with the first about which library it loaded.
var (
	envMu   sync.Mutex
	envPath string
)

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
	envPath = ""
	return ort.DestroyEnvironment()
}

// Version is the version string of the loaded ONNX Runtime library.
func Version() string { return ort.GetVersion() }

// FindLibrary looks for the library `make ort` installs in dir and each of its
// parents, so the binary and tests run from any folder of the repository.
func FindLibrary(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, cachedLibrary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", errors.New("onnx runtime library " + cachedLibrary + " not found in " + abs + " or above: run `make ort`, or set ONNXRUNTIME_LIB to the library's path")
}
