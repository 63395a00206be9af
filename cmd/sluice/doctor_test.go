package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
)

// doctorRepo is a repository of one model per config, each with the
// committed mlp fixture as version 1.
func doctorRepo(t *testing.T, configs map[string]string) string {
	t.Helper()
	repo := t.TempDir()
	model, err := os.ReadFile(ortest.Fixture(t, "mlp"))
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range configs {
		dir := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Join(dir, "1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "1", "model.onnx"), model, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

func noGPU() runtime.GPUs { return runtime.GPUs{} }

// TestDoctorOnTheCPUBuild runs `sluice doctor` on the library `make ort`
// fetched: its providers are listed, no GPU is reported plainly, and a
// model that must run on CUDA makes it fail naming the model and why.
func TestDoctorOnTheCPUBuild(t *testing.T) {
	ortest.Init(t)
	repo := doctorRepo(t, map[string]string{
		"tabular": "instances: 1\n",
		"gpu":     "provider: cuda\nfallback: fail\ngpus: [0, 1]\ninstances: 2\n",
	})
	var out, errOut bytes.Buffer
	err := doctor([]string{"-repository.path", repo}, nil, &out, &errOut, noGPU)
	if err == nil || !strings.Contains(err.Error(), `model "gpu": provider cuda: `) || !strings.Contains(err.Error(), "libonnxruntime_providers_cuda.so") || !strings.Contains(err.Error(), "no NVIDIA GPU found") {
		t.Errorf("err = %v, want the gpu model's failure naming the missing CUDA provider and GPU", err)
	}
	for _, want := range []string{
		"version    " + runtime.ORTVersion,
		"CPUExecutionProvider",
		"build      CPU",
		"no NVIDIA GPU found",
		"libcublasLt.so.13",
		"tabular  cpu                     versions 1: 1 sessions: cpu",
		"gpu      cuda                    versions 1: 4 sessions (2 per GPU): cuda:0 cuda:1 cuda:0 cuda:1",
		"gpu      FAILS (fallback: fail)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(err.Error(), "tabular") {
		t.Errorf("err = %v names the cpu model, which runs", err)
	}
}

func TestDoctorFallbackCPUPasses(t *testing.T) {
	ortest.Init(t)
	repo := doctorRepo(t, map[string]string{"gpu": "provider: tensorrt\nfallback: cpu\ninstances: 1\n"})
	var out, errOut bytes.Buffer
	if err := doctor([]string{"-repository.path", repo}, nil, &out, &errOut, noGPU); err != nil {
		t.Fatalf("doctor: %v, want success: the model falls back to the CPU", err)
	}
	if !strings.Contains(out.String(), "gpu  falls back to the CPU  provider tensorrt: ") {
		t.Errorf("output lacks the fallback:\n%s", out.String())
	}
}

func TestDoctorChecksDevicesAndConfig(t *testing.T) {
	ortest.Init(t)
	repo := doctorRepo(t, map[string]string{
		"two":    "provider: cuda\ngpus: [0, 1]\ninstances: 1\n",
		"broken": "provider: cuda\ngpus: [0, 0]\n",
	})
	oneGPU := func() runtime.GPUs { return runtime.GPUs{Names: []string{"GPU 0: NVIDIA H200"}} }
	var out, errOut bytes.Buffer
	err := doctor([]string{"-repository.path", repo}, nil, &out, &errOut, oneGPU)
	if err == nil || !strings.Contains(err.Error(), "gpu 1 is not present (1 visible)") || !strings.Contains(err.Error(), `model "broken": config.yaml: gpus[1]`) {
		t.Errorf("err = %v, want the absent gpu 1 and the broken config named", err)
	}
	if !strings.Contains(out.String(), "gpu  GPU 0: NVIDIA H200") {
		t.Errorf("output lacks the GPU:\n%s", out.String())
	}
	if n := visibleGPUs(oneGPU(), []string{"CUDA_VISIBLE_DEVICES="}); n != 0 {
		t.Errorf("visible with CUDA_VISIBLE_DEVICES empty = %d, want 0", n)
	}
}

// TestDoctorCommand reaches doctor through the command line with the
// host's own GPU probe: whatever the host, the CPU build cannot run cuda.
func TestDoctorCommand(t *testing.T) {
	ortest.Init(t)
	repo := doctorRepo(t, map[string]string{"gpu": "provider: cuda\n"})
	var out, errOut bytes.Buffer
	err := run([]string{"doctor", "-repository.path", repo}, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), `model "gpu": provider cuda: `) || !strings.Contains(out.String(), "GPUs\n") {
		t.Errorf("doctor: %v\n%s", err, out.String())
	}
}
