// Command sluice is the one Sluice binary. `sluice serve` runs the gateway;
// it owns the root context, the logger and the order of shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluice-serving/sluice/autoscale"
	"github.com/sluice-serving/sluice/config"
	"github.com/sluice-serving/sluice/coordination"
	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/grpcserver"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/rollout"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/server"
)

// drainTime bounds each step of shutdown: finishing HTTP requests in
// flight, then draining the model queues.
const drainTime = 10 * time.Second

const usage = `sluice: a model-serving gateway speaking the KServe v2 protocol.

usage:
  sluice serve [flags]   serve the models in the repository (see sluice serve -help)
  sluice bench [flags]   load-test a running server (see sluice bench -help)
  sluice bench suite     the side-by-side benchmark that make bench runs
  sluice soak [flags]    mixed load on a supervised server while it is reloaded, rolled out and restarted; make soak
  sluice autoscale simulate -trace FILE
                         replay a rate trace through the replica recommender
  sluice rollout ACTION MODEL
                         start|status|promote|pause|resume|abort a canary rollout
  sluice pipeline STAGE [flags]
                         gen-data|prep|train|export|evaluate|publish|run|watch|replay: train, publish and retrain student-success
  sluice doctor [flags]  what ONNX Runtime, the GPUs and CUDA libraries offer each model (serve's flags)
  sluice version         print the version
`

func main() {
	if err := run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}

func run(args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, args[1:], environ, stderr)
	case "bench":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "autoscale":
		return autoscaleCmd(args[1:], stdout, stderr)
	case "pipeline":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return pipelineCmd(ctx, args[1:], environ, stdout, stderr)
	case "soak":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return soakCmd(ctx, args[1:], environ, stdout, stderr)
	case "rollout":
		return rolloutCmd(context.Background(), args[1:], environ, stdout, stderr)
	case "doctor":
		return doctorCmd(args[1:], environ, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "sluice", server.Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// loadConfig parses a command's flags over the file and environment;
// help is true when the caller asked for the flags' help, which is printed.
func loadConfig(command string, args, environ []string, stderr io.Writer) (cfg config.Config, help bool, err error) {
	fs := flag.NewFlagSet("sluice "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Flags(fs)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return cfg, true, nil
	} else if err != nil {
		return cfg, false, err
	}
	cfg, err = config.Load(fs, environ)
	return cfg, false, err
}

func serve(ctx context.Context, args, environ []string, stderr io.Writer) error {
	cfg, help, err := loadConfig("serve", args, environ, stderr)
	if help || err != nil {
		return err
	}
	log, level := newLogger(cfg.Log, stderr)
	runtime.SetLogger(log) // a provider that falls back to the CPU says so here
	lib, err := initRuntime(cfg.Runtime.Library)
	if err != nil {
		return err
	}
	defer runtime.Shutdown()
	log.Info("onnx runtime loaded", "version", runtime.Version(), "library", lib)

	return runServe(ctx, cfg, log, level)
}

// runServe opens the port first, so probes meet a starting server (live
// 200, ready 503) rather than a refused connection, then loads the models
// and starts the loops. Shutdown order: the server stops taking calls and
// finishes those in flight, the loops stop, the drift monitor ends its
// trigger deliveries, the rollout controller stops its shadow workers, the
// registry drains every queue, and the runtime goes last (serve's deferred
// Shutdown).
func runServe(ctx context.Context, cfg config.Config, log *slog.Logger, level *slog.LevelVar) error {
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg, err := registry.New(cfg.Repository, log, promReg)
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), drainTime)
		defer cancel()
		if err := reg.Close(dctx); err != nil {
			log.Warn("draining model queues", "err", err)
		}
	}()
	reg.CheckRolloutSpecs(rollout.CheckConfig)
	reg.CheckDriftSpecs(drift.CheckConfig)
	ctl, err := rollout.New(reg, filepath.Join(cfg.Repository.Path, ".sluice"), log, promReg)
	if err != nil {
		return err
	}
	defer ctl.Close() // before the registry drains: shadow copies stop first
	rec := autoscale.NewRecommender(cfg.Autoscale)
	if err := autoscale.Register(promReg, rec); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("server.addr: %w", err)
	}
	srv := server.New(cfg.Server, reg, ctl, promReg, log).WithAutoscale(rec)
	dcfg := cfg.Drift
	var coord *coordination.Coordinator
	if cfg.Coordination.Enabled() {
		if coord, err = coordination.New(cfg.Coordination, reg, ctl, log, promReg); err != nil {
			return err
		}
		defer coord.Close()
		ctl.WithFleet(coord)
		srv.WithFleet(coord)
		if dcfg.Source == "" {
			// One source for the fleet: CloudEvents identify an event by
			// source and id, so a new leader's retry of an episode's event
			// is the same event to a receiver that drops duplicates.
			dcfg.Source = cfg.Coordination.Prefix + "/fleet"
		}
	}
	mon, err := drift.New(reg, dcfg, filepath.Join(cfg.Repository.Path, ".sluice", "drift"), log, promReg)
	if err != nil {
		return err
	}
	defer mon.Close() // before the registry drains: trigger deliveries end first
	srv.WithDrift(mon)
	if coord != nil {
		coord.WithDrift(mon)
		mon.WithFleet(coord)
	}
	promReg.MustRegister(srv.Collectors()...)
	sctx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln, drainTime) }()
	grpcAddr, err := serveGRPC(sctx, cfg, reg, ctl, srv, promReg, log, level)
	if err != nil {
		stopServing()
		<-served
		return err
	}
	defer func() {
		stopServing()
		grpcAddr.wait()
	}()
	log.Info("serving KServe v2", "addr", ln.Addr().String(), "grpc_addr", grpcAddr.addr, "repository", cfg.Repository.Path)
	if cfg.Server.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.Server.MetricsAddr)
		if err != nil {
			stopServing()
			<-served
			return fmt.Errorf("server.metrics_addr: %w", err)
		}
		metricsDone := make(chan error, 1)
		go func() { metricsDone <- srv.ServeMetrics(sctx, mln) }()
		defer func() {
			stopServing()
			if err := <-metricsDone; err != nil {
				log.Warn("metrics address", "error", err)
			}
		}()
		log.Info("serving metrics", "metrics_addr", mln.Addr().String())
	}
	if err := reg.LoadAll(ctx); err != nil {
		stopServing()
		<-served
		return err
	}
	if coord == nil {
		ctl.Restore(ctx)
	}
	log.Info("models loaded; ready", "models", reg.Names())
	defer startLoops(ctx, cfg, reg, ctl, rec, mon, log)()
	if coord != nil {
		// The fleet's state comes from etcd: the coordinator reads and
		// applies it, then watches; it stops before the loops do.
		cctx, stopCoord := context.WithCancel(ctx)
		coordDone := make(chan struct{})
		go func() { defer close(coordDone); coord.Run(cctx) }()
		defer func() { stopCoord(); <-coordDone }()
		log.Info("coordinating through etcd", "replica", coord.Name(), "endpoints", cfg.Coordination.Endpoints, "prefix", cfg.Coordination.Prefix)
	}
	return <-served
}

