package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// These benchmarks measure Sluice end to end over loopback HTTP, with
// binary tensors, against its ceilings measured in the same run: raw
// in-process ONNX Runtime at its best layout, and a minimal fasthttp handler
// that returns a fixed v2 response. The load loop shares the process with
// the server, as a load tool would share the machine's two cores; its own
// cost shows in the fixed-handler row.
//
//	go test -run '^$' -bench E2E -benchtime 4s ./cmd/sluice/

const clients = 16

// startSluice serves one model from a fresh repository with the given
// config.yaml and returns the infer URL.
func startSluice(b *testing.B, model, src, cfg string) string {
	b.Helper()
	repo := b.TempDir()
	vdir := filepath.Join(repo, model, "1")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		b.Fatal(err)
	}
	onnx, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(vdir, "model.onnx"), onnx, 0o644)
	os.WriteFile(filepath.Join(repo, model, "config.yaml"), []byte(cfg), 0o644)
	addr := serveInBackground(b, "-repository.path", repo)
	waitReady(b, "http://"+addr+"/v2/health/ready")
	return "http://" + addr + "/v2/models/" + model + "/infer"
}

func waitReady(b *testing.B, url string) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, _, err := fasthttp.Get(nil, url); err == nil && code == 200 {
			return
		}
	}
	b.Fatalf("%s never became ready", url)
}

// binaryRequest is a Triton binary-tensor request for one FP32 input.
func binaryRequest(name string, shape []int64) (body []byte, headerLen int) {
	n := tensor.Elements(shape)
	h := fmt.Sprintf(`{"inputs":[{"name":%q,"shape":%s,"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`,
		name, tensor.FormatShape(shape), 4*n)
	body = append([]byte(h), make([]byte, 4*n)...)
	for i := len(h); i < len(body); i += 4 {
		body[i+2], body[i+3] = 0x80, 0x3e // 0.25
	}
	return body, len(h)
}

// drive runs call b.N times from c workers and returns each call's latency.
func drive(b *testing.B, c int, newCall func() func() error) ([]time.Duration, time.Duration) {
	var mu, next sync.Mutex
	var lat []time.Duration
	left := b.N
	b.ResetTimer()
	var wg sync.WaitGroup
	for range c {
		call := newCall()
		wg.Go(func() {
			mine := make([]time.Duration, 0, 1024)
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					break
				}
				left--
				next.Unlock()
				t := time.Now()
				if err := call(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := b.Elapsed()
	b.StopTimer()
	return lat, elapsed
}

// load sends b.N requests from c workers and reports req/s, items/s,
// p50/p99 latency and the process's CPU use per request.
func load(b *testing.B, url string, body []byte, headerLen, items, c int) {
	client := &fasthttp.Client{MaxConnsPerHost: c * 2, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	cpu0 := cpuTime()
	lat, elapsed := drive(b, c, func() func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(url)
		req.Header.SetMethod("POST")
		if headerLen >= 0 {
			req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(headerLen))
		}
		req.SetBodyRaw(body)
		return func() error {
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				return fmt.Errorf("request failed: %v %d %s", err, resp.StatusCode(), resp.Body())
			}
			return nil
		}
	})
	report(b, lat, elapsed, items, cpuTime()-cpu0)
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration, items int, cpu time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(len(lat)*items)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/req")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawORT is the ceiling: the model in-process, no HTTP, 2 single-thread
// sessions each fed by its own worker at the given batch size.
func rawORT(b *testing.B, src, input string, shape []int64, workers int) {
	ortest.Init(b) // a serve that returned destroyed the environment
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances = 2
	m, err := runtime.Load(src, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	in := tensor.Tensor{Name: input, DataType: tensor.FP32, Shape: shape, Data: make([]byte, 4*tensor.Elements(shape))}
	cpu0 := cpuTime()
	worker := 0
	lat, elapsed := drive(b, workers, func() func() error {
		inst := worker % cfg.Instances // each worker owns one instance, as the batcher's do
		worker++
		items := make([]runtime.BatchItem, 1)
		return func() error {
			items[0] = runtime.BatchItem{Inputs: []tensor.Tensor{in}}
			_, err := m.RunBatch(context.Background(), inst, items, nil)
			return err
		}
	})
	report(b, lat, elapsed, int(shape[0]), cpuTime()-cpu0)
}

// fixedHandler is the front door's ceiling: fasthttp answering a fixed v2
// response, nothing decoded, nothing run.
func fixedHandler(b *testing.B) string {
	resp := []byte(`{"model_name":"fixed","model_version":"1","outputs":[{"name":"probs","datatype":"FP32","shape":[1,4],"data":[0.25,0.25,0.25,0.25]}]}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(resp)
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String() + "/v2/models/fixed/infer"
}

func BenchmarkE2E(b *testing.B) {
	ortest.Init(b)
	ppocr := ortest.PPOCR(b)
	mlp := ortest.Fixture(b, "mlp")
	ppocrBody, ppocrHL := binaryRequest("x", []int64{1, 3, 48, 192})
	mlpBody, mlpHL := binaryRequest("x", []int64{1, 16})
	const ppocrCfg = "instances: 2\ninputs:\n  - name: x\n    dims: [-1, 3, 48, 192]\n"
	b.Run("ppocr/raw-ort-2x1-batch8", func(b *testing.B) { rawORT(b, ppocr, "x", []int64{8, 3, 48, 192}, 2) })
	b.Run("ppocr/raw-ort-2x1-batch1", func(b *testing.B) { rawORT(b, ppocr, "x", []int64{1, 3, 48, 192}, 2) })
	b.Run("ppocr/batching-on", func(b *testing.B) {
		load(b, startSluice(b, "ppocr-cls", ppocr, ppocrCfg+"max_batch_size: 16\n"), ppocrBody, ppocrHL, 1, clients)
	})
	b.Run("ppocr/batching-off", func(b *testing.B) {
		load(b, startSluice(b, "ppocr-cls", ppocr, ppocrCfg+"max_batch_size: 0\n"), ppocrBody, ppocrHL, 1, clients)
	})
	b.Run("mlp/raw-ort-2x1-batch1", func(b *testing.B) { rawORT(b, mlp, "x", []int64{1, 16}, 2) })
	b.Run("mlp/fixed-fasthttp", func(b *testing.B) { load(b, fixedHandler(b), mlpBody, mlpHL, 1, clients) })
	b.Run("mlp/batching-on", func(b *testing.B) {
		load(b, startSluice(b, "mlp", mlp, "instances: 2\nmax_batch_size: 64\n"), mlpBody, mlpHL, 1, clients)
	})
	b.Run("mlp/batching-off", func(b *testing.B) {
		load(b, startSluice(b, "mlp", mlp, "instances: 2\nmax_batch_size: 0\n"), mlpBody, mlpHL, 1, clients)
	})
	b.Run("ppocr/1-client/batching-on", func(b *testing.B) {
		load(b, startSluice(b, "ppocr-cls", ppocr, ppocrCfg+"max_batch_size: 16\n"), ppocrBody, ppocrHL, 1, 1)
	})
	b.Run("ppocr/1-client/batching-off", func(b *testing.B) {
		load(b, startSluice(b, "ppocr-cls", ppocr, ppocrCfg+"max_batch_size: 0\n"), ppocrBody, ppocrHL, 1, 1)
	})
	b.Run("ppocr/1-client/raw-ort", func(b *testing.B) { rawORT(b, ppocr, "x", []int64{1, 3, 48, 192}, 1) })
}
