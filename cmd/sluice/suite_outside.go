package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/bench"
	"github.com/sluice-serving/sluice/client"
)

// make bench measures every server as a process of its own: the load comes
// from this process (the harness) or from wrk, and the server's CPU is read
// from /proc, so its CPU per call is its own. Each row runs suiteRuns
// times; tables give the median and the range.
const suiteRuns = 3

// process is a child process serving HTTP (and gRPC for `sluice serve`).
type process struct {
	addr, grpcAddr string
	pid            int
	stop           func()
}

// startProcess runs this binary with args as a child whose JSON log says
// where it serves (its "serving KServe v2" line), and returns once it has.
func startProcess(ctx context.Context, args ...string) (*process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	logs := &addrLog{addr: make(chan string, 1)}
	cmd.Stderr, cmd.Stdout = logs, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	select {
	case addr := <-logs.addr:
		return &process{addr: addr, grpcAddr: logs.grpcAddr(), pid: cmd.Process.Pid, stop: stop}, nil
	case err := <-exited:
		return nil, fmt.Errorf("%s exited before serving: %v", args[0], err)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	case <-time.After(2 * time.Minute):
		stop()
		return nil, fmt.Errorf("%s did not say where it serves within 2 minutes", args[0])
	}
}

// serveRepo starts `sluice serve` over a fresh repository holding model's
// files from src, with config as its config.yaml ("" keeps src's).
func serveRepo(ctx context.Context, model, src, config string) (*process, func(), error) {
	repo, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(repo) }
	if err := os.CopyFS(filepath.Join(repo, model), os.DirFS(src)); err != nil {
		cleanup()
		return nil, nil, err
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(repo, model, "config.yaml"), []byte(config), 0o644); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	p, err := startProcess(ctx, "serve", "-server.addr", "127.0.0.1:0", "-server.grpc_addr", "127.0.0.1:0", "-repository.path", repo,
		"-repository.control_mode", "none", "-log.format", "json", "-log.level", "info")
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return p, func() { p.stop(); cleanup() }, nil
}

// series is one row's runs.
type series struct {
	label   string
	results []*bench.Result
}

// stat is a median with its range.
type stat struct{ med, lo, hi float64 }

func statOf(vs []float64) stat {
	if len(vs) == 0 {
		return stat{}
	}
	s := slices.Sorted(slices.Values(vs))
	return stat{s[len(s)/2], s[0], s[len(s)-1]}
}

func (s series) stat(f func(*bench.Result) float64) stat {
	var vs []float64
	for _, r := range s.results {
		vs = append(vs, f(r))
	}
	return statOf(vs)
}

// ratio is a/b run by run (the i-th run of each, measured side by side).
func ratio(a, b series, fa, fb func(*bench.Result) float64) stat {
	var vs []float64
	for i := range min(len(a.results), len(b.results)) {
		if d := fb(b.results[i]); d > 0 {
			vs = append(vs, fa(a.results[i])/d)
		}
	}
	return statOf(vs)
}

func (s stat) fmt(format string) string {
	return fmt.Sprintf(format+" ["+format+"–"+format+"]", s.med, s.lo, s.hi)
}

var (
	okPerSec  = func(r *bench.Result) float64 { return r.Throughput }
	p50       = func(r *bench.Result) float64 { return r.Latency.P50 }
	p99       = func(r *bench.Result) float64 { return r.Latency.P99 }
	serverCPU = func(r *bench.Result) float64 {
		if r.ServerCPU == nil {
			return 0
		}
		return r.ServerCPU.PerCallUS
	}
)

// measure runs cfg suiteRuns times against the process pid.
func (s *suite) measure(ctx context.Context, label string, pid int, cfg bench.Config) (series, error) {
	out := series{label: label}
	cfg.Label, cfg.ServerPID = label, pid
	for i := range suiteRuns {
		s.step("%s, run %d of %d", label, i+1, suiteRuns)
		r, err := bench.Run(ctx, cfg, nil)
		if err != nil {
			return out, err
		}
		out.results = append(out.results, r)
	}
	return out, nil
}

// closedRow serves model and measures conc closed-loop callers of batch
// rows over protocol, suiteRuns times.
func (s *suite) closedRow(ctx context.Context, label, model, src, config string, conc int, batch int64, protocol string) (series, error) {
	return s.served(ctx, label, model, src, config, protocol, conc, batch, func(cfg bench.Config, pid int) (series, error) {
		return s.measure(ctx, label, pid, cfg)
	})
}

