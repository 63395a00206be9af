package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-serving/sluice/pipeline"
)

// childGrace is how long a pipeline run may take to stop after it was
// asked to (SIGTERM) before it is killed.
const childGrace = 10 * time.Second

// pipelineWatch is `sluice pipeline watch`: it runs `sluice pipeline run`
// with the flags after "--" on the newest data file whenever a file lands
// in -data-dir or a CloudEvent (the gateway's drift trigger, or any other)
// arrives at -listen; runs go one at a time and at most one per -cooldown.
// The event receiver takes SLUICE_DRIFT_WEBHOOK_TOKEN, when set, as the
// bearer token events must carry: the one the gateway's drift webhook
// sends.
func pipelineWatch(ctx context.Context, args, environ []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice pipeline watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: sluice pipeline watch -data-dir DIR [flags] -- <flags of sluice pipeline run, without -data>")
		fs.PrintDefaults()
	}
	cfg := pipeline.DefaultWatchConfig()
	fs.StringVar(&cfg.Folder, "data-dir", "", "folder new data files land in; each run trains on the newest")
	fs.StringVar(&cfg.Pattern, "pattern", cfg.Pattern, "names of data files in -data-dir")
	fs.DurationVar(&cfg.Poll, "poll", cfg.Poll, "how often -data-dir is read")
	fs.DurationVar(&cfg.Cooldown, "cooldown", cfg.Cooldown, "the least time between the starts of two runs; triggers within it are merged into one run")
	listen := fs.String("listen", "127.0.0.1:8090", "address of the CloudEvents receiver (empty: watch the folder only)")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("-log-format: %q, expected text or json", *format)
	}
	runArgs := fs.Args()
	if err := checkRunArgs(runArgs, environ); err != nil {
		return err
	}
	cfg.Token = envValue(environ, "SLUICE_DRIFT_WEBHOOK_TOKEN")
	if abs, err := filepath.Abs(cfg.Folder); err == nil && cfg.Folder != "" {
		cfg.Folder = abs // the runs' -data, whatever the child's working folder
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	log := watchLogger(*format, stderr)
	w, err := pipeline.NewWatcher(cfg, childRunner(exe, runArgs, log), log)
	if err != nil {
		return err
	}
	stop, err := receiveEvents(*listen, w.Handler(), log)
	if err != nil {
		return err
	}
	defer stop()
	ticker := time.NewTicker(cfg.Poll)
	defer ticker.Stop()
	if err := w.Run(ctx, ticker.C); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// checkRunArgs refuses, at start rather than at the first run, flags that
// `sluice pipeline run` would refuse, and -data, which the watcher sets.
func checkRunArgs(runArgs, environ []string) error {
	for _, a := range runArgs {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "data" {
			return errors.New("watch: -data after --: the watcher passes the newest file of -data-dir, expected the other flags of sluice pipeline run")
		}
	}
	var msgs bytes.Buffer
	cfg, _, help, err := pipelineFlags("run", append(append([]string(nil), runArgs...), "-data", "newest"), environ, &msgs)
	if err == nil && !help {
		err = cfg.Validate()
	}
	if err != nil || help {
		return fmt.Errorf("watch: the flags after -- for sluice pipeline run: %v %s", err, strings.TrimSpace(msgs.String()))
	}
	return nil
}

func watchLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// receiveEvents serves the watcher's CloudEvents receiver on addr until
// stop is called; an empty addr serves nothing.
func receiveEvents(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		log.Info("no CloudEvents receiver: -listen is empty")
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("receiving CloudEvents", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), drainTime)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("stopping the CloudEvents receiver", "err", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			log.Warn("CloudEvents receiver", "err", err)
		}
	}, nil
}

// childRunner runs `exe pipeline run RUNARGS -data FILE` for a trigger,
// with the child's output in log line by line. When ctx ends the child is
// asked to stop (SIGTERM, which its pipeline honours), and killed if it
// has not after childGrace.
func childRunner(exe string, runArgs []string, log *slog.Logger) func(context.Context, pipeline.Trigger) error {
	return func(ctx context.Context, t pipeline.Trigger) error {
		args := append(append([]string{"pipeline", "run"}, runArgs...), "-data", t.File)
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = childGrace
		clog := log.With("id", t.ID)
		stdout, stderr := &childLog{log: clog, stream: "stdout"}, &childLog{log: clog, stream: "stderr"}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		clog.Info("starting sluice pipeline run", "args", strings.Join(args[2:], " "))
		err := cmd.Run()
		stdout.flush()
		stderr.flush()
		if err != nil {
			return fmt.Errorf("sluice pipeline run: %w", err)
		}
		return nil
	}
}

// maxChildLine bounds a line of the child's output held before it is logged.
const maxChildLine = 64 << 10

// childLog logs what a child writes, a line at a time. exec copies each
// stream in a goroutine of its own, so each stream has its own childLog and
// none is written concurrently.
type childLog struct {
	log    *slog.Logger
	stream string
	rest   []byte // the start of a line not yet ended
}

func (l *childLog) Write(p []byte) (int, error) {
	eachLine(&l.rest, p, l.emit)
	if len(l.rest) > maxChildLine {
		l.flush()
	}
	if len(l.rest) == 0 {
		l.rest = nil // let a long line's buffer go
	}
	return len(p), nil
}

func (l *childLog) flush() {
	if len(l.rest) > 0 {
		l.emit(l.rest)
		l.rest = nil
	}
}

func (l *childLog) emit(line []byte) {
	l.log.Info("pipeline run", "stream", l.stream, "line", string(bytes.TrimRight(line, "\r")))
}
