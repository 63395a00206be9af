package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime"
)

// doctorCmd is `sluice doctor`: what ONNX Runtime and this host offer the
// repository's models, and where each model's sessions would go, without
// creating a session. It takes serve's flags and configuration, and fails
// naming every model whose provider cannot run (fallback: fail), so that a
// deployment can check a GPU host before serving.
func doctorCmd(args, environ []string, stdout, stderr io.Writer) error {
	return doctor(args, environ, stdout, stderr, runtime.ProbeGPUs)
}

// doctor is doctorCmd with the GPU probe given, so a test can stand for a
// host with or without GPUs.
func doctor(args, environ []string, stdout, stderr io.Writer, probe func() runtime.GPUs) error {
	cfg, help, err := loadConfig("doctor", args, environ, stderr)
	if help || err != nil {
		return err
	}
	if _, err := initRuntime(cfg.Runtime.Library); err != nil {
		return err
	}
	defer runtime.Shutdown()
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	printRuntime(w)
	gpus := probe()
	printGPUs(w, gpus)
	printLibraries(w)
	return printModels(w, cfg.Repository.Path, visibleGPUs(gpus, environ))
}

func printRuntime(w io.Writer) {
	fmt.Fprintln(w, "ONNX Runtime")
	fmt.Fprintf(w, "  version\t%s\n", runtime.Version())
	fmt.Fprintf(w, "  library\t%s\n", runtime.LibraryPath())
	names, err := runtime.Providers()
	fmt.Fprintf(w, "  build\t%s\n", describeBuild(names))
	if err != nil {
		fmt.Fprintf(w, "  providers\tunknown: %v\n", err)
	} else {
		fmt.Fprintf(w, "  providers\t%s (compiled in)\n", strings.Join(names, ", "))
	}
	for _, p := range []string{runtime.ProviderCUDA, runtime.ProviderTensorRT} {
		verdict := "libraries present; a session will show whether a device answers"
		if err := runtime.CheckProvider(p); err != nil {
			verdict = "unavailable: " + err.Error()
		}
		fmt.Fprintf(w, "  %s\t%s\n", p, verdict)
	}
}

// describeBuild says whether the loaded library can run on GPUs: its CUDA
// provider lies beside it, and names (the providers compiled in) tell
// which way Sluice reaches it.
func describeBuild(names []string) string {
	if _, err := os.Stat(runtime.ProviderLibrary(runtime.ProviderCUDA)); err != nil {
		return "CPU (no GPU provider library beside it; `make ort-gpu` fetches the GPU build)"
	}
	if !slices.Contains(names, "CUDAExecutionProvider") {
		return "GPU (CUDA provider beside a core built without CUDA: reached through ORT's legacy options, no CUDA graphs)"
	}
	return "GPU (CUDA provider beside it)"
}

func printGPUs(w io.Writer, g runtime.GPUs) {
	fmt.Fprintln(w, "GPUs")
	if !g.Found() {
		fmt.Fprintln(w, "  none\tno NVIDIA GPU found (no nvidia-smi answer, no /proc/driver/nvidia/gpus, no /dev/nvidia*)")
		return
	}
	for _, n := range g.Names {
		fmt.Fprintf(w, "  gpu\t%s\n", n)
	}
	if g.Driver != "" {
		fmt.Fprintf(w, "  driver\t%s\n", g.Driver)
	}
	if len(g.Devices) > 0 {
		fmt.Fprintf(w, "  devices\t%s\n", strings.Join(g.Devices, " "))
	}
	if g.SMIError != "" {
		fmt.Fprintf(w, "  nvidia-smi\t%s\n", g.SMIError)
	}
}

func printLibraries(w io.Writer) {
	fmt.Fprintln(w, "GPU libraries (as the loader finds them: LD_LIBRARY_PATH, ldconfig; and NVIDIA's wheels)")
	for _, name := range runtime.GPULibraries {
		st := runtime.LocateLibrary(name)
		state := "loadable"
		if st.Err != nil {
			state = "missing"
		}
		where := strings.Join(st.Found, " ")
		if st.Err != nil && len(st.Found) > 0 {
			where += " (not on the loader's path: add its folder to LD_LIBRARY_PATH)"
		}
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %s\t%s\t%s", name, state, where), "\t "))
	}
}