// served starts model's server and hands run a closed-loop configuration
// over protocol with inputs made from the model's metadata.
func (s *suite) served(ctx context.Context, label, model, src, config, protocol string, conc int, batch int64, run func(bench.Config, int) (series, error)) (series, error) {
	p, stop, err := serveRepo(ctx, model, src, config)
	if err != nil {
		return series{}, err
	}
	defer stop()
	c := client.New("http://"+p.addr, conc*2)
	defer c.CloseIdle()
	if err := waitFor(ctx, c); err != nil {
		return series{}, err
	}
	var transport interface {
		bench.Transport
		bench.Metadata
	} = c
	if protocol == "grpc" {
		g, err := client.DialGRPC(p.grpcAddr, max(1, conc/128))
		if err != nil {
			return series{}, err
		}
		defer g.Close()
		transport = g
	}
	cfg := s.benchConfig(transport, model, conc)
	shapes := map[string][]int64{}
	if model == "ppocr-cls" {
		shapes["x"] = []int64{batch, 3, 48, 192}
	}
	if cfg.Inputs, err = bench.RandomInputs(ctx, transport, model, "", batch, shapes); err != nil {
		return series{}, err
	}
	return run(cfg, p.pid)
}

// fixedAnswer is the v2 answer of student-success the fixed handler gives
// every call: the front door's ceiling, a handler that does nothing.
const fixedAnswer = `{"model_name":"student-success","model_version":"1","outputs":[{"name":"probability","datatype":"FP32","shape":[1,1],"data":[0.5]},{"name":"label","datatype":"INT64","shape":[1,1],"data":[0]}]}`

// fixedHandlerCmd is `sluice bench fixed-handler`: a bare fasthttp server
// that answers every infer call with fixedAnswer and the metadata calls
// the harness makes, for make bench to measure as a process of its own.
func fixedHandlerCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice bench fixed-handler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "host:port to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	meta := []byte(`{"name":"student-success","versions":["1"],"platform":"onnxruntime_onnx","inputs":[{"name":"features","datatype":"FP32","shape":[-1,8]}],"outputs":[]}`)
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		c.SetContentType("application/json")
		switch {
		case bytes.HasSuffix(c.Path(), []byte("/infer")):
			c.SetBodyString(fixedAnswer)
		case bytes.HasSuffix(c.Path(), []byte("/stats")):
			c.SetBodyString(`{"model_stats":[]}`)
		default:
			c.SetBody(meta)
		}
	}}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	log.Info("serving KServe v2", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return srv.Shutdown()
	}
}

// fixedRow measures the fixed handler as a process of its own.
func (s *suite) fixedRow(ctx context.Context, label string, conc int) (series, *process, error) {
	p, err := startProcess(ctx, "bench", "fixed-handler")
	if err != nil {
		return series{}, nil, err
	}
	c := client.New("http://"+p.addr, conc*2)
	defer c.CloseIdle()
	cfg := s.benchConfig(c, "student-success", conc)
	if cfg.Inputs, err = bench.RandomInputs(ctx, c, "student-success", "", 1, nil); err != nil {
		p.stop()
		return series{}, nil, err
	}
	out, err := s.measure(ctx, label, p.pid, cfg)
	return out, p, err
}

// wrkResult is one wrk run against a server process: its rate, and the
// server's CPU per call from /proc.
type wrkResult struct {
	rate, cpuPerCallUS float64
}

// wrkRuns drives addr's student-success with wrk (JSON calls, one thread,
// conns connections) suiteRuns times; none when wrk is not installed.
func (s *suite) wrkRuns(addr string, pid, conns int) ([]wrkResult, error) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		return nil, nil
	}
	script, err := os.CreateTemp("", "wrk-*.lua")
	if err != nil {
		return nil, err
	}
	defer os.Remove(script.Name())
	fmt.Fprintf(script, "wrk.method = \"POST\"\nwrk.body = '{\"inputs\":[{\"name\":\"features\",\"shape\":[1,8],\"datatype\":\"FP32\",\"data\":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]}]}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n")
	script.Close()
	var out []wrkResult
	for range suiteRuns {
		c0 := bench.ProcessCPU(pid)
		b, err := exec.Command(path, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", max(2, int(3*s.window/time.Second))), "-s", script.Name(),
			"http://"+addr+"/v2/models/student-success/infer").CombinedOutput()
		c1 := bench.ProcessCPU(pid)
		if err != nil {
			return nil, fmt.Errorf("wrk: %v\n%s", err, b)
		}
		var rate float64
		var reqs int64
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if v, ok := strings.CutPrefix(l, "Requests/sec:"); ok {
				rate, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
			}
			if f := strings.Fields(l); len(f) > 2 && f[1] == "requests" && f[2] == "in" {
				reqs, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
		if reqs == 0 {
			return nil, fmt.Errorf("wrk answered no request count:\n%s", b)
		}
		out = append(out, wrkResult{rate: rate, cpuPerCallUS: (c1 - c0).Seconds() / float64(reqs) * 1e6})
	}
	return out, nil
}