// grpcDoor is the gRPC front door once started: its address ("" when
// server.grpc_addr is empty) and a wait for its drain to end.
type grpcDoor struct {
	addr string
	wait func()
}

// serveGRPC opens server.grpc_addr and serves Triton's gRPC service on it
// until ctx ends; the HTTP server lends it its access control.
func serveGRPC(ctx context.Context, cfg config.Config, reg *registry.Registry, ctl *rollout.Controller, srv *server.Server, promReg *prometheus.Registry, log *slog.Logger, level *slog.LevelVar) (grpcDoor, error) {
	if cfg.Server.GRPCAddr == "" {
		return grpcDoor{wait: func() {}}, nil
	}
	gln, err := net.Listen("tcp", cfg.Server.GRPCAddr)
	if err != nil {
		return grpcDoor{}, fmt.Errorf("server.grpc_addr: %w", err)
	}
	sc := cfg.Server
	gs, err := grpcserver.New(grpcserver.Config{
		Addr: gln.Addr().String(), MaxMessageBytes: sc.MaxBodyBytes, MaxStreams: grpcStreams,
		InferTimeout: sc.InferTimeout, ControlTimeout: sc.ControlTimeout,
		RoutingKey: strings.ToLower(sc.RoutingHeader), AccessLog: sc.AccessLog, LogLevel: level,
	}, reg, ctl, srv.Gate(), log)
	if err != nil {
		gln.Close()
		return grpcDoor{}, err
	}
	promReg.MustRegister(gs.Collectors()...)
	done := make(chan error, 1)
	go func() { done <- gs.Serve(ctx, gln, drainTime) }()
	return grpcDoor{addr: gln.Addr().String(), wait: func() {
		if err := <-done; err != nil {
			log.Warn("gRPC front door", "error", err)
		}
	}}, nil
}

// grpcStreams bounds the calls one gRPC connection runs at once, as HTTP/1.1
// runs one per connection and server.max_connections bounds those.
const grpcStreams = 256

