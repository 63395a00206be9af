package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sluice-serving/sluice/autoscale"
)

const autoscaleUsage = `usage: sluice autoscale simulate -trace FILE [flags]

Replays a request-rate trace (lines "seconds,rate") through the replica
recommender and writes a CSV and an SVG plot of load, replicas and panic.
The capacity per replica comes from -replica-rate, e.g. the saturated
throughput sluice bench measured for one replica.
`

func autoscaleCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "simulate" {
		fmt.Fprint(stderr, autoscaleUsage)
		return errors.New("autoscale: expected the simulate command")
	}
	fs := flag.NewFlagSet("sluice autoscale simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	trace := fs.String("trace", "", "request-rate trace, seconds,rate per line (required)")
	rate := fs.Float64("replica-rate", 100, "calls per second one replica serves at most (measure it with sluice bench)")
	service := fs.Duration("service-time", 20*time.Millisecond, "one call's time at light load")
	start := fs.Int("start", -1, "replicas ready at the start (default: what the trace's first rate needs)")
	until := fs.Duration("duration", 0, "how long to simulate (default: the trace's last point plus two stable windows)")
	csvOut := fs.String("csv", "autoscale.csv", "CSV output")
	svgOut := fs.String("svg", "autoscale.svg", "SVG plot output")
	cfg := autoscale.DefaultConfig()
	fs.Float64Var(&cfg.TargetUtilization, "target-utilization", cfg.TargetUtilization, "share of a replica's capacity to target")
	fs.Float64Var(&cfg.TargetConcurrency, "target-concurrency", 0, "target calls in flight per replica (0: target-utilization × capacity)")
	fs.DurationVar(&cfg.StableWindow, "stable-window", cfg.StableWindow, "stable averaging window")
	fs.DurationVar(&cfg.PanicWindow, "panic-window", cfg.PanicWindow, "panic averaging window")
	fs.Float64Var(&cfg.PanicThreshold, "panic-threshold", cfg.PanicThreshold, "multiple of the target that starts panic")
	fs.IntVar(&cfg.MinReplicas, "min-replicas", cfg.MinReplicas, "fewest replicas")
	fs.IntVar(&cfg.MaxReplicas, "max-replicas", cfg.MaxReplicas, "most replicas")
	fs.DurationVar(&cfg.ScaleToZeroGrace, "scale-to-zero-grace", cfg.ScaleToZeroGrace, "idle time before zero replicas")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *trace == "" {
		return errors.New("autoscale simulate: -trace is required")
	}
	f, err := os.Open(*trace)
	if err != nil {
		return err
	}
	points, err := autoscale.ReadTrace(f)
	f.Close()
	if err != nil {
		return err
	}
	if *until == 0 {
		*until = points[len(points)-1].At + 2*cfg.StableWindow
	}
	rep := autoscale.Replica{Rate: *rate, ServiceTime: *service}
	if *start < 0 {
		d, _ := autoscale.Decide(time.Unix(0, 0), cfg, autoscale.Signals{StableConcurrency: points[0].Rate * service.Seconds(),
			Capacity: *rate * service.Seconds(), ReadyReplicas: 1, LastArrival: time.Unix(0, 0)}, autoscale.State{})
		*start = d.StableWanted
	}
	steps := autoscale.Simulate(cfg, points, rep, *start, *until, time.Second)
	if err := writeFile(*csvOut, func(w io.Writer) error { return autoscale.WriteCSV(w, steps) }); err != nil {
		return err
	}
	if err := writeFile(*svgOut, func(w io.Writer) error { return autoscale.WriteSVG(w, steps, rep) }); err != nil {
		return err
	}
	summarize(stdout, steps)
	fmt.Fprintf(stdout, "wrote %s and %s\n", *csvOut, *svgOut)
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// summarize prints each change of the recommendation.
func summarize(w io.Writer, steps []autoscale.Step) {
	prev, panicking := -1, false
	for _, s := range steps {
		d := s.Decision
		if d.Desired != prev || d.Panic != panicking {
			fmt.Fprintf(w, "%6.0fs  load %6.0f/s  ready %3d  desired %3d  panic %v\n", s.At.Seconds(), s.Rate, s.Ready, d.Desired, d.Panic)
			prev, panicking = d.Desired, d.Panic
		}
	}
}
