package soak

import (
	"context"
	"time"

	"github.com/sluice-serving/sluice/client"
)

// The actions the soak cycles through, one per cfg.ActionEvery: both
// models reloaded through the repository API, a rollout of student-success
// started and promoted, another started and aborted, and a restart.
var actionCycle = []string{
	"reload ppocr-cls", "rollout start", "reload student-success", "rollout promote",
	"rollout start", "rollout abort", "restart",
}

// Actions lists the action cycle in order.
func Actions() []string { return append([]string(nil), actionCycle...) }

// act runs the action cycle until ctx ends.
func (s *soaker) act(ctx context.Context) {
	tick := time.NewTicker(s.cfg.ActionEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// An action under way when the soak ends runs to its end: a
		// restart cut in half would leave no server to stop.
		name := actionCycle[i%len(actionCycle)]
		err := s.action(context.WithoutCancel(ctx), name)
		s.rep.acted(name, err)
		if err != nil {
			s.cfg.progress("%s: %v", name, err)
		} else {
			s.cfg.progress("%s", name)
		}
	}
}

func (s *soaker) action(ctx context.Context, name string) error {
	actx, cancel := context.WithTimeout(ctx, stopTimeout+startTimeout)
	defer cancel()
	admin := client.New(s.sup.url(), 1)
	switch name {
	case "reload ppocr-cls":
		return admin.Load(actx, "ppocr-cls", nil)
	case "reload student-success":
		return admin.Load(actx, "student-success", nil)
	case "rollout start":
		st, err := admin.RolloutStatus(actx, "student-success")
		if err != nil {
			return err
		}
		canary := int64(2)
		if st.Traffic.Stable == 2 {
			canary = 1
		}
		return admin.StartRollout(actx, "student-success", canary)
	case "rollout promote", "rollout abort":
		return admin.RolloutAction(actx, "student-success", name[len("rollout "):])
	case "restart":
		return s.sup.restart(actx)
	}
	return nil
}

// sample reads the server's memory and goroutines every cfg.SampleEvery.
func (s *soaker) sample(ctx context.Context, start time.Time) {
	tick := time.NewTicker(s.cfg.SampleEvery)
	defer tick.Stop()
	scrapes := client.New(s.sup.url(), 1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		text, err := scrapes.Metrics(sctx)
		cancel()
		if err != nil {
			continue // down for a restart
		}
		m := client.SumMetrics(text)
		s.rep.sampled(Sample{At: time.Since(start), Incarnation: s.sup.incarnations(), RSS: int64(m["process_resident_memory_bytes"]), Goroutines: int64(m["go_goroutines"])})
	}
}
