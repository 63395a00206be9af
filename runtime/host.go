package runtime

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// GPULibraries are the libraries the GPU build's providers load: the
// driver, CUDA 13, cuDNN 9 and TensorRT 10 (tensorrt only).
var GPULibraries = []string{
	"libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13",
	"libcurand.so.10", "libcudnn.so.9", "libnvinfer.so.10", "libnvonnxparser.so.10",
}

// LibraryStatus is what the host has of one shared library.
type LibraryStatus struct {
	Name string
	// Err says why the dynamic loader cannot open it; nil when it can.
	Err error
	// Found are files of that name in LD_LIBRARY_PATH, the loader's cache
	// (ldconfig -p) and NVIDIA's Python wheels (site-packages/nvidia/*/lib),
	// the last of which the loader does not search by itself.
	Found []string
}

// LocateLibrary reports whether name can be loaded and where copies lie.
func LocateLibrary(name string) LibraryStatus {
	st := LibraryStatus{Name: name, Err: Loadable(name)}
	for _, dir := range librarySearchDirs() {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil && !slices.Contains(st.Found, p) {
			st.Found = append(st.Found, p)
		}
	}
	return st
}

// librarySearchDirs are LD_LIBRARY_PATH's folders, the folders of the
// loader's cache, and NVIDIA's wheel folders.
func librarySearchDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, ldconfigDirs()...)
	return append(dirs, WheelLibraryDirs()...)
}

// ldconfigDirs are the folders of the libraries `ldconfig -p` lists.
func ldconfigDirs() []string {
	out, err := runBounded("ldconfig", "-p")
	if err != nil {
		out, err = runBounded("/sbin/ldconfig", "-p")
	}
	if err != nil {
		return nil
	}
	var dirs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		_, path, ok := strings.Cut(sc.Text(), " => ")
		if d := filepath.Dir(strings.TrimSpace(path)); ok && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// sitePackages are the places Python packages are installed: the system's,
// the user's, a virtual environment's and conda's.
func sitePackages() []string {
	roots := []string{"/usr/lib", "/usr/local/lib", "/opt/conda/lib"}
	for _, env := range []string{"HOME", "VIRTUAL_ENV", "CONDA_PREFIX"} {
		if v := os.Getenv(env); v != "" {
			if env == "HOME" {
				v = filepath.Join(v, ".local")
			}
			roots = append(roots, filepath.Join(v, "lib"))
		}
	}
	var out []string
	for _, r := range roots {
		for _, kind := range []string{"site-packages", "dist-packages"} {
			m, _ := filepath.Glob(filepath.Join(r, "python3*", kind))
			out = append(out, m...)
		}
	}
	return out
}

// WheelLibraryDirs are the lib folders of NVIDIA's Python wheels
// (nvidia-cublas, nvidia-cudnn, ...), which carry CUDA without a system
// install.
func WheelLibraryDirs() []string {
	var out []string
	for _, sp := range sitePackages() {
		m, _ := filepath.Glob(filepath.Join(sp, "nvidia", "*", "lib"))
		out = append(out, m...)
	}
	return out
}

// GPUs is what the host shows of NVIDIA GPUs, without CUDA.
type GPUs struct {
	Names    []string // one per GPU: nvidia-smi -L, else /proc/driver/nvidia/gpus
	Driver   string   // /proc/driver/nvidia/version's first line
	Devices  []string // /dev/nvidia0, /dev/nvidia1, ...
	SMIError string   // why nvidia-smi gave nothing, when it did not
}

// Found is whether any sign of an NVIDIA GPU was seen.
func (g GPUs) Found() bool { return len(g.Names) > 0 || len(g.Devices) > 0 }

// Visible is how many GPUs CUDA numbers (0 to Visible-1): those found,
// narrowed by CUDA_VISIBLE_DEVICES when it is set (cudaVisible, set).
func (g GPUs) Visible(cudaVisible string, set bool) int {
	n := len(g.Names)
	if n == 0 {
		n = len(g.Devices)
	}
	switch {
	case !set:
		return n
	case cudaVisible == "":
		return 0
	}
	return min(n, len(strings.Split(cudaVisible, ",")))
}

// ProbeGPUs looks for NVIDIA GPUs through nvidia-smi, /proc/driver/nvidia
// and /dev/nvidia*.
func ProbeGPUs() GPUs {
	var g GPUs
	g.Devices, _ = filepath.Glob("/dev/nvidia[0-9]*")
	if b, err := os.ReadFile("/proc/driver/nvidia/version"); err == nil {
		g.Driver, _, _ = strings.Cut(string(b), "\n")
	}
	out, err := runBounded("nvidia-smi", "-L")
	if err != nil {
		g.SMIError = err.Error()
		g.Names = procGPUNames()
		return g
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "GPU ") {
			g.Names = append(g.Names, l)
		}
	}
	return g
}

// procGPUNames reads the model of each GPU the driver lists.
func procGPUNames() []string {
	infos, _ := filepath.Glob("/proc/driver/nvidia/gpus/*/information")
	var out []string
	for _, p := range infos {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if m, ok := strings.CutPrefix(l, "Model:"); ok {
				out = append(out, strings.TrimSpace(m))
			}
		}
	}
	return out
}

// runBounded runs a probing command for at most five seconds.
func runBounded(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).Output()
}
