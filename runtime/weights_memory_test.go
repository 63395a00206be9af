package runtime_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// weightsChildEnv carries a weightsSpec to a re-executed test binary, so
// that every configuration is measured in a process of its own: resident
// memory that ONNX Runtime or malloc keep after an earlier load would
// blur the next one.
const weightsChildEnv = "SLUICE_WEIGHTS_CHILD"

// weightsSpec is one configuration to measure: the model at Path loaded
// with Instances instances in Mode, then Runs calls at batch 1 from one
// caller per instance.
type weightsSpec struct {
	Path      string
	Mode      string
	Instances int
	Runs      int
}

// weightsResult is what the child measured: resident memory that loading
// and warming every instance added, and the calls' throughput.
type weightsResult struct {
	RSS         int64
	Sessions    int
	ItemsPerSec float64
}

const weightsResultPrefix = "weights-result "

// liveMalloc makes glibc give every block of 128 KiB or more back to the
// system as soon as it is freed, so that resident memory is the memory in
// use. Without it, what ONNX Runtime frees after a load (the file's bytes,
// the weights it has repacked) stays resident or not depending on which
// thread's malloc arena held it, and one configuration's figure moves by
// up to 100 MiB from one process to the next.
const liveMalloc = "MALLOC_MMAP_THRESHOLD_=131072"

// measureWeights runs spec in a fresh process, with env added to its
// environment.
func measureWeights(tb testing.TB, spec weightsSpec, env ...string) weightsResult {
	tb.Helper()
	b, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWeightsChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), env...), weightsChildEnv+"="+string(b))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("measuring %+v: %v\n%s", spec, err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), weightsResultPrefix); ok {
			var r weightsResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				tb.Fatal(err)
			}
			return r
		}
	}
	tb.Fatalf("measuring %+v: no result in\n%s", spec, out)
	return weightsResult{}
}

// TestWeightsChild is the measuring side of measureWeights; run as a test
// of its own, without weightsChildEnv, it has nothing to measure.
func TestWeightsChild(t *testing.T) {
	env := os.Getenv(weightsChildEnv)
	if env == "" {
		return
	}
	var spec weightsSpec
	if err := json.Unmarshal([]byte(env), &spec); err != nil {
		t.Fatal(err)
	}
	ortest.Init(t)
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances, cfg.SessionMode = spec.Instances, spec.Mode
	before := vmRSS(t)
	m, err := runtime.Load(spec.Path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := fp32Tensor("x", []int64{1, ortest.BigMLPWidth}, func(i int) float32 { return float32(i%7) / 7 })
	callEach(t, m, in, m.Instances()) // warm-up: one run on every instance, all at once
	r := weightsResult{RSS: vmRSS(t) - before, Sessions: m.Sessions()}
	start := time.Now()
	callEach(t, m, in, spec.Runs)
	r.ItemsPerSec = float64(spec.Runs) / time.Since(start).Seconds()
	b, _ := json.Marshal(r)
	fmt.Println(weightsResultPrefix + string(b))
}

// callEach makes calls calls, one caller per instance taking the next
// call while any is left.
func callEach(t *testing.T, m *runtime.Model, in tensor.Tensor, calls int) {
	var left atomic.Int64
	left.Store(int64(calls))
	var wg sync.WaitGroup
	for i := range m.Instances() {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if _, err := runOn(m, i, in); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// vmRSS is the process's resident memory, VmRSS in /proc/self/status.
func vmRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// Instances that share a session must not hold a copy of the weights
// each: on a 117 MB model, every instance past the first adds at most a
// tenth of the model's size to the memory in use.
func TestSharedInstancesHoldOneCopyOfWeights(t *testing.T) {
	path := ortest.BigMLP(t, t.TempDir())
	one := measureWeights(t, weightsSpec{Path: path, Mode: runtime.SessionsShared, Instances: 1}, liveMalloc)
	four := measureWeights(t, weightsSpec{Path: path, Mode: runtime.SessionsShared, Instances: 4}, liveMalloc)
	perExtra := float64(four.RSS-one.RSS) / 3
	t.Logf("resident: 1 instance %.1f MiB, 4 instances %.1f MiB; %.1f MiB per extra instance, %.3f of the model",
		mib(one.RSS), mib(four.RSS), perExtra/(1<<20), perExtra/ortest.BigMLPBytes)
	if four.Sessions != 1 || perExtra > 0.1*ortest.BigMLPBytes {
		t.Errorf("4 shared instances on %d sessions add %.1f MiB each past the first, want 1 session and at most %.1f MiB (0.1 of the model)",
			four.Sessions, perExtra/(1<<20), 0.1*ortest.BigMLPBytes/(1<<20))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// BenchmarkInstanceMemory compares the session modes on a 117 MB model at
// 1, 2 and 4 instances, each configuration in a fresh process: resident
// memory after loading and warming every instance, what each instance
// past the first adds as a share of the model's size, and items/s at
// batch 1 with one caller per instance. malloc=live measures the memory
// in use (liveMalloc), malloc=glibc what a server with glibc's defaults
// keeps resident. b.N is the calls, so run it with a fixed count:
// -benchtime 200x.
func BenchmarkInstanceMemory(b *testing.B) {
	path := ortest.BigMLP(b, b.TempDir())
	mallocs := []struct {
		name string
		env  []string
	}{{"live", []string{liveMalloc}}, {"glibc", nil}}
	for _, mc := range mallocs {
		for _, mode := range []string{runtime.SessionsPerInstance, runtime.SessionsShared} {
			benchModes(b, path, mode, mc.name, mc.env)
		}
	}
}

// benchModes measures mode at 1, 2 and 4 instances.
func benchModes(b *testing.B, path, mode, malloc string, env []string) {
	var first int64
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("malloc=%s/sessions=%s/instances=%d", malloc, mode, n), func(b *testing.B) {
			r := measureWeights(b, weightsSpec{Path: path, Mode: mode, Instances: n, Runs: b.N}, env...)
			b.ReportMetric(r.ItemsPerSec, "items/s")
			b.ReportMetric(mib(r.RSS), "MiB-rss")
			if n == 1 {
				first = r.RSS
				return
			}
			b.ReportMetric(float64(r.RSS-first)/float64(n-1)/ortest.BigMLPBytes, "extra/model")
		})
	}
}
