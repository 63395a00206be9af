package autoscale

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// rep serves 100 calls/s at 20 ms a call: 2 calls in flight at capacity,
// so the default target is 1.4 per replica.
var rep = Replica{Rate: 100, ServiceTime: 20 * time.Millisecond}

func simulate(t *testing.T, trace string, start int, until time.Duration) []Step {
	t.Helper()
	tr, err := ReadTrace(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	return Simulate(DefaultConfig(), tr, rep, start, until, time.Second)
}

// spike: 300 calls/s steady, then 3× from 120 s to 180 s, then back.
const spike = "seconds,rate\n0,300\n120,900\n180,300\n"

func TestSpikeEntersPanicWithinSixSeconds(t *testing.T) {
	steps := simulate(t, spike, 5, 400*time.Second)
	for _, s := range steps[:120] {
		if s.Decision.Panic {
			t.Fatalf("panic at %v before the spike", s.At)
		}
	}
	entered := time.Duration(-1)
	for _, s := range steps[120:] {
		if s.Decision.Panic {
			entered = s.At - 120*time.Second
			break
		}
	}
	if entered < 0 || entered > 6*time.Second {
		t.Errorf("entered panic %v after the spike, want within 6 s", entered)
	}
}

func TestNoScaleDownDuringPanicAndOnlyAfterTheStableWindow(t *testing.T) {
	steps := simulate(t, spike, 5, 400*time.Second)
	for i, s := range steps {
		if i > 0 && s.Decision.Panic && s.Decision.Desired < steps[i-1].Decision.Desired {
			t.Fatalf("scaled down from %d to %d at %v while in panic", steps[i-1].Decision.Desired, s.Decision.Desired, s.At)
		}
	}
	// The spike's steady need: 900 calls/s × 20 ms = 18 in flight, over a
	// target of 1.4 per replica. Until a stable window has passed since the
	// load fell, the recommendation stays at least there.
	spikeNeed := 13
	settled := 0
	for _, s := range steps {
		since := s.At - 180*time.Second
		if since > 0 && since < DefaultConfig().StableWindow && s.Decision.Desired < spikeNeed {
			t.Errorf("%v after the load fell: %d replicas, below the spike's %d before the stable window passed", since, s.Decision.Desired, spikeNeed)
		}
		if s.At == 400*time.Second {
			settled = s.Decision.Desired
		}
	}
	if settled >= spikeNeed || settled < 3 {
		t.Errorf("after the stable window: %d replicas, want back near the steady load's need", settled)
	}
	t.Logf("settled at %d replicas", settled)
}

func TestScaleToZeroAfterGraceAndFromZeroOnFirstCall(t *testing.T) {
	steps := simulate(t, "0,50\n30,0\n200,1\n", 1, 260*time.Second)
	zeroAt := time.Duration(-1)
	for _, s := range steps {
		if s.Decision.Desired == 0 && zeroAt < 0 {
			zeroAt = s.At
		}
	}
	if zeroAt < 0 {
		t.Fatal("never scaled to zero")
	}
	if idleFor := zeroAt - 30*time.Second; idleFor < DefaultConfig().ScaleToZeroGrace {
		t.Errorf("scaled to zero %v after the last call, before the %v grace", idleFor, DefaultConfig().ScaleToZeroGrace)
	}
	for _, s := range steps {
		if s.At == 200*time.Second && (s.Ready != 0 || s.Decision.Desired < 1) {
			t.Errorf("first call at zero replicas: ready %d, desired %d; want a replica at once", s.Ready, s.Decision.Desired)
		}
	}
	t.Logf("scaled to zero at %v", zeroAt)
}

func TestLimitsAndRates(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinReplicas, cfg.MaxReplicas, cfg.MaxScaleDownRate = 2, 10, 2
	now := time.Unix(1000, 0)
	d, _ := Decide(now, cfg, Signals{StableConcurrency: 1000, PanicConcurrency: 1000, Capacity: 2, ReadyReplicas: 4, LastArrival: now}, State{})
	if d.Desired != 10 || !d.Panic {
		t.Errorf("overload: %+v, want max replicas 10 in panic", d)
	}
	d, _ = Decide(now, cfg, Signals{StableConcurrency: 0.1, PanicConcurrency: 0.1, Capacity: 2, ReadyReplicas: 8, LastArrival: now}, State{Desired: 8})
	if d.Desired != 4 {
		t.Errorf("scale down from 8: %d, want 4 (max_scale_down_rate 2)", d.Desired)
	}
	d, _ = Decide(now, cfg, Signals{Capacity: 2, ReadyReplicas: 2}, State{})
	if d.Desired != 2 {
		t.Errorf("idle with min 2: %d", d.Desired)
	}
	if DefaultConfig().Validate() != nil {
		t.Error("defaults invalid")
	}
	bad := DefaultConfig()
	bad.PanicWindow = 2 * bad.StableWindow
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "panic_window") {
		t.Errorf("panic window past the stable one: %v", err)
	}
}

func TestTraceAndOutputs(t *testing.T) {
	if _, err := ReadTrace(strings.NewReader("0,10\n5,x\n")); err == nil {
		t.Error("a bad rate was accepted")
	}
	if _, err := ReadTrace(strings.NewReader("5,10\n1,10\n")); err == nil {
		t.Error("times going back were accepted")
	}
	steps := simulate(t, spike, 5, 60*time.Second)
	var csv, svg bytes.Buffer
	if err := WriteCSV(&csv, steps); err != nil || strings.Count(csv.String(), "\n") != len(steps)+1 {
		t.Errorf("csv: %v, %d lines for %d steps", err, strings.Count(csv.String(), "\n"), len(steps))
	}
	if err := WriteSVG(&svg, steps, rep); err != nil || !strings.Contains(svg.String(), "<svg") {
		t.Errorf("svg: %v", err)
	}
}