// visibleGPUs is how many GPUs CUDA would number, with environ's
// CUDA_VISIBLE_DEVICES.
func visibleGPUs(g runtime.GPUs, environ []string) int {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "CUDA_VISIBLE_DEVICES="); ok {
			return g.Visible(v, true)
		}
	}
	return g.Visible("", false)
}

// printModels prints each model's plan and returns an error naming every
// model that would fail to load for its config or provider.
func printModels(w io.Writer, repo string, gpus int) error {
	fmt.Fprintf(w, "Models (%s)\n", repo)
	entries, err := os.ReadDir(repo)
	if err != nil {
		return fmt.Errorf("repository.path: %w", err)
	}
	var failed []string
	for _, e := range entries {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		if reason := printModel(w, filepath.Join(repo, e.Name()), e.Name(), gpus); reason != "" {
			failed = append(failed, fmt.Sprintf("model %q: %s", e.Name(), reason))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// printModel prints one model's placement and verdict, and returns why it
// would fail to load, or "".
func printModel(w io.Writer, dir, name string, gpus int) string {
	cfg, ignored, err := registry.ReadModelConfig(dir)
	if err != nil {
		fmt.Fprintf(w, "  %s\tFAILS\t%v\n", name, err)
		return err.Error()
	}
	if len(ignored) > 0 {
		fmt.Fprintf(w, "  %s\tignores\tconfig.pbtxt fields Sluice does not support: %s\n", name, strings.Join(ignored, ", "))
	}
	sc := cfg.SessionConfig
	fmt.Fprintf(w, "  %s\t%s\tversions %s: %s\n", name, sc.Provider, versionList(dir, cfg.VersionPolicy), describePlan(sc))
	reason := providerProblem(sc, gpus)
	switch {
	case reason == "":
		return ""
	case sc.Fallback == runtime.FallbackCPU:
		fmt.Fprintf(w, "  %s\tfalls back to the CPU\t%s\n", name, reason)
		return ""
	}
	fmt.Fprintf(w, "  %s\tFAILS (fallback: fail)\t%s\n", name, reason)
	return reason
}

// describePlan is where the sessions go: "4 sessions (2 per GPU): cuda:0
// cuda:1 cuda:0 cuda:1".
func describePlan(sc runtime.SessionConfig) string {
	plan := runtime.Plan(sc)
	s := strconv.Itoa(len(plan)) + " sessions"
	if sc.Provider != runtime.ProviderCPU {
		s += fmt.Sprintf(" (%d per GPU)", sc.Instances)
	}
	parts := make([]string, len(plan))
	for i, p := range plan {
		parts[i] = p.String()
	}
	return s + ": " + strings.Join(parts, " ")
}

// providerProblem is why sc's provider cannot run here, or "".
func providerProblem(sc runtime.SessionConfig, gpus int) string {
	if sc.Provider == runtime.ProviderCPU {
		return ""
	}
	var reasons []string
	if err := runtime.CheckProvider(sc.Provider); err != nil {
		reasons = append(reasons, err.Error())
	}
	if gpus == 0 {
		reasons = append(reasons, "no NVIDIA GPU found")
	}
	for _, p := range runtime.Plan(sc) {
		if gpus > 0 && p.GPU >= gpus && !slices.Contains(reasons, absent(p.GPU, gpus)) {
			reasons = append(reasons, absent(p.GPU, gpus))
		}
	}
	return strings.Join(reasons, "; ")
}

func absent(gpu, visible int) string {
	return fmt.Sprintf("gpu %d is not present (%d visible)", gpu, visible)
}

// versionList is the versions the policy serves of those on disk.
func versionList(dir string, policy registry.VersionPolicy) string {
	entries, _ := os.ReadDir(dir)
	var onDisk []int64
	for _, e := range entries {
		if v, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && v > 0 && e.IsDir() {
			onDisk = append(onDisk, v)
		}
	}
	slices.Sort(onDisk)
	var out []string
	for _, v := range policy.Select(onDisk) {
		out = append(out, strconv.FormatInt(v, 10))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}
