package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/sluice-serving/sluice/bench"
)

// watchCmd is `sluice bench watch`, the prober of an overload measurement
// run as a process of its own, so that the load generator's thousands of
// goroutines do not delay the probes it times: it probes and samples the
// server until its standard input closes, then writes what it saw as JSON.
func watchCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice bench watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	w := bench.WatchConfig{}
	fs.StringVar(&w.URL, "url", "http://127.0.0.1:8000", "server base URL")
	fs.StringVar(&w.Model, "model", "", "model whose instances' busy time is read")
	fs.DurationVar(&w.ProbeEvery, "probe-every", bench.DefaultOverload().ProbeEvery, "readiness probe period")
	fs.DurationVar(&w.SampleEvery, "sample-every", bench.DefaultOverload().SampleEvery, "memory and goroutine sampling period")
	fs.IntVar(&w.ServerPID, "server-pid", 0, "the server's process id, to read its memory from /proc")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The parent closes our input when its load ends; an error ends
		// the watch the same way.
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	res, err := bench.Watch(ctx, w)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// processWatcher runs the overload's watcher as `sluice bench watch` in a
// child process until ctx ends.
func processWatcher(ctx context.Context, w bench.WatchConfig) (*bench.WatchResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "bench", "watch", "-url", w.URL, "-model", w.Model,
		"-probe-every", w.ProbeEvery.String(), "-sample-every", w.SampleEvery.String(), "-server-pid", strconv.Itoa(w.ServerPID))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	<-ctx.Done()
	in.Close()
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("sluice bench watch: %v: %s", err, errs.Bytes())
	}
	var res bench.WatchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("sluice bench watch wrote %q: %v", out.Bytes(), err)
	}
	return &res, nil
}