// startLoops starts the rollout analysis, repository polling, drift
// monitoring and replica recommendation loops; the function it returns
// stops them and waits.
func startLoops(ctx context.Context, cfg config.Config, reg *registry.Registry, ctl *rollout.Controller, rec *autoscale.Recommender, mon *drift.Monitor, log *slog.Logger) func() {
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	every := func(d time.Duration, loop func(<-chan time.Time)) {
		ticker := time.NewTicker(d)
		wg.Go(func() { defer ticker.Stop(); loop(ticker.C) })
	}
	every(cfg.Repository.RolloutInterval, func(ticks <-chan time.Time) { ctl.Run(lctx, ticks) })
	every(cfg.Drift.Interval, func(ticks <-chan time.Time) { mon.Run(lctx, ticks) })
	if cfg.Repository.ControlMode == registry.ModePoll {
		every(cfg.Repository.PollInterval, func(ticks <-chan time.Time) { reg.Watch(lctx, ticks) })
	}
	every(cfg.Autoscale.Interval, func(ticks <-chan time.Time) {
		for {
			select {
			case <-lctx.Done():
				return
			case now := <-ticks:
				recommend(log, rec, reg, now)
			}
		}
	})
	every(trimInterval, func(ticks <-chan time.Time) {
		var t trimmer
		for {
			select {
			case <-lctx.Done():
				return
			case <-ticks:
				var arrivals int64
				for _, l := range modelLoads(reg) {
					arrivals += l.Arrivals
				}
				if t.tick(arrivals) {
					// Twice: pooled buffers outlive one collection.
					goruntime.GC()
					debug.FreeOSMemory()
					log.Debug("a burst of calls has passed: freed memory given back to the operating system")
				}
			}
		}
	})
	return func() { stop(); wg.Wait() }
}

// trimInterval is how often the trimmer looks; trimBurst is the calls in
// one interval that make it a burst worth trimming after.
const (
	trimInterval = time.Second
	trimBurst    = 1000
)

// trimmer decides when to give the memory a burst of calls left behind
// back to the operating system: once, in the first quiet interval after a
// burst (the interval in which the burst tails off may still see a few
// calls). The Go runtime keeps freed heap, and the server's pools their
// buffers, for the next burst, returning them only slowly; a server whose
// burst has passed should look its size again.
type trimmer struct {
	last  int64 // arrivals at the last tick
	burst bool  // a burst since the last trim
}

func (t *trimmer) tick(arrivals int64) (trim bool) {
	n := arrivals - t.last
	t.last = arrivals
	if n >= trimBurst {
		t.burst = true
	}
	if n == 0 && t.burst {
		t.burst = false
		return true
	}
	return false
}

// recommend is one recommender tick; a panic in it is logged and the next
// tick tries again, rather than ending the process.
func recommend(log *slog.Logger, rec *autoscale.Recommender, reg *registry.Registry, now time.Time) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("replica recommendation panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	rec.Tick(now, modelLoads(reg))
}

// modelLoads sums each model's versions into what the recommender reads.
func modelLoads(reg *registry.Registry) []autoscale.ModelLoad {
	var out []autoscale.ModelLoad
	for _, name := range reg.Names() {
		vs, err := reg.Versions(name)
		if err != nil {
			continue
		}
		l := autoscale.ModelLoad{Model: name}
		for _, v := range vs {
			st := v.Stats()
			l.InFlight += st.InFlight()
			l.Queued += st.Queued()
			l.Arrivals += st.Arrivals.Load()
			l.Rows += st.InferenceCount.Load()
			l.Busy += time.Duration(st.Busy.Load())
			l.Instances += v.Instances()
		}
		out = append(out, l)
	}
	return out
}

// initRuntime loads the ONNX Runtime library libraryPath finds and
// returns its path.
func initRuntime(configured string) (string, error) {
	lib, err := libraryPath(configured)
	if err != nil {
		return "", err
	}
	return lib, runtime.Init(lib)
}

// libraryPath is the configured library, else the `make ort` copy found from
// the working folder or from the binary's folder.
func libraryPath(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	p, err := runtime.FindLibrary(".")
	if err == nil {
		return p, nil
	}
	if exe, xerr := os.Executable(); xerr == nil {
		if p, xerr := runtime.FindLibrary(filepath.Dir(exe)); xerr == nil {
			return p, nil
		}
	}
	return "", err
}

// newLogger is the process log, with its level in a LevelVar so that the
// gRPC door's LogSettings can change it while serving.
func newLogger(c config.LogConfig, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}
