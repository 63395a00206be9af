package registry_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

const ppocrConfig = "version_policy: all\ninstances: 2\nmax_batch_size: 16\ninputs:\n  - name: x\n    dims: [-1, 3, 48, 192]\n"

func rss(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Fatal(err)
	}
	pages, _ := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkPPOCRVersionToReady measures the time from a version's files
// appearing in the repository to that version being ready (one poll:
// hashing, sessions, warm-up at batch 1 and 16), and the resident memory
// each loaded version adds.
func BenchmarkPPOCRVersionToReady(b *testing.B) {
	ortest.Init(b)
	model, err := os.ReadFile(ortest.PPOCR(b))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	os.MkdirAll(filepath.Join(dir, "ppocr-cls"), 0o755)
	os.WriteFile(filepath.Join(dir, "ppocr-cls", "config.yaml"), []byte(ppocrConfig), 0o644)
	r := load(b, dir)
	before := rss(b)
	v := 0
	for b.Loop() {
		v++
		vdir := filepath.Join(dir, "ppocr-cls", strconv.Itoa(v))
		os.MkdirAll(vdir, 0o755)
		os.WriteFile(filepath.Join(vdir, "model.onnx"), model, 0o644)
		if err := r.Poll(context.Background()); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Lookup("ppocr-cls", strconv.Itoa(v)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rss(b)-before)/float64(v)/(1<<20), "MiB-rss/version")
}

// BenchmarkPPOCRDrainUnderLoad measures how long an unload takes to drain
// while 16 callers keep PP-OCR busy: the queued and running calls finish.
func BenchmarkPPOCRDrainUnderLoad(b *testing.B) {
	ortest.Init(b)
	var total time.Duration
	var drained int64
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		vdir := filepath.Join(dir, "ppocr-cls", "1")
		os.MkdirAll(vdir, 0o755)
		model, _ := os.ReadFile(ortest.PPOCR(b))
		os.WriteFile(filepath.Join(vdir, "model.onnx"), model, 0o644)
		os.WriteFile(filepath.Join(dir, "ppocr-cls", "config.yaml"), []byte(ppocrConfig), 0o644)
		r := load(b, dir)
		data := make([]byte, 4*3*48*192)
		for i := 0; i < len(data); i += 4 {
			binary.LittleEndian.PutUint32(data[i:], math.Float32bits(0.5))
		}
		var stop atomic.Bool
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for !stop.Load() {
					req := &tensor.Request{Inputs: []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 3, 48, 192}, Data: data}}}
					if _, err := r.Infer(context.Background(), "ppocr-cls", "", "", req); err != nil {
						return // unloaded: later calls are refused
					}
					ok.Add(1)
				}
			})
		}
		for ok.Load() < 200 {
			time.Sleep(time.Millisecond)
		}
		b.StartTimer()
		start := time.Now()
		if err := r.Unload(context.Background(), "ppocr-cls"); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		drained++
		b.StopTimer()
		stop.Store(true)
		wg.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(drained)/1000, "ms/drain")
}
