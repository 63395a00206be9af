package autoscale

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// TracePoint is a request rate from a time on.
type TracePoint struct {
	At   time.Duration
	Rate float64 // calls per second
}

// ReadTrace reads "seconds,rate" lines (a header line and # comments are
// skipped); the rate holds until the next point.
func ReadTrace(r io.Reader) ([]TracePoint, error) {
	var out []TracePoint
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		a, b, ok := strings.Cut(l, ",")
		sec, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
		rate, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
		if !ok || err1 != nil || err2 != nil {
			if line == 1 {
				continue // a header
			}
			return nil, fmt.Errorf("trace line %d: %q, expected seconds,rate", line, l)
		}
		if rate < 0 || (len(out) > 0 && time.Duration(sec*float64(time.Second)) <= out[len(out)-1].At) {
			return nil, fmt.Errorf("trace line %d: times must increase and rates be 0 or more", line)
		}
		out = append(out, TracePoint{time.Duration(sec * float64(time.Second)), rate})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("trace: no points")
	}
	return out, sc.Err()
}

// Replica is what one replica can do, for the simulation.
type Replica struct {
	Rate        float64       // calls per second it serves at most
	ServiceTime time.Duration // one call's time at light load
}

// Step is one tick of a simulation.
type Step struct {
	At          time.Duration
	Rate        float64
	Concurrency float64 // calls in flight and queued, over all replicas
	Ready       int
	Decision    Decision
}

// Simulate replays a trace through the recommender from start ready
// replicas, one decision per tick;
// replicas become ready one tick after they are recommended (activation
// from zero too). The load model: calls in flight are rate × service time
// (Little's law), plus a backlog that grows while the rate exceeds what the
// ready replicas serve and drains when it falls below.
func Simulate(cfg Config, trace []TracePoint, rep Replica, start int, until, tick time.Duration) []Step {
	stable, panicW := NewWindow(cfg.StableWindow), NewWindow(cfg.StableWindow)
	epoch := time.Unix(0, 0)
	var st State
	var out []Step
	ready, backlog := start, 0.0
	var lastArrival time.Time
	for t := time.Duration(0); t <= until; t += tick {
		now := epoch.Add(t)
		rate := rateAt(trace, t)
		served := float64(ready) * rep.Rate
		backlog = math.Max(0, backlog+(rate-served)*tick.Seconds())
		conc := rate*rep.ServiceTime.Seconds() + backlog
		if rate > 0 {
			lastArrival = now
		}
		stable.Add(now, conc)
		panicW.Add(now, conc)
		s := Signals{StableConcurrency: stable.Average(now, cfg.StableWindow), PanicConcurrency: panicW.Average(now, cfg.PanicWindow),
			Capacity: rep.Rate * rep.ServiceTime.Seconds(), ReadyReplicas: ready, LastArrival: lastArrival}
		var d Decision
		d, st = Decide(now, cfg, s, st)
		out = append(out, Step{At: t, Rate: rate, Concurrency: conc, Ready: ready, Decision: d})
		ready = d.Desired
	}
	return out
}

func rateAt(trace []TracePoint, t time.Duration) float64 {
	r := 0.0
	for _, p := range trace {
		if p.At > t {
			break
		}
		r = p.Rate
	}
	return r
}

// WriteCSV writes a simulation as CSV.
func WriteCSV(w io.Writer, steps []Step) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"seconds", "rate", "concurrency", "ready", "desired", "panic", "target_per_replica"})
	for _, s := range steps {
		cw.Write([]string{strconv.FormatFloat(s.At.Seconds(), 'f', 1, 64), strconv.FormatFloat(s.Rate, 'f', 1, 64),
			strconv.FormatFloat(s.Concurrency, 'f', 2, 64), strconv.Itoa(s.Ready), strconv.Itoa(s.Decision.Desired),
			strconv.FormatBool(s.Decision.Panic), strconv.FormatFloat(s.Decision.Target, 'f', 2, 64)})
	}
	cw.Flush()
	return cw.Error()
}
